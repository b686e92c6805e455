-- When the marts were built and how far the data they read reached: event_clock_at is
-- the newest transaction's event time at build. The report compares it with the live
-- ingest.event_clock to say when the marts are behind (docs/dashboards.md).

with

event_clock as (

    select * from {{ ref('stg_event_clock') }}

),

final as (

    select
        1 as freshness_id,
        now() as built_at,
        event_clock_at

    from event_clock

)

select * from final
