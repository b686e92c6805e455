-- The COPY target of the rows a producer rejected itself, moved into ingest.quarantine by
-- ingest.accept_batch in the same transaction (ingest/accept_batch.sql).

create unlogged table ingest.staged_quarantine (
    batch_id        uuid not null,
    trans_num       text,
    reason          text not null,
    detail          text,
    raw_payload     jsonb not null,
    raw_sha256      text not null,
    source          text not null
);

comment on table ingest.staged_quarantine is
    'Transient COPY target for rejected rows; emptied by ingest.accept_batch.';

create index staged_quarantine_batch_id_idx on ingest.staged_quarantine (batch_id);

grant insert on ingest.staged_quarantine to pgfraud_producer, pgfraud_api;
