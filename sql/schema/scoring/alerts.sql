-- Alerts: champion decisions above threshold, with reason codes.

create table scoring.alerts (
    alert_id        bigint generated always as identity primary key,
    transaction_id  bigint not null unique references ingest.transactions (transaction_id),
    model_version   integer not null references ml.models (model_version),
    score           double precision not null,
    threshold       double precision not null,
    card_last4      text not null,
    amount          numeric(12, 2) not null,
    merchant        text not null,
    category        text not null,
    transacted_at   timestamptz not null,
    -- Top features by contribution to this score (LightGBM SHAP values, log-odds):
    -- [{"feature": "...", "value": ..., "contribution": ...}, ...], largest first.
    reasons         jsonb not null default '[]',
    created_at      timestamptz not null default now(),

    constraint alerts_score_check check (score between 0 and 1 and score >= threshold)
);

comment on table scoring.alerts is
    'Champion decisions above threshold, one per transaction, with reason codes; '
    'also sent as NOTIFY fraud_alert.';

create index alerts_created_at_idx on scoring.alerts (created_at);

-- An alert as the JSON that NOTIFY fraud_alert carries and `pgfraud alerts tail` prints.
create function scoring.alert_json(alert scoring.alerts) returns json
language sql
stable
as $$
    select json_build_object(
        'alert_id', alert.alert_id, 'transaction_id', alert.transaction_id,
        'card_last4', alert.card_last4, 'amount', alert.amount, 'merchant', alert.merchant,
        'category', alert.category, 'transacted_at', alert.transacted_at,
        'score', alert.score, 'threshold', alert.threshold,
        'model_version', alert.model_version, 'reasons', alert.reasons)
$$;

revoke all on function scoring.alert_json(scoring.alerts) from public;
grant execute on function scoring.alert_json(scoring.alerts) to pgfraud_scorer, pgfraud_analyst,
    pgfraud_api;

-- scorer: inserts alerts (every column but alert_id and created_at, which the database
-- sets) and reads them; analyst: reads them (and the review queue,
-- scoring/review_queue.sql).
grant select on scoring.alerts to pgfraud_scorer, pgfraud_analyst, pgfraud_api;
grant insert (transaction_id, model_version, score, threshold, card_last4, amount, merchant,
              category, transacted_at, reasons)
    on scoring.alerts to pgfraud_scorer, pgfraud_api;
