-- Ground truth known to the data source: the simulator's injected fraud, or a historical
-- file's is_fraud column. Applied by migration 0002.
--
-- Nothing on the scoring path may read this schema: not the scorer, not feature SQL, not
-- the trainer. It exists to simulate analysts (who reveal labels after a delay into
-- scoring.predictions.true_value) and to evaluate. A transaction absent from
-- truth.fraud_transactions is legitimate.

create schema truth;
comment on schema truth is
    'Source ground truth (simulated or historical). Never read by scorer, features or trainer.';

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

create table truth.fraud_incidents (
    incident_id     text primary key,
    scenario        text not null,
    card_token      text,                         -- the attacked card, when one card
    merchant        text,                         -- the compromised merchant, for compromised_merchant
    started_at      timestamptz not null,         -- event time the incident began
    detail          jsonb not null default '{}',

    constraint fraud_incidents_scenario_check
        check (scenario in ('card_testing', 'account_takeover', 'compromised_merchant'))
);

comment on table truth.fraud_incidents is
    'Simulated fraud incidents: one attack, one or more fraudulent transactions.';
