-- Event time of a challenger's first shadow score that counts as evidence (after
-- ml.evidence_start): the start of its shadow period (docs/models.md, "Promotion on
-- evidence").
--
-- Security definer: the trainer decides promotions but reads no prediction or label
-- table itself (README, role table); this function and ml.paired_live_scores are all it
-- sees of them.

create function ml.shadow_since(p_challenger integer) returns timestamptz
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select min(t.transacted_at)
    from scoring.scores as s
    join ingest.transactions as t using (transaction_id)
    where s.model_version = p_challenger and s.is_shadow
      and t.transacted_at > ml.evidence_start(p_challenger);
$$;

comment on function ml.shadow_since(integer) is
    'Event time of the first transaction a challenger scored in shadow after its own data.';

revoke all on function ml.shadow_since(integer) from public;
grant execute on function ml.shadow_since(integer) to pgfraud_trainer;
