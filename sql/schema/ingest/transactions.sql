-- Accepted card transactions.
--
-- No raw card number is ever stored: the producer replaces it with
-- card_token = hex(HMAC-SHA256(key, PAN)) and card_last4 before a row leaves its process.
-- Format checks use length plus a negated character class: a bounded repetition such as
-- '^[0-9a-f]{64}$' costs ~6 us per row per check here, which halved ingest throughput.
--
-- Rows arrive only through ingest.accept_batch (ingest/accept_batch.sql). Statement
-- triggers on insert take the ingest lock and compute the new rows' features
-- (features/ingest_triggers.sql) and enqueue them for scoring (scoring/pending.sql).

create table ingest.transactions (
    transaction_id          bigint generated always as identity primary key,
    trans_num               text not null,            -- idempotency key from the source
    transacted_at           timestamptz not null,     -- event time
    card_token              text not null,
    card_last4              text not null,
    amount                  numeric(12, 2) not null,
    merchant                text not null,
    category                text not null,
    merchant_lat            double precision not null,
    merchant_long           double precision not null,
    home_lat                double precision,         -- cardholder's home, as known at the time
    home_long               double precision,
    city_pop                integer,
    cardholder_birth_date   date,
    payload_sha256          text not null,            -- hash of the accepted payload: detects conflicting re-sends
    source                  text not null,            -- stream | csv | replay | api
    ingested_at             timestamptz not null default now(),

    constraint transactions_trans_num_key unique (trans_num),
    constraint transactions_card_token_check
        check (length(card_token) = 64 and card_token !~ '[^0-9a-f]'),
    constraint transactions_card_last4_check
        check (length(card_last4) = 4 and card_last4 !~ '[^0-9]'),
    constraint transactions_amount_check check (amount >= 0),
    constraint transactions_merchant_lat_check check (merchant_lat between -90 and 90),
    constraint transactions_merchant_long_check check (merchant_long between -180 and 180),
    constraint transactions_home_lat_check check (home_lat between -90 and 90),
    constraint transactions_home_long_check check (home_long between -180 and 180),
    constraint transactions_payload_sha256_check
        check (length(payload_sha256) = 64 and payload_sha256 !~ '[^0-9a-f]'),
    constraint transactions_source_check check (source in ('stream', 'csv', 'replay', 'api'))
);

comment on table ingest.transactions is
    'Accepted card transactions. card_token is HMAC-SHA256 of the PAN; the PAN itself is never stored.';

-- Card history in event time: the access path of every card velocity feature.
create index transactions_card_token_transacted_at_idx
    on ingest.transactions (card_token, transacted_at, transaction_id);
-- No index by merchant: merchant label counts read scoring.label_events (its own merchant
-- index), and an unread index costs every insert (revision 0018).

-- Feature queries read the last 30 days through index-only scans; vacuum the append-only
-- table often enough that its visibility map stays current (the default waits for 20 %
-- growth, leaving recent pages to heap fetches).
alter table ingest.transactions set (
    autovacuum_vacuum_insert_threshold = 20000,
    autovacuum_vacuum_insert_scale_factor = 0.01
);

-- scorer: reads transactions. Analysts label by trans_num too (a chargeback file names
-- it): they may map it to the transaction id, and see nothing else of the transaction.
-- The producer inserts only through ingest.accept_batch.
grant select on ingest.transactions to pgfraud_scorer, pgfraud_api;
grant select (transaction_id, trans_num) on ingest.transactions to pgfraud_analyst;
