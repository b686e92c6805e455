with

source as (

    select * from {{ source('ml', 'retrain_decisions') }}

),

renamed as (

    select
        retrain_decision_id,
        decided_at,
        decided_by,
        trigger_reason,
        outcome,
        rule,
        detail,
        champion_version,
        challenger_version,
        evaluated_rows,
        evaluated_positives,
        (evidence -> 'comparison' ->> 'difference')::float8 as ap_difference,
        (evidence -> 'comparison' ->> 'lower')::float8 as ap_difference_lower_bound

    from source

)

select * from renamed
