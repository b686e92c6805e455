-- API decisions per minute of wall-clock time (decided_at, UTC): what was answered, how
-- often the configured fallback answered and why, and the server-side latency
-- percentiles (request received to decision, as the API measures it). A fallback's
-- answer is counted under its decision too: approvals + reviews + declines = decisions.
-- Incremental: the newest lookback_minutes minutes are recomputed on every run.

{{ config(
    materialized='incremental',
    unique_key='minute_at',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

with

decisions as (

    select * from {{ ref('stg_api_decisions') }}
    {% if is_incremental() %}
      -- An empty table (built before the API answered anything) has no max: then take
      -- everything.
      where decided_at >= coalesce(
          (select max(minute_at) - interval '{{ var("lookback_minutes") }} minutes'
           from {{ this }}),
          '-infinity')
    {% endif %}

),

final as (

    select
        date_trunc('minute', decided_at, 'UTC') as minute_at,
        count(*) as decisions,
        count(*) filter (where decision = 'approve') as approvals,
        count(*) filter (where decision = 'review') as reviews,
        count(*) filter (where decision = 'decline') as declines,
        count(*) filter (where is_fallback) as fallbacks,
        count(*) filter (where fallback_reason = 'deadline') as fallbacks_deadline,
        count(*) filter (where fallback_reason = 'no_champion') as fallbacks_no_champion,
        count(*) filter (where fallback_reason = 'error') as fallbacks_error,
        percentile_cont(0.50) within group (order by latency_ms) as latency_p50_ms,
        percentile_cont(0.95) within group (order by latency_ms) as latency_p95_ms,
        percentile_cont(0.99) within group (order by latency_ms) as latency_p99_ms,
        max(latency_ms) as latency_max_ms

    from decisions
    group by 1

)

select * from final
