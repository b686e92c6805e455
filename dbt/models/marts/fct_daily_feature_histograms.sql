-- Counts per event day, model version, feature (and 'score') and reference bin: each
-- day's feature values (of every transaction, as ml.feature_drift reads them) and the
-- model's scores of that day's transactions, counted in the bins of the model's
-- reference distributions (int_reference_distributions). fct_daily_feature_drift sums
-- a window of these days and computes PSI from the sums; counts add up exactly, so the
-- PSI equals ml.feature_drift's over the same window.
--
-- A (day, model) is kept when a drift window needs it: the model scored that day or
-- one of the drift_window_days - 1 days after. NULL, NaN and infinite feature values
-- count in bin -1, as in ml.feature_drift.
--
-- Incremental, per (day, model): built once, and again when the day has predictions
-- newer than the last build (a max_prediction_id watermark), or is among the newest
-- lookback_days; a (day, model) not yet built (a new day, or a model that started
-- scoring and needs the week before) is built.

{{ config(
    materialized='incremental',
    unique_key=['day', 'model_version'],
    incremental_strategy='delete+insert',
    on_schema_change='fail',
    pre_hook="set local work_mem = '64MB'"
) }}

{% set features = model_input_features(ref('stg_model_inputs')) %}

with

model_inputs as (

    select * from {{ ref('stg_model_inputs') }}

),

predictions as (

    select * from {{ ref('stg_predictions') }}

),

transactions as (

    select * from {{ ref('stg_transactions') }}

),

reference as (

    select * from {{ ref('int_reference_distributions') }}

),

model_days as (

    select
        transactions.transacted_on as day,
        predictions.model_version,
        max(predictions.prediction_id) as max_prediction_id

    from predictions
    inner join transactions using (transaction_id)
    group by 1, 2

),

needed as (

    select distinct
        model_days.day - days_before as day,
        model_days.model_version

    from model_days
    cross join generate_series(0, {{ var('drift_window_days') - 1 }}) as days_before

),

day_watermarks as (

    select day, max(max_prediction_id) as max_prediction_id
    from model_days
    group by 1

),

to_compute as (

    select
        needed.day,
        needed.model_version,
        model_days.max_prediction_id

    from needed
    left join day_watermarks using (day)
    left join model_days using (day, model_version)

    {% if is_incremental() %}
    where not exists (
              select from {{ this }} as built
              where built.day = needed.day and built.model_version = needed.model_version)
       or day_watermarks.max_prediction_id
              > (select max(max_prediction_id) from {{ this }})
       or needed.day >= (select max(day) - {{ var('lookback_days') }} from {{ this }})
    {% endif %}

),

-- Every feature is counted once per row, in fine bins: between consecutive edges of any
-- model being counted. Each model edge is a fine edge, so a fine bin lies in one bin of
-- every model, the bin of its lower edge (fine bin 0 is below every edge: bin 0).
fine_edges as (

    select
        reference.feature,
        array_agg(distinct edge order by edge) as edges

    from reference
    inner join (select distinct model_version from to_compute) as models using (model_version)
    cross join lateral unnest(reference.edges) as edge
    where reference.feature <> 'score'
    group by 1

),

fine_row as (

    select
        {%- for feature in features %}
        coalesce(max(edges) filter (where feature = '{{ feature }}'), '{}')
            as {{ adapter.quote(feature) }}{{ "," if not loop.last }}
        {%- endfor %}

    from fine_edges

),

fine_binned as (

    select
        model_inputs.transacted_on as day,
        {%- for feature in features %}
        {%- set value = 'model_inputs.' ~ adapter.quote(feature) %}
        case
            when {{ value }} is null or {{ value }} in ('NaN', 'Infinity', '-Infinity')
            then -1
            else width_bucket({{ value }}, fine_row.{{ adapter.quote(feature) }})
        end as {{ adapter.quote(feature) }}{{ "," if not loop.last }}
        {%- endfor %}

    from model_inputs
    cross join fine_row
    where model_inputs.transacted_on in (select day from to_compute)

),

fine_counts as (

    select
        day,
        {%- for feature in features %}
        {{ adapter.quote(feature) }},
        {%- endfor %}
        count(*) as observations

    from fine_binned
    group by grouping sets (
        {%- for feature in features %}
        (day, {{ adapter.quote(feature) }}){{ "," if not loop.last }}
        {%- endfor %}
    )

),

-- Each row of fine_counts is one feature's fine bin: the other features' columns are null.
fine_bins as (

    select
        fine_counts.day,
        bins.feature,
        bins.fine_bin,
        fine_counts.observations

    from fine_counts
    cross join lateral (values
        {%- for feature in features %}
        ('{{ feature }}', fine_counts.{{ adapter.quote(feature) }})
            {{- "," if not loop.last }}
        {%- endfor %}
    ) as bins (feature, fine_bin)
    where bins.fine_bin is not null

),

feature_bins as (

    select
        to_compute.day,
        to_compute.model_version,
        to_compute.max_prediction_id,
        fine_bins.feature,
        case
            when fine_bins.fine_bin <= 0 then fine_bins.fine_bin
            else width_bucket(fine_edges.edges[fine_bins.fine_bin], reference.edges)
        end as bin,
        sum(fine_bins.observations)::bigint as observations

    from fine_bins
    inner join to_compute using (day)
    inner join reference
        on reference.model_version = to_compute.model_version
        and reference.feature = fine_bins.feature
    left join fine_edges on fine_edges.feature = fine_bins.feature
    group by 1, 2, 3, 4, 5

),

score_bins as (

    select
        to_compute.day,
        to_compute.model_version,
        to_compute.max_prediction_id,
        'score' as feature,
        case
            when predictions.score is null then -1
            else width_bucket(predictions.score, reference.edges)
        end as bin,
        count(*) as observations

    from predictions
    inner join transactions using (transaction_id)
    inner join to_compute
        on to_compute.day = transactions.transacted_on
        and to_compute.model_version = predictions.model_version
    inner join reference
        on reference.model_version = predictions.model_version
        and reference.feature = 'score'
    group by 1, 2, 3, 4, 5

),

bins as (

    select * from feature_bins

    union all

    select * from score_bins

),

final as (

    select
        day || '/v' || model_version || '/' || feature || '/' || bin as feature_bin_id,
        day,
        model_version,
        feature,
        feature = 'score' as is_score,
        bin,
        observations,
        max_prediction_id

    from bins

)

select * from final
