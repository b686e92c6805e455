-- The event clock: the latest event time ingested so far, one row. Ingest advances it
-- (features/ingest_triggers.sql). A label's arrival is stamped no earlier than it
-- (scoring/write_label.sql), so a label cannot arrive "before" a transaction whose
-- features were already computed, and a backfill sees exactly what ingest saw.
-- Changes outside ingest are audited (ingest/event_time_policy.sql).

create table ingest.event_clock (
    is_singleton        boolean primary key default true check (is_singleton),
    max_transacted_at   timestamptz not null default '-infinity'
);
insert into ingest.event_clock default values;

comment on table ingest.event_clock is
    'The latest event time ingested so far; labels are stamped no earlier than this.';

-- trainer: its default label cutoff is the later of the wall clock and this clock.
grant select on ingest.event_clock to pgfraud_trainer;
