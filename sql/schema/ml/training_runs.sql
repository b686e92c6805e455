-- Training runs: every `pgfraud train` run that got as far as a model, with its window,
-- data, parameters and outcome. A registered run names its model, and the model points
-- back at its run (ml.link_training_run).

create table ml.training_runs (
    training_run_id         bigint generated always as identity primary key,
    mode                    text not null,            -- labels | bootstrap
    outcome                 text not null,            -- registered | parity_failed
    model_version           integer,                  -- set when outcome = registered
    label_cutoff_at         timestamptz,
    train_from              timestamptz,
    train_to                timestamptz,
    validation_from         timestamptz,
    validation_to           timestamptz,
    train_rows              integer,
    train_positives         integer,
    validation_rows         integer,
    validation_positives    integer,
    params                  jsonb not null default '{}',
    detail                  jsonb not null default '{}',
    seconds                 double precision,
    created_at              timestamptz not null default now(),
    created_by              text not null default session_user,

    constraint training_runs_mode_check check (mode in ('labels', 'bootstrap')),
    constraint training_runs_outcome_check check (outcome in ('registered', 'parity_failed')),
    constraint training_runs_registered_check
        check ((outcome = 'registered') = (model_version is not null)),
    constraint training_runs_model_version_fkey
        foreign key (model_version) references ml.models (model_version)
);

comment on table ml.training_runs is
    'Every pgfraud train run that got as far as a model: its window, data, parameters and outcome.';

-- The run that trained a model (set once, by ml.link_training_run).
alter table ml.models
    add constraint models_training_run_id_fkey
    foreign key (training_run_id) references ml.training_runs (training_run_id);

-- trainer: records its runs.
grant select, insert on ml.training_runs to pgfraud_trainer;
