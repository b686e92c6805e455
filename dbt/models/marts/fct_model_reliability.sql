-- The reliability curve of every model version: its labelled predictions (all labels
-- known now, every role) in 10 equal-width score bins [0, 0.1), …, [0.9, 1.0] (a score
-- of exactly 1 goes to the last); per bin the mean score against the observed fraud
-- rate. Points on the diagonal are calibrated. Only bins holding predictions appear.

{% set bins = 10 %}

with

scored as (

    select * from {{ ref('int_scored_transactions') }}
    where is_fraud is not null

),

binned as (

    select
        model_version,
        least(width_bucket(score, 0, 1, {{ bins }}), {{ bins }}) as bin,
        score,
        is_fraud

    from scored

),

final as (

    select
        model_version || '/' || bin as reliability_bin_id,
        model_version,
        bin,
        (bin - 1)::float8 / {{ bins }} as bin_from,
        bin::float8 / {{ bins }} as bin_to,
        count(*) as predictions,
        count(*) filter (where is_fraud) as frauds,
        avg(score) as mean_score,
        avg(is_fraud::int::float8) as observed_fraud_rate

    from binned
    group by model_version, bin

)

select * from final
