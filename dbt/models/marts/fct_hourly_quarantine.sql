-- Rejected input rows per hour (wall clock, UTC), reason and source.

with

quarantine as (

    select * from {{ ref('stg_quarantine') }}

),

final as (

    select
        date_trunc('hour', quarantined_at, 'UTC') as hour_at,
        reason,
        source,
        count(*) as quarantined

    from quarantine
    group by 1, 2, 3

)

select
    hour_at || '/' || reason || '/' || source as quarantine_hour_id,
    *
from final
