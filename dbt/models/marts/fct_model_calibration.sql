-- Calibration of every model version on its labelled predictions (all labels known now,
-- matured or not; every role, as a version's scores do not depend on its role): the
-- Brier score, mean (squared error of score against the label), beside the mean score
-- and the observed fraud rate. A calibrated model has mean_score close to fraud_rate.

with

scored as (

    select * from {{ ref('int_scored_transactions') }}
    where is_fraud is not null

),

final as (

    select
        model_version,
        count(*) as labelled,
        count(*) filter (where is_fraud) as frauds,
        avg(score) as mean_score,
        avg(is_fraud::int::float8) as fraud_rate,
        avg((score - is_fraud::int) ^ 2) as brier_score

    from scored
    group by 1

)

select * from final
