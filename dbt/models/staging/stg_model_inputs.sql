-- Model inputs of feature set 1 (features.model_input_v1): key columns, the UTC event
-- date, and every feature column of the view, found when the model is built
-- (macros/model_input_features.sql).

{% set features = model_input_features(source('features', 'model_input_v1')) %}

with

source as (

    select * from {{ source('features', 'model_input_v1') }}

),

renamed as (

    select
        transaction_id,
        trans_num,
        card_token,
        feature_set_version,
        transacted_at,
        (transacted_at at time zone 'UTC')::date as transacted_on,
        {%- for feature in features %}
        {{ adapter.quote(feature) }}{{ "," if not loop.last }}
        {%- endfor %}

    from source

)

select * from renamed
