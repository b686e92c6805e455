-- The evidence a challenger is judged on: its own live shadow scores next to the
-- champion's, for the same transactions. Applied by migration 0008.
--
-- Security definer: the trainer decides promotions but reads no prediction or label
-- table itself (README, role table); these two functions are all it sees of them.
--
-- Only transactions after the challenger's training and validation data count: a backlog
-- scored late can reach back into the rows the model was fitted, stopped and calibrated
-- on, and those flatter it.

create function ml.evidence_start(p_model integer) returns timestamptz
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(r.validation_to, m.trained_to, '-infinity')
    from ml.models as m
    left join ml.training_runs as r on r.training_run_id = m.training_run_id
    where m.model_version = p_model;
$$;

comment on function ml.evidence_start(integer) is
    'Event time after which a model''s live scores count as evidence: the end of its '
    'validation window.';

-- Event time of a challenger's first shadow score that counts as evidence: the start of
-- its shadow period.
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
