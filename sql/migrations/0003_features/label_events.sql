-- Labels with an arrival time, kept as an append-only history. Applied by migration 0003.
--
-- Every change of scoring.predictions.true_value appends a row here (old and new value,
-- who, when). Merchant-risk features read this history, so a relabel never rewrites what
-- an earlier transaction could have known. labeled_at is the label's arrival on the event
-- clock: never earlier than the latest event time already ingested
-- (ingest.event_clock), so a label cannot arrive "before" a transaction whose features
-- were already computed, and a backfill sees exactly what ingest saw.

create table ingest.event_clock (
    is_singleton        boolean primary key default true check (is_singleton),
    max_transacted_at   timestamptz not null default '-infinity'
);
insert into ingest.event_clock default values;

comment on table ingest.event_clock is
    'The latest event time ingested so far; labels are stamped no earlier than this.';

create table scoring.label_events (
    label_event_id  bigint generated always as identity primary key,
    transaction_id  bigint not null references ingest.transactions (transaction_id),
    merchant        text not null,            -- copied from the transaction, for merchant risk
    transacted_at   timestamptz not null,     -- copied from the transaction
    old_value       boolean,
    new_value       boolean,
    labeled_at      timestamptz not null,
    labeled_by      text not null,
    label_note      text
);

comment on table scoring.label_events is
    'Append-only history of labels (true_value changes) with their arrival time.';

create index label_events_merchant_transacted_at_idx
    on scoring.label_events (merchant, transacted_at);
create index label_events_transaction_id_idx on scoring.label_events (transaction_id);

-- Replaces migration 0001's version: labeled_at now also respects the event clock, and
-- label changes serialise with ingest batches (the same advisory lock).
create or replace function scoring.stamp_label() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    clock timestamptz;
begin
    perform features.lock_ingest();
    select max_transacted_at into clock from ingest.event_clock;
    if new.labeled_at is not distinct from old.labeled_at then
        new.labeled_at := now();
    end if;
    new.labeled_at := greatest(new.labeled_at, clock);
    if new.labeled_by is not distinct from old.labeled_by then
        new.labeled_by := session_user;
    end if;
    return new;
end;
$$;

create function scoring.record_label_event() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into scoring.label_events (transaction_id, merchant, transacted_at, old_value,
                                      new_value, labeled_at, labeled_by, label_note)
    select new.transaction_id, t.merchant, t.transacted_at, old.true_value, new.true_value,
           new.labeled_at, new.labeled_by, new.label_note
    from ingest.transactions as t
    where t.transaction_id = new.transaction_id;
    return null;
end;
$$;

create trigger predictions_record_label_event
    after update of true_value on scoring.predictions
    for each row
    when (old.true_value is distinct from new.true_value)
    execute function scoring.record_label_event();
