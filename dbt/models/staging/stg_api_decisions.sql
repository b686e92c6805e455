with

source as (

    select * from {{ source('api', 'decisions') }}

),

renamed as (

    select
        transaction_id,
        client_id,
        decision,
        model_version,
        score,
        reasons,
        is_fallback,
        fallback_reason,
        latency_ms,
        decided_at

    from source

)

select * from renamed
