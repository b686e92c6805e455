with

source as (

    select * from {{ source('scoring', 'predictions') }}

),

renamed as (

    select
        prediction_id,
        transaction_id,
        model_version,
        feature_set_version,
        case when is_shadow then 'shadow' else 'champion' end as role,
        score,
        threshold,
        is_alert,
        latency_ms,
        scored_at

    from source

)

select * from renamed
