-- The COPY target of a producer's batch: rows it validated and tokenized, under a fresh
-- batch_id, moved into ingest.transactions by ingest.accept_batch in the same transaction
-- (ingest/accept_batch.sql). Unlogged: a row lives only inside that transaction.

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
    incident_id             text,
    refusal                 text                   -- why accept_batch refused the row
);

comment on table ingest.staged_transactions is
    'Transient COPY target; rows live only inside the producer transaction that calls ingest.accept_batch.';

-- accept_batch reads a batch, and finds its refused rows, by (batch_id, ordinal).
create index staged_transactions_batch_ordinal_idx
    on ingest.staged_transactions (batch_id, ordinal);

-- producer: stages every column but refusal, which only accept_batch sets.
grant insert (batch_id, ordinal, trans_num, transacted_at, card_token, card_last4, amount,
              merchant, category, merchant_lat, merchant_long, home_lat, home_long,
              city_pop, cardholder_birth_date, payload_sha256, source, is_fraud,
              fraud_scenario, incident_id)
    on ingest.staged_transactions to pgfraud_producer, pgfraud_api;
