-- The fraud incidents the simulator injects (producer/fraud.py); each fraudulent
-- transaction names its incident in truth.fraud_transactions.

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

-- producer: the simulator records the incidents it injects.
grant insert on truth.fraud_incidents to pgfraud_producer;
