-- Decisions in money and analyst time, per event day, model version and role (the role
-- the version had when it scored). Over labelled transactions (the labels known now):
--
--   fraud_amount          sum of amount of the transactions labelled fraud
--   fraud_amount_alerted  the part of it the model alerted on
--   value_detected        fraud_amount_alerted / fraud_amount (null without fraud)
--
-- Analyst workload counts every alert, labelled or not:
--
--   analyst_hours            alerts x review_minutes_per_alert / 60
--   alerts_per_analyst_hour  60 / review_minutes_per_alert (what one hour reviews)
--   frauds_alerted_per_analyst_hour  frauds alerted / analyst_hours
--
-- A shadow's alerts are what it would have raised; only the champion's reach analysts.

{% set review_minutes = var('review_minutes_per_alert') %}

with

scored as (

    select * from {{ ref('int_scored_transactions') }}

),

grouped as (

    select
        day,
        model_version,
        role,
        count(*) as transactions,
        count(*) filter (where is_alert) as alerts,
        count(is_fraud) as labelled,
        count(*) filter (where is_fraud) as frauds,
        count(*) filter (where is_fraud and is_alert) as frauds_alerted,
        coalesce(sum(amount) filter (where is_fraud), 0) as fraud_amount,
        coalesce(sum(amount) filter (where is_fraud and is_alert), 0) as fraud_amount_alerted

    from scored
    group by 1, 2, 3

),

final as (

    select
        day || '/v' || model_version || '/' || role as decision_value_id,
        day,
        model_version,
        role,
        transactions,
        alerts,
        labelled,
        frauds,
        frauds_alerted,
        fraud_amount,
        fraud_amount_alerted,
        (fraud_amount_alerted / nullif(fraud_amount, 0))::float8 as value_detected,
        {{ review_minutes }}::float8 as review_minutes_per_alert,
        alerts * {{ review_minutes }}::float8 / 60 as analyst_hours,
        60 / {{ review_minutes }}::float8 as alerts_per_analyst_hour,
        frauds_alerted / nullif(alerts * {{ review_minutes }}::float8 / 60, 0)
            as frauds_alerted_per_analyst_hour

    from grouped

)

select * from final
