-- Rejected input, with the reason: the producer's own rejections, conflicting re-sends and
-- the rows the database refuses (ingest.accept_batch). Written only by accept_batch.

create table ingest.quarantine (
    quarantine_id   bigint generated always as identity primary key,
    trans_num       text,                            -- when the input had one
    reason          text not null,                   -- machine-readable, e.g. bad_card_number, conflict
    detail          text,                            -- human-readable explanation
    raw_payload     jsonb not null,                  -- the input as received, card number masked
    raw_sha256      text not null,                   -- hash of source, reason and payload: a re-sent bad row is kept once
    source          text not null,
    quarantined_at  timestamptz not null default now(),

    constraint quarantine_raw_sha256_key unique (raw_sha256),
    constraint quarantine_reason_check check (reason ~ '^[a-z][a-z0-9_]*$'),
    constraint quarantine_source_check check (source in ('stream', 'csv', 'replay', 'api'))
);

comment on table ingest.quarantine is
    'Rejected input with the reason; the stream never stops for bad rows.';

create index quarantine_reason_quarantined_at_idx on ingest.quarantine (reason, quarantined_at);

-- api: why the database refused a request's row (the 422 it answers).
grant select (trans_num, reason, detail, source, quarantined_at) on ingest.quarantine
    to pgfraud_api;
