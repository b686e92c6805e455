-- One row per labelled transaction: its current label (the latest label event), its
-- label as known when it matured (label_maturity_days after it happened), and when it
-- was first labelled. Labels are per transaction, whichever prediction row carried them.

with

label_events as (

    select * from {{ ref('stg_label_events') }}

),

current_labels as (

    select distinct on (transaction_id)
        transaction_id,
        is_fraud

    from label_events
    order by transaction_id, label_event_id desc

),

matured_labels as (

    select distinct on (transaction_id)
        transaction_id,
        is_fraud as matured_is_fraud

    from label_events
    where labeled_at <= transacted_at + interval '{{ var("label_maturity_days") }} days'
    order by transaction_id, label_event_id desc

),

first_labels as (

    select
        transaction_id,
        min(labeled_at) as first_labeled_at

    from label_events
    where is_fraud is not null
    group by 1

),

final as (

    select
        current_labels.transaction_id,
        current_labels.is_fraud,
        matured_labels.matured_is_fraud,
        first_labels.first_labeled_at

    from current_labels
    left join matured_labels using (transaction_id)
    left join first_labels using (transaction_id)

)

select * from final
