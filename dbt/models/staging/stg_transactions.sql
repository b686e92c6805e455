with

source as (

    select * from {{ source('ingest', 'transactions') }}

),

renamed as (

    select
        transaction_id,
        trans_num,
        card_token,
        merchant,
        category,
        source,
        amount,
        transacted_at,
        (transacted_at at time zone 'UTC')::date as transacted_on,
        ingested_at

    from source

)

select * from renamed
