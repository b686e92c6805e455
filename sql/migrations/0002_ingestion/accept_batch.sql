-- Idempotent, conflict-aware ingestion of COPY batches. Applied by migration 0002.
--
-- A producer COPYs a batch into ingest.staged_transactions (valid rows) and
-- ingest.staged_quarantine (rejected rows) under a fresh batch_id, then calls
-- ingest.accept_batch(batch_id) in the same transaction. The function moves the batch
-- into ingest.transactions; trans_num is the idempotency key:
--   * a new trans_num is stored;
--   * the same trans_num with the same payload (a re-send) is skipped;
--   * the same trans_num with a different payload is quarantined as 'conflict' and never
--     overwrites the stored row.
-- Quarantine rows are kept once per raw_sha256, so replaying a file adds nothing.
-- Only rows whose payload matches the stored one pass their ground truth on to
-- truth.fraud_transactions. The producer role needs no SELECT anywhere: the function runs
-- as its owner (security definer) with a fixed search_path.

create unlogged table ingest.staged_transactions (
    batch_id                uuid not null,
    ordinal                 integer not null,      -- position in the batch
    trans_num               text not null,
    transacted_at           timestamptz not null,
    card_token              text not null,
    card_last4              text not null,
    amount                  numeric(12, 2) not null,
    merchant                text not null,
    category                text not null,
    merchant_lat            double precision not null,
    merchant_long           double precision not null,
    home_lat                double precision,
    home_long               double precision,
    city_pop                integer,
    cardholder_birth_date   date,
    payload_sha256          text not null,
    source                  text not null,
    is_fraud                boolean not null default false,  -- ground truth, routed to truth.*
    fraud_scenario          text,
    incident_id             text
);

comment on table ingest.staged_transactions is
    'Transient COPY target; rows live only inside the producer transaction that calls ingest.accept_batch.';

create index staged_transactions_batch_id_idx on ingest.staged_transactions (batch_id);

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

create function ingest.accept_batch(
    p_batch_id uuid,
    out accepted bigint,
    out duplicates bigint,
    out conflicts bigint,
    out quarantined bigint
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    staged bigint;
begin
    -- Event-time order keeps transaction_id close to event order within a batch.
    insert into ingest.transactions (
        trans_num, transacted_at, card_token, card_last4, amount, merchant, category,
        merchant_lat, merchant_long, home_lat, home_long, city_pop, cardholder_birth_date,
        payload_sha256, source
    )
    select
        trans_num, transacted_at, card_token, card_last4, amount, merchant, category,
        merchant_lat, merchant_long, home_lat, home_long, city_pop, cardholder_birth_date,
        payload_sha256, source
    from ingest.staged_transactions
    where batch_id = p_batch_id
    order by transacted_at, ordinal
    on conflict (trans_num) do nothing;
    get diagnostics accepted = row_count;

    -- A new statement sees what concurrent producers committed meanwhile (ON CONFLICT
    -- waited for them), so every staged row now has a stored row under its trans_num:
    -- itself, an identical re-send, or a conflicting payload.
    -- Conflicts are counted per staged row, stored once per distinct payload.
    with conflicting as (
        select
            staged_row.trans_num,
            format('trans_num already stored as transaction %s with a different payload; kept the stored row',
                   stored.transaction_id) as detail,
            to_jsonb(staged_row) - 'batch_id' - 'ordinal' - 'is_fraud' - 'fraud_scenario'
                - 'incident_id' as raw_payload,
            staged_row.source
        from ingest.staged_transactions as staged_row
        join ingest.transactions as stored using (trans_num)
        where staged_row.batch_id = p_batch_id
          and staged_row.payload_sha256 <> stored.payload_sha256
    ),
    stored_conflicts as (
        insert into ingest.quarantine (trans_num, reason, detail, raw_payload, raw_sha256, source)
        select trans_num, 'conflict', detail, raw_payload,
               encode(sha256(convert_to(source || ':conflict:' || raw_payload::text, 'UTF8')), 'hex'),
               source
        from conflicting
        on conflict (raw_sha256) do nothing
    )
    select count(*) into conflicts from conflicting;

    insert into truth.fraud_transactions (trans_num, scenario, incident_id)
    select staged_row.trans_num, staged_row.fraud_scenario, staged_row.incident_id
    from ingest.staged_transactions as staged_row
    join ingest.transactions as stored using (trans_num)
    where staged_row.batch_id = p_batch_id
      and staged_row.is_fraud
      and staged_row.payload_sha256 = stored.payload_sha256
    on conflict (trans_num) do nothing;

    insert into ingest.quarantine (trans_num, reason, detail, raw_payload, raw_sha256, source)
    select trans_num, reason, detail, raw_payload, raw_sha256, source
    from ingest.staged_quarantine
    where batch_id = p_batch_id
    on conflict (raw_sha256) do nothing;
    get diagnostics quarantined = row_count;

    delete from ingest.staged_quarantine where batch_id = p_batch_id;
    delete from ingest.staged_transactions where batch_id = p_batch_id;
    get diagnostics staged = row_count;
    duplicates := staged - accepted - conflicts;
end;
$$;

comment on function ingest.accept_batch(uuid) is
    'Move one staged COPY batch into ingest.transactions and ingest.quarantine: new rows stored, re-sends skipped, conflicts quarantined.';

revoke all on function ingest.accept_batch(uuid) from public;
