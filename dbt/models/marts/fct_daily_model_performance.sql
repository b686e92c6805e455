-- Daily accuracy of every model version in each role (champion / shadow), by the event
-- date of the transactions it scored: volume, alert rate, labelled share and the
-- metrics of classification_metrics() twice: on labels known now, and on matured labels
-- (as known label_maturity_days after each transaction, unlabelled = genuine) so late
-- labels cannot flatter recent days.

with

scored as (

    select * from {{ ref('int_scored_transactions') }}

),

volumes as (

    select
        day,
        model_version,
        role,
        count(*) as transactions,
        count(*) filter (where is_alert) as alerts,
        count(is_fraud) as labelled,
        bool_and(is_matured) as is_matured

    from scored
    group by 1, 2, 3

),

current_metrics as (

    {{ classification_metrics('scored', 'is_fraud') }}

),

matured_metrics as (

    {{ classification_metrics('scored', 'matured_is_fraud') }}

),

final as (

    select
        volumes.day || '/v' || volumes.model_version || '/' || volumes.role
            as daily_performance_id,
        volumes.day,
        volumes.model_version,
        volumes.role,
        volumes.transactions,
        volumes.alerts,
        volumes.alerts::float8 / volumes.transactions as alert_rate,
        volumes.labelled,
        volumes.labelled::float8 / volumes.transactions as labelled_share,
        coalesce(current_metrics.positives, 0) as frauds,
        current_metrics.precision,
        current_metrics.recall,
        current_metrics.f1,
        current_metrics.roc_auc,
        current_metrics.average_precision,
        current_metrics.card_precision_at_100,
        volumes.is_matured,
        matured_metrics.positives as matured_frauds,
        matured_metrics.precision as matured_precision,
        matured_metrics.recall as matured_recall,
        matured_metrics.f1 as matured_f1,
        matured_metrics.roc_auc as matured_roc_auc,
        matured_metrics.average_precision as matured_average_precision,
        matured_metrics.card_precision_at_100 as matured_card_precision_at_100

    from volumes
    left join current_metrics using (day, model_version, role)
    left join matured_metrics using (day, model_version, role)

)

select * from final
