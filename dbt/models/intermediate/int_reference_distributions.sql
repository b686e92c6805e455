-- One row per model version and feature, and one for its score ('score'): the reference
-- distribution stored when the model was registered (docs/models.md), read as
-- ml.feature_drift reads it (sql/schema/ml/feature_drift.sql). Bin i of a value v is
-- width_bucket(v, edges): the number of edges <= v, 0 .. cardinality(edges); NULL values
-- have bin -1. Its expected share is null_fraction for bin -1, fractions[i] x
-- (1 - null_fraction) for the others.

with

models as (

    select * from {{ ref('stg_models') }}

),

final as (

    select
        models.model_version,
        reference.key as feature,
        array(select jsonb_array_elements_text(reference.value -> 'edges')::float8)
            as edges,
        reference.value -> 'fractions' as fractions,
        coalesce((reference.value ->> 'null_fraction')::float8, 0) as null_fraction

    from models
    cross join lateral jsonb_each(
        models.reference_distributions -> 'features'
        || jsonb_build_object('score', models.reference_distributions -> 'score')
    ) as reference
    where reference.value is not null and reference.value <> 'null'

)

select * from final
