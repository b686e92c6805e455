-- The view analysts, dbt and the dashboards read: every score with its transaction's
-- label. `update scoring.predictions set true_value = ..., label_note = ...` works: the
-- INSTEAD OF trigger scoring.write_label (scoring/write_label.sql) applies it to the
-- transaction's one label, stamps it and audits it. PostgreSQL drops the join when no
-- label column is read, so the view costs nothing to queries of scores alone.

create view scoring.predictions as
select
    s.prediction_id,
    s.transaction_id,
    s.model_version,
    s.feature_set_version,
    s.is_shadow,
    s.score,
    s.threshold,
    s.is_alert,
    s.scored_at,
    s.latency_ms,
    l.true_value,
    l.labeled_at,
    l.labeled_by,
    l.label_note
from scoring.scores as s
left join scoring.labels as l using (transaction_id);

comment on view scoring.predictions is
    'Every score with its transaction''s label. Analysts set true_value and label_note here '
    '(one label per transaction; stamped and audited by scoring.write_label).';

-- analyst: reads predictions and writes a label only through the view's two label
-- columns (scoring.write_label stamps and audits).
grant select on scoring.predictions to pgfraud_scorer, pgfraud_analyst;
grant update (true_value, label_note) on scoring.predictions to pgfraud_analyst;
