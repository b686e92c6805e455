with

source as (

    select * from {{ source('ingest', 'quarantine') }}

),

renamed as (

    select
        quarantine_id,
        reason,
        source,
        quarantined_at

    from source

)

select * from renamed
