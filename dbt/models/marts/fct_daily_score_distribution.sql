-- Share of each day's predictions per score bucket, per model version and role; every
-- bucket appears (zero share included) so heatmaps have a full grid. Buckets are finer
-- near zero, where nearly all scores of a fraud model lie.

{% set edges = 'array[0, 0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9]::float8[]' %}

with

scored as (

    select * from {{ ref('int_scored_transactions') }}

),

buckets as (

    select
        bucket,
        edges[bucket] as bucket_from,
        coalesce(edges[bucket + 1], 1.0) as bucket_to

    from (select {{ edges }} as edges) as e,
         generate_series(1, 10) as bucket

),

groups as (

    select day, model_version, role, count(*) as predictions
    from scored
    group by 1, 2, 3

),

counted as (

    select
        day, model_version, role,
        width_bucket(score, {{ edges }}) as bucket,
        count(*) as predictions

    from scored
    group by 1, 2, 3, 4

),

final as (

    select
        groups.day || '/v' || groups.model_version || '/' || groups.role || '/' || buckets.bucket
            as score_bucket_id,
        groups.day,
        groups.model_version,
        groups.role,
        buckets.bucket,
        buckets.bucket_from,
        buckets.bucket_to,
        buckets.bucket_from || '–' || buckets.bucket_to as bucket_label,
        coalesce(counted.predictions, 0) as predictions,
        coalesce(counted.predictions, 0)::float8 / groups.predictions as share

    from groups
    cross join buckets
    left join counted using (day, model_version, role, bucket)

)

select * from final
