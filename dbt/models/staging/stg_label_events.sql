with

source as (

    select * from {{ source('scoring', 'label_events') }}

),

renamed as (

    select
        label_event_id,
        transaction_id,
        new_value as is_fraud,
        old_value as previous_is_fraud,
        labeled_by,
        transacted_at,
        labeled_at

    from source

)

select * from renamed
