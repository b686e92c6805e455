-- Drift per event day, model version and feature: the PSI of the values over the
-- drift_window_days days ending with that day against the model's training reference
-- (bins stored at registration). The feature named 'score' is the drift of the model's
-- score distribution. The window is a whole week because day_of_week is a feature: a
-- single day differs from any week by construction.
--
-- The counts come from fct_daily_feature_histograms (per day, model, feature and bin),
-- summed over the window: the same counts ml.feature_drift (sql/schema/ml/
-- feature_drift.sql, what the retraining trigger runs) makes from the window's rows,
-- and the same PSI from them: shares floored at 1e-4, sum over bins -1 .. k of
-- (actual - expected) x ln(actual / expected). A test compares the two on every row.
-- A table: a build re-sums the stored counts (a few per day), rereading no feature row.

{{ config(pre_hook="set local work_mem = '64MB'") }}

with

histograms as (

    select * from {{ ref('fct_daily_feature_histograms') }}

),

reference as (

    select * from {{ ref('int_reference_distributions') }}

),

-- The days each model scored (its histograms carry that day's newest prediction).
model_days as (

    select day, model_version, max(max_prediction_id) as max_prediction_id
    from histograms
    where max_prediction_id is not null
    group by 1, 2

),

reference_bins as (

    select
        reference.model_version,
        reference.feature,
        bins.bin,
        case
            when bins.bin = -1 then reference.null_fraction
            else coalesce((reference.fractions ->> bins.bin)::float8, 0)
                 * (1 - reference.null_fraction)
        end as expected_share

    from reference
    cross join lateral generate_series(-1, cardinality(reference.edges)) as bins (bin)

),

-- Each day a model scored, with the days of its window.
window_days as (

    select
        model_days.day,
        model_days.model_version,
        model_days.day - days_before as counted_day

    from model_days
    cross join generate_series(0, {{ var('drift_window_days') - 1 }}) as days_before

),

window_counts as (

    select
        window_days.day,
        window_days.model_version,
        histograms.feature,
        histograms.bin,
        sum(histograms.observations) as observations

    from window_days
    inner join histograms
        on histograms.model_version = window_days.model_version
        and histograms.day = window_days.counted_day
    group by 1, 2, 3, 4

),

-- Every reference bin of every (day, model, feature), with its window count (0 if none).
window_bins as (

    select
        model_days.day,
        model_days.model_version,
        reference_bins.feature,
        reference_bins.bin,
        reference_bins.expected_share,
        coalesce(window_counts.observations, 0) as observations

    from model_days
    inner join reference_bins using (model_version)
    left join window_counts using (day, model_version, feature, bin)

),

shares as (

    select
        day,
        model_version,
        feature,
        sum(observations) over feature_window as total,
        greatest(observations::float8 / nullif(sum(observations) over feature_window, 0),
                 1e-4) as actual,
        greatest(expected_share, 1e-4) as expected

    from window_bins
    window feature_window as (partition by day, model_version, feature)

),

drift as (

    select
        day,
        model_version,
        feature,
        sum((actual - expected) * ln(actual / expected)) as psi,
        max(total)::bigint as observations

    from shares
    where total > 0
    group by 1, 2, 3

),

final as (

    select
        drift.day || '/v' || drift.model_version || '/' || drift.feature as feature_drift_id,
        drift.day,
        drift.model_version,
        drift.feature,
        drift.feature = 'score' as is_score,
        drift.psi,
        drift.psi > {{ var('drift_psi_threshold') }} as is_drifted,
        drift.observations,
        model_days.max_prediction_id

    from drift
    inner join model_days using (day, model_version)

)

select * from final
