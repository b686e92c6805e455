-- Labels per event day over the champion's transactions: how many are labelled, how
-- many alerts still await review, and how long labels took to arrive (transaction time
-- to first label, on the event clock).

with

scored as (

    select * from {{ ref('int_scored_transactions') }}
    where role = 'champion'

),

final as (

    select
        day,
        count(*) as transactions,
        count(*) filter (where is_alert) as alerts,
        count(is_fraud) as labelled,
        count(*) - count(is_fraud) as unlabelled,
        count(*) filter (where is_alert and is_fraud is null) as unreviewed_alerts,
        count(*) filter (where is_fraud) as frauds_known,
        percentile_cont(0.5) within group (
            order by extract(epoch from first_labeled_at - transacted_at) / 3600.0
        ) as label_delay_p50_hours,
        percentile_cont(0.9) within group (
            order by extract(epoch from first_labeled_at - transacted_at) / 3600.0
        ) as label_delay_p90_hours

    from scored
    group by 1

)

select * from final
