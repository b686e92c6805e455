with

source as (

    select * from {{ source('ingest', 'event_clock') }}

),

renamed as (

    select max_transacted_at as event_clock_at

    from source

)

select * from renamed
