-- Fraudulent transactions according to the source (the simulator, or a historical file's
-- is_fraud column), passed on by ingest.accept_batch for stored rows only. A transaction
-- absent from truth.fraud_transactions is legitimate. Nothing on the scoring path reads
-- it (01_schemas.sql).

create table truth.fraud_transactions (
    trans_num       text primary key,             -- ingest.transactions.trans_num
    scenario        text,                         -- card_testing | account_takeover | compromised_merchant; NULL when the source does not say
    incident_id     text,                         -- truth.fraud_incidents.incident_id
    recorded_at     timestamptz not null default now(),

    constraint fraud_transactions_scenario_check
        check (scenario in ('card_testing', 'account_takeover', 'compromised_merchant'))
);

comment on table truth.fraud_transactions is
    'Fraudulent transactions according to the source. Absent means legitimate.';
