-- What models said: one row per (transaction, model), written by the scorer, never
-- updated. Labels live apart, one per transaction (scoring/labels.sql); analysts and
-- dashboards read both joined, as scoring.predictions (scoring/predictions.sql).

create table scoring.scores (
    prediction_id       bigint generated always as identity primary key,
    transaction_id      bigint not null references ingest.transactions (transaction_id),
    model_version       integer not null references ml.models (model_version),
    feature_set_version integer not null,
    is_shadow           boolean not null default false,  -- shadow models never decide
    score               double precision not null,
    threshold           double precision not null,
    is_alert            boolean not null,                -- the decision: score >= threshold
    scored_at           timestamptz not null default now(),
    latency_ms          double precision,                -- ingest commit to prediction commit

    constraint scores_transaction_model_key unique (transaction_id, model_version),
    constraint scores_score_check check (score between 0 and 1),
    constraint scores_threshold_check check (threshold between 0 and 1),
    constraint scores_latency_ms_check check (latency_ms >= 0)
);

comment on table scoring.scores is
    'One row per (transaction, model): score and decision. Written by the scorer, never updated.';

create index scores_scored_at_idx on scoring.scores (scored_at);

-- scorer: inserts the columns a model decides, nothing about labels or times it does not
-- measure.
grant select on scoring.scores to pgfraud_scorer, pgfraud_api;
grant insert (transaction_id, model_version, feature_set_version, is_shadow, score,
              threshold, is_alert, latency_ms)
    on scoring.scores to pgfraud_scorer, pgfraud_api;
