with

source as (

    select * from {{ source('ml', 'models') }}

),

renamed as (

    select
        model_version,
        status,
        algorithm,
        feature_set_version,
        threshold,
        (metrics -> 'validation' ->> 'roc_auc')::float8 as validation_roc_auc,
        (metrics -> 'validation' ->> 'average_precision')::float8
            as validation_average_precision,
        trained_from,
        trained_to,
        label_cutoff_at,
        reference_distributions,
        created_at,
        promoted_at

    from source

)

select * from renamed
