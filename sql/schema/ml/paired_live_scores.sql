-- The evidence a challenger is judged on: its own live shadow scores next to the
-- champion's, for the same transactions (docs/models.md, "Promotion on evidence").
--
-- Security definer: the trainer decides promotions but reads no prediction or label
-- table itself (README, role table); this function and ml.shadow_since are all it sees
-- of them. Only transactions after the challenger's validation window count
-- (ml/evidence_start.sql).

-- The challenger's shadow score and the champion's score of the same transactions, with
-- the label known by p_cutoff, for transactions at or before p_matured_to (old enough
-- for their labels to have arrived). The champion's score is its own whether it was
-- champion or shadow at the time: a model scores a row the same either way.
create function ml.paired_live_scores(p_champion integer, p_challenger integer,
                                      p_cutoff timestamptz, p_matured_to timestamptz)
returns table (transaction_id bigint, champion_score double precision,
               challenger_score double precision, is_fraud boolean)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select s.transaction_id, c.score, s.score, l.true_value
    from scoring.scores as s
    join scoring.scores as c
      on c.transaction_id = s.transaction_id and c.model_version = p_champion
    join scoring.labels as l on l.transaction_id = s.transaction_id
    join ingest.transactions as t on t.transaction_id = s.transaction_id
    where s.model_version = p_challenger and s.is_shadow
      and l.true_value is not null and l.labeled_at <= p_cutoff
      and t.transacted_at <= p_matured_to
      and t.transacted_at > ml.evidence_start(p_challenger)
    order by s.transaction_id;
$$;

comment on function ml.paired_live_scores(integer, integer, timestamptz, timestamptz) is
    'Champion and challenger live scores of the same transactions with matured labels.';

revoke all on function ml.paired_live_scores(integer, integer, timestamptz, timestamptz)
    from public;
grant execute on function ml.paired_live_scores(integer, integer, timestamptz, timestamptz)
    to pgfraud_trainer;
