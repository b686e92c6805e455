with

models as (

    select * from {{ ref('stg_models') }}

),

final as (

    select
        model_version,
        status,
        algorithm,
        feature_set_version,
        threshold,
        validation_roc_auc,
        validation_average_precision,
        trained_from,
        trained_to,
        label_cutoff_at,
        created_at,
        promoted_at

    from models

)

select * from final
