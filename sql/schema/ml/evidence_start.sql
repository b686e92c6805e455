-- The evidence a challenger is judged on starts after its own data: only transactions
-- after the challenger's training and validation data count. A backlog scored late can
-- reach back into the rows the model was fitted, stopped and calibrated on, and those
-- flatter it. Used by ml.shadow_since and ml.paired_live_scores.

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

revoke all on function ml.evidence_start(integer) from public;
