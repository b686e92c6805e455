-- Champion scoring per minute of wall-clock time (scored_at, UTC): throughput, alerts
-- and latency percentiles (ingest commit to prediction commit, as the scorer measures
-- it). Incremental: the newest lookback_minutes minutes are recomputed on every run.

{{ config(
    materialized='incremental',
    unique_key='minute_at',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

with

predictions as (

    select * from {{ ref('stg_predictions') }}
    where role = 'champion'
    {% if is_incremental() %}
      -- An empty table (built before anything was scored, as the compose stack's dbt
      -- service does at start) has no max: then take everything.
      and scored_at >= coalesce(
          (select max(minute_at) - interval '{{ var("lookback_minutes") }} minutes'
           from {{ this }}),
          '-infinity')
    {% endif %}

),

final as (

    select
        date_trunc('minute', scored_at, 'UTC') as minute_at,
        count(*) as transactions_scored,
        count(*) filter (where is_alert) as alerts,
        percentile_cont(0.50) within group (order by latency_ms) as latency_p50_ms,
        percentile_cont(0.95) within group (order by latency_ms) as latency_p95_ms,
        percentile_cont(0.99) within group (order by latency_ms) as latency_p99_ms,
        max(latency_ms) as latency_max_ms

    from predictions
    group by 1

)

select * from final
