-- The model registry: every registered model with everything needed to replay a
-- decision. Models are added only by ml.register_model (ml/register_model.sql) and change
-- status only through ml.promote / shadow / retire / rollback (ml/model_status.sql);
-- every status change is recorded in ml.model_events.

create table ml.models (
    model_version           integer generated always as identity primary key,
    status                  text not null default 'candidate',
    algorithm               text not null default 'lightgbm',
    onnx_model              bytea not null,
    onnx_sha256             text not null,
    feature_names           text[] not null,
    feature_set_version     integer not null,
    threshold               double precision not null,
    trained_from            timestamptz,             -- training window, event time
    trained_to              timestamptz,
    label_cutoff_at         timestamptz,             -- labels with labeled_at <= this were used
    metrics                 jsonb not null default '{}',
    reference_distributions jsonb not null default '{}',  -- feature and score bins, for drift
    note                    text,
    created_at              timestamptz not null default now(),
    promoted_at             timestamptz,
    training_run_id         bigint,                  -- foreign key in ml/training_runs.sql
    feature_importance      jsonb not null default '{}',
    -- The same model as LightGBM text: reason codes (per-feature contributions) for alerts.
    lightgbm_model          text,

    constraint models_status_check
        check (status in ('candidate', 'champion', 'shadow', 'retired')),
    constraint models_threshold_check check (threshold between 0 and 1),
    constraint models_onnx_sha256_check
        check (length(onnx_sha256) = 64 and onnx_sha256 !~ '[^0-9a-f]'),
    constraint models_feature_names_check check (cardinality(feature_names) > 0)
);

comment on table ml.models is
    'Registered models: ONNX bytes plus everything needed to replay a decision.';

-- One champion at a time, enforced by the database rather than by convention.
create unique index models_one_champion_idx on ml.models (status) where status = 'champion';

-- scorer: loads the champion and shadows. trainer: reads, registers through
-- ml.register_model, never by INSERT or UPDATE.
grant select on ml.models to pgfraud_scorer, pgfraud_trainer, pgfraud_api;
