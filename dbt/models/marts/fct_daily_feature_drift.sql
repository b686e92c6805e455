-- Drift per event day, model version and feature: the PSI of the values over the
-- drift_window_days days ending with that day against the model's training reference
-- (bins stored at registration), computed by the same SQL function the retraining
-- trigger uses, ml.feature_drift (sql/schema/ml/feature_drift.sql). The feature named 'score'
-- is the drift of the model's score distribution. The window is a whole week because
-- day_of_week is a feature: a single day differs from any week by construction.
--
-- Incremental: a (day, model) is recomputed when its window holds predictions newer
-- than the last build, and the newest lookback_days days always are.

{{ config(
    materialized='incremental',
    unique_key='feature_drift_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail'
) }}

with

scored as (

    select * from {{ ref('int_scored_transactions') }}

),

model_days as (

    select
        day,
        model_version,
        max(prediction_id) as max_prediction_id

    from scored
    group by 1, 2

),

{% if is_incremental() %}
changed as (

    select distinct day, model_version
    from scored
    where prediction_id > (select coalesce(max(max_prediction_id), 0) from {{ this }})

),
{% endif %}

to_compute as (

    select * from model_days

    {% if is_incremental() %}
    where exists (
              select from changed
              where changed.model_version = model_days.model_version
                and changed.day between model_days.day - {{ var('drift_window_days') - 1 }}
                                    and model_days.day)
       or day >= (select max(day) - {{ var('lookback_days') }} from {{ this }})
    {% endif %}

),

drift as (

    select
        model_days.day,
        model_days.model_version,
        model_days.max_prediction_id,
        psi.feature,
        psi.psi,
        psi.observations

    from to_compute as model_days
    cross join lateral ml.feature_drift(
        model_days.model_version,
        (model_days.day - {{ var('drift_window_days') - 1 }})::timestamp at time zone 'UTC',
        (model_days.day + 1)::timestamp at time zone 'UTC'
    ) as psi

),

final as (

    select
        day || '/v' || model_version || '/' || feature as feature_drift_id,
        day,
        model_version,
        feature,
        feature = 'score' as is_score,
        psi,
        psi > {{ var('drift_psi_threshold') }} as is_drifted,
        observations,
        max_prediction_id

    from drift

)

select * from final
