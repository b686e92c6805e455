-- Queries `pgfraud demo` runs for its progress line and closing summary.

-- name: counts
-- Totals to report live progress against (the owner reads everything).
select (select count(*) from ingest.transactions) as transactions,
       (select count(*) from scoring.predictions where not is_shadow) as scored,
       (select count(*) from scoring.alerts) as alerts,
       (select count(*) from scoring.labels where true_value is not null) as labelled;

-- name: event_clock
-- The newest transaction's event time, where the live stream carries on from.
select max_transacted_at from ingest.event_clock;

-- name: summary
-- The champion's decisions against each transaction's current label, and the latency
-- of what was scored since %(since)s.
with

champion as (

    select is_alert, latency_ms, scored_at, true_value as is_fraud
    from scoring.predictions
    where not is_shadow

)

select
    (select count(*) from ingest.transactions) as transactions,
    (select count(*) from ingest.quarantine) as quarantined,
    count(*) as scored,
    count(*) filter (where is_alert) as alerts,
    count(is_fraud) as labelled,
    count(*) filter (where is_alert and is_fraud) as true_positives,
    count(*) filter (where is_alert and not is_fraud) as false_positives,
    count(*) filter (where not is_alert and is_fraud) as false_negatives,
    count(*) filter (where scored_at >= %(since)s) as live_scored,
    percentile_cont(0.5) within group (order by latency_ms)
        filter (where scored_at >= %(since)s) as live_latency_p50_ms,
    percentile_cont(0.99) within group (order by latency_ms)
        filter (where scored_at >= %(since)s) as live_latency_p99_ms
from champion;

-- name: scorer_listening
-- A scorer is up once its listener has subscribed to new models (its last statement, as
-- scorer/scoring.py composes it: the channel a quoted identifier).
select count(*) from pg_stat_activity
where datname = current_database() and query = 'listen "pgfraud_models"';
