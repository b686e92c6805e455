-- Labels with an arrival time, kept as an append-only history.
--
-- Every change of a transaction's label value or note appends a row here (old and new
-- value and note, who, when), written by scoring.write_label. Merchant-risk features,
-- training and retraining comparisons read this history, taking the latest event that had
-- arrived by time t, so a relabel never rewrites what an earlier transaction could have
-- known. labeled_at is the change's arrival on the event clock: never earlier than the
-- latest event time already ingested (ingest.event_clock), so a label cannot arrive
-- "before" a transaction whose features were already computed, and a backfill sees
-- exactly what ingest saw.

create table scoring.label_events (
    label_event_id  bigint generated always as identity primary key,
    transaction_id  bigint not null references ingest.transactions (transaction_id),
    merchant        text not null,            -- copied from the transaction, for merchant risk
    transacted_at   timestamptz not null,     -- copied from the transaction
    old_value       boolean,
    new_value       boolean,
    labeled_at      timestamptz not null,
    labeled_by      text not null,
    label_note      text,
    old_note        text,
    recorded_by     text not null default session_user
);

comment on table scoring.label_events is
    'Append-only history of labels (true_value changes) with their arrival time.';
comment on column scoring.label_events.labeled_at is
    'When this change arrived (event clock at the earliest).';
comment on column scoring.label_events.labeled_by is
    'Who made this change: the session user, or the author an owner session named '
    '(simulated analysts, replays).';
comment on column scoring.label_events.recorded_by is
    'The session user that wrote this change, always.';

-- Merchant label counts (features.compute_range, features.compute_batch) read a
-- merchant's events of a 30-day window: covering, so they read the index only.
create index label_events_merchant_transacted_at_idx
    on scoring.label_events (merchant, transacted_at)
    include (transaction_id, labeled_at, label_event_id, new_value);
create index label_events_transaction_id_idx on scoring.label_events (transaction_id);

-- Nobody but the owner writes label_events (scoring.write_label runs as the owner); the
-- table is append-only by grants: no role gets INSERT, UPDATE or DELETE on it.
grant select on scoring.label_events to pgfraud_scorer, pgfraud_analyst, pgfraud_trainer;
