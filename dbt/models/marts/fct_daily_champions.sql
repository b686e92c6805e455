-- The champion of each event day, from the predictions themselves: a non-shadow
-- prediction (role 'champion') was made by the model that was champion when it scored,
-- so the day's champion is the model version whose non-shadow predictions decided most
-- of that day's transactions (ties: the newer version). Not ml.models.status, which is
-- only the status now, and not ml.model_events.at, which is wall-clock time while days
-- here are event time (replays and demos run event time faster than the wall clock).
--
-- champion_versions > 1 marks a handover day (a promotion or rollback while the day's
-- traffic was scored); is_new_champion marks the first day of a different champion.

with

scored as (

    select * from {{ ref('int_scored_transactions') }}
    where role = 'champion'

),

served as (

    select
        day,
        model_version,
        count(*) as champion_transactions,
        min(transacted_at) as first_transacted_at,
        max(transacted_at) as last_transacted_at

    from scored
    group by 1, 2

),

ranked as (

    select
        *,
        row_number() over (
            partition by day order by champion_transactions desc, model_version desc
        ) as rank_in_day,
        count(*) over (partition by day) as champion_versions,
        sum(champion_transactions) over (partition by day) as day_transactions

    from served

),

days as (

    select * from ranked
    where rank_in_day = 1

),

final as (

    select
        day,
        model_version,
        champion_transactions,
        day_transactions::bigint as day_transactions,
        champion_versions,
        first_transacted_at,
        last_transacted_at,
        lag(model_version) over (order by day) as previous_model_version,
        coalesce(model_version <> lag(model_version) over (order by day), false)
            as is_new_champion

    from days

)

select * from final
