-- Queries of the trainer and the model registry (pgfraud/lifecycle/training.py, pgfraud/lifecycle/registry.py).

-- name: model_input_columns
-- The model input view's feature columns, in order (everything but the key columns).
select a.attname::text
from pg_attribute as a
where a.attrelid = 'features.model_input_v1'::regclass
  and a.attnum > 0 and not a.attisdropped
  and a.attname not in ('transaction_id', 'trans_num', 'transacted_at', 'card_token',
                        'feature_set_version')
order by a.attnum;

-- name: no_nested_loops
-- Hash joins for the rest of the training read's transaction (see pgfraud/lifecycle/training.py).
set local enable_nestloop = off;

-- name: default_cutoff
-- "Now" for labels: the wall clock, or the event clock when simulated time runs ahead.
select greatest(now(), (select max_transacted_at from ingest.event_clock));

-- name: model_input_with_labels
-- Model input for an event-time window, with each transaction's label as known at the
-- cutoff (the latest label event that had arrived by then; NULL when none had, or when
-- the label was cleared). Feature columns are appended by the caller, by name.
with labels as (
    select distinct on (transaction_id) transaction_id, new_value
    from scoring.label_events
    where labeled_at <= %(cutoff)s
      and transacted_at >= %(from)s and transacted_at <= %(to)s
    order by transaction_id, labeled_at desc, label_event_id desc
)
select m.transaction_id, m.trans_num, extract(epoch from m.transacted_at)::float8, m.card_token,
       l.new_value {features}
from features.model_input_v1 as m
left join labels as l using (transaction_id)
where m.transacted_at >= %(from)s and m.transacted_at <= %(to)s
order by m.transacted_at, m.transaction_id;

-- name: newest_labelled_at
-- The event time of the newest transaction labelled by the cutoff (at most %(to)s), where
-- a training window ends: its latest label event by then, if it is not a cleared label.
with latest as (
    select distinct on (transaction_id) transacted_at, new_value
    from scoring.label_events
    where labeled_at <= %(cutoff)s and transacted_at <= %(to)s
    order by transaction_id, labeled_at desc, label_event_id desc
)
select max(transacted_at) from latest where new_value is not null;

-- name: register_model
-- Status 'candidate' and the ONNX hash are set by the function, not by the caller.
select ml.register_model(
    p_onnx_model => %(onnx_model)s, p_lightgbm_model => %(lightgbm_model)s,
    p_feature_names => %(feature_names)s, p_feature_set_version => %(feature_set_version)s,
    p_threshold => %(threshold)s, p_trained_from => %(trained_from)s,
    p_trained_to => %(trained_to)s, p_label_cutoff_at => %(label_cutoff_at)s,
    p_metrics => %(metrics)s, p_reference_distributions => %(reference_distributions)s,
    p_feature_importance => %(feature_importance)s, p_note => %(note)s);

-- name: record_training_run
-- One training run, registered model or not (its parity failed); returns its id.
insert into ml.training_runs (mode, outcome, model_version, label_cutoff_at, train_from,
                              train_to, validation_from, validation_to, train_rows,
                              train_positives, validation_rows, validation_positives,
                              params, detail, seconds)
values (%(mode)s, %(outcome)s, %(model_version)s, %(label_cutoff_at)s, %(train_from)s,
        %(train_to)s, %(validation_from)s, %(validation_to)s, %(train_rows)s,
        %(train_positives)s, %(validation_rows)s, %(validation_positives)s,
        %(params)s, %(detail)s, %(seconds)s)
returning training_run_id;

-- name: link_training_run
-- Point the model just registered at the run that produced it.
select ml.link_training_run(%(training_run_id)s);

-- name: list_models
-- Every model with its status and the mode of the run that trained it.
select m.model_version, m.status, m.created_at, m.promoted_at, m.trained_from, m.trained_to,
       m.threshold, m.metrics, r.mode, m.note
from ml.models as m
left join ml.training_runs as r using (training_run_id)
order by m.model_version;

-- name: show_model
-- One model's card: the registry row and its training run.
select m.model_version, m.status, m.algorithm, m.onnx_sha256, length(m.onnx_model) as onnx_size,
       m.feature_names, m.feature_set_version, m.threshold, m.trained_from, m.trained_to,
       m.label_cutoff_at, m.metrics, m.feature_importance, m.note, m.created_at,
       m.promoted_at, r.training_run_id, r.mode, r.validation_from, r.validation_to,
       r.train_rows, r.train_positives, r.validation_rows, r.validation_positives,
       r.params, r.created_by, r.seconds
from ml.models as m
left join ml.training_runs as r using (training_run_id)
where m.model_version = %(version)s;

-- name: model_events
-- The registry's audit trail (one model's, or all), newest first.
select model_event_id, model_version, action, old_status, new_status, at, by
from ml.model_events
where %(version)s::integer is null or model_version = %(version)s
order by model_event_id desc
limit %(limit)s;

-- name: load_model
-- One model, for scoring or evaluation.
select model_version, status, onnx_model, lightgbm_model, feature_names, feature_set_version,
       threshold
from ml.models
where model_version = %(version)s;

-- name: deployed_models
-- What scorers run: the champion and every shadow.
select model_version, status, onnx_model, lightgbm_model, feature_names, feature_set_version,
       threshold
from ml.models
where status in ('champion', 'shadow')
order by status = 'champion' desc, model_version;

-- name: champion
-- The champion's version (none before the first promotion).
select model_version from ml.models where status = 'champion';

-- name: promote
-- Make a model the champion (ml.promote, sql/models/registry.sql); returns the previous
-- champion, now retired.
select ml.promote(%(version)s);

-- name: shadow
-- Score a model in shadow: its predictions are written, flagged, and never decide.
select ml.shadow(%(version)s);

-- name: retire
-- Stop scoring a model (a candidate or shadow; ml.retire refuses the champion).
select ml.retire(%(version)s);

-- name: rollback
-- Return to the champion before the current one (ml.rollback); returns its version.
select ml.rollback();
