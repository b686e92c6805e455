-- Retraining decisions: every `pgfraud retrain` records what it saw and what it did.
-- Applied by migration 0006.

create table ml.retrain_decisions (
    retrain_decision_id     bigint generated always as identity primary key,
    decided_at              timestamptz not null default now(),
    decided_by              text not null default session_user,
    trigger_reason          text not null,            -- new_labels | forced | not_triggered
    new_labels              integer not null,         -- label events since the last training
    min_new_labels          integer not null,
    champion_version        integer references ml.models (model_version),
    challenger_version      integer references ml.models (model_version),
    evaluated_from          timestamptz,              -- matured-label window both were scored on
    evaluated_to            timestamptz,
    evaluated_rows          integer,
    evaluated_positives     integer,
    champion_metrics        jsonb,
    challenger_metrics      jsonb,
    margin                  double precision not null,
    outcome                 text not null,            -- promoted | kept_champion | skipped
    detail                  text,

    constraint retrain_decisions_trigger_check
        check (trigger_reason in ('new_labels', 'forced', 'not_triggered')),
    constraint retrain_decisions_outcome_check
        check (outcome in ('promoted', 'kept_champion', 'skipped'))
);

comment on table ml.retrain_decisions is
    'Each retraining decision with its numbers: trigger, labels, metrics of both models, outcome.';
