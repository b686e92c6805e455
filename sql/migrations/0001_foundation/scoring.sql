-- Predictions with their pending label. Applied by migration 0001.

create table scoring.predictions (
    prediction_id       bigint generated always as identity primary key,
    transaction_id      bigint not null references ingest.transactions (transaction_id),
    model_version       integer not null references ml.models (model_version),
    feature_set_version integer not null,
    is_shadow           boolean not null default false,  -- shadow models never decide
    score               double precision not null,
    threshold           double precision not null,
    is_alert            boolean not null,                -- the decision: score >= threshold
    scored_at           timestamptz not null default now(),
    latency_ms          double precision,                -- ingest commit to prediction commit
    true_value          boolean,                         -- the label: NULL until an analyst sets it
    labeled_at          timestamptz,                     -- when the label arrived (stamped)
    labeled_by          text,                            -- who wrote it (stamped)
    label_note          text,

    constraint predictions_transaction_model_key unique (transaction_id, model_version),
    constraint predictions_score_check check (score between 0 and 1),
    constraint predictions_threshold_check check (threshold between 0 and 1),
    constraint predictions_latency_ms_check check (latency_ms >= 0),
    constraint predictions_label_stamped_check check (true_value is null or labeled_at is not null)
);

comment on table scoring.predictions is
    'One row per (transaction, model). Analysts fill true_value; labeled_at/labeled_by are stamped.';

create index predictions_scored_at_idx on scoring.predictions (scored_at);
create index predictions_labeled_at_idx on scoring.predictions (labeled_at)
    where labeled_at is not null;

-- A label counts only from the moment it was written (architecture invariant 4), so
-- labeled_at and labeled_by are stamped here, not trusted from the client. A privileged
-- session may set labeled_at explicitly (backtest replay writes event time); analysts
-- cannot, having no UPDATE privilege on those columns.
create function scoring.stamp_label() returns trigger
language plpgsql as $$
begin
    if new.labeled_at is not distinct from old.labeled_at then
        new.labeled_at := now();
    end if;
    if new.labeled_by is not distinct from old.labeled_by then
        new.labeled_by := session_user;
    end if;
    return new;
end;
$$;

create trigger predictions_stamp_label
    before update of true_value, label_note on scoring.predictions
    for each row
    when (old.true_value is distinct from new.true_value
          or old.label_note is distinct from new.label_note)
    execute function scoring.stamp_label();
