-- Every prediction with its transaction's event date, card, amount and labels. role is
-- the model's role when it scored (is_shadow of the prediction), not its status now.
--
-- is_fraud: the current label (null while unlabelled).
-- matured_is_fraud: the label as known label_maturity_days after the transaction, with
-- no label by then counting as genuine (no chargeback came); null until the whole event
-- day has matured on the event clock.
--
-- A table (in analytics_staging, which the reader role cannot read), not ephemeral: seven
-- marts read it, and inlined each of them joined every prediction to its transaction and
-- labels again (most of a build's time on the replay's database). A table depends on no
-- view, so replacing the staging views cannot drop it.

{{ config(materialized='table', schema='staging') }}

with

predictions as (

    select * from {{ ref('stg_predictions') }}

),

transactions as (

    select * from {{ ref('stg_transactions') }}

),

labels as (

    select * from {{ ref('int_transaction_labels') }}

),

event_clock as (

    select * from {{ ref('stg_event_clock') }}

),

final as (

    select
        predictions.prediction_id,
        predictions.transaction_id,
        predictions.model_version,
        predictions.role,
        predictions.score,
        predictions.threshold,
        predictions.is_alert,
        predictions.latency_ms,
        predictions.scored_at,
        transactions.transacted_on as day,
        transactions.transacted_at,
        transactions.card_token,
        transactions.amount,
        labels.is_fraud,
        labels.first_labeled_at,
        (transactions.transacted_on + 1 + {{ var("label_maturity_days") }})
            <= (event_clock.event_clock_at at time zone 'UTC') as is_matured,
        case
            when (transactions.transacted_on + 1 + {{ var("label_maturity_days") }})
                <= (event_clock.event_clock_at at time zone 'UTC')
            then coalesce(labels.matured_is_fraud, false)
        end as matured_is_fraud

    from predictions
    inner join transactions using (transaction_id)
    cross join event_clock
    left join labels using (transaction_id)

)

select * from final
