-- What a model sees: feature set 1 plus the transaction's own amount and category.
--
-- The trainer and the scorer both read features.model_input_v1, and a model stores the
-- names of the columns it uses, so what was trained on is what is scored (no second
-- feature definition in Python). Key columns (transaction_id, trans_num, transacted_at,
-- card_token, feature_set_version) are not features; every other column is one, and
-- every feature column is double precision so a model reads them as one matrix.

create view features.model_input_v1 as
select
    t.transaction_id,
    t.trans_num,
    t.transacted_at,
    t.card_token,
    f.feature_set_version,
    t.amount::double precision                      as amount,
    c.category_code::double precision               as category_code,
    f.card_tx_count_1h::double precision            as card_tx_count_1h,
    f.card_amount_sum_1h::double precision          as card_amount_sum_1h,
    f.card_tx_count_24h::double precision           as card_tx_count_24h,
    f.card_amount_sum_24h::double precision         as card_amount_sum_24h,
    f.card_tx_count_7d::double precision            as card_tx_count_7d,
    f.card_amount_sum_7d::double precision          as card_amount_sum_7d,
    f.card_tx_count_30d::double precision           as card_tx_count_30d,
    f.card_amount_sum_30d::double precision         as card_amount_sum_30d,
    f.amount_mean_30d::double precision             as amount_mean_30d,
    f.amount_std_30d::double precision              as amount_std_30d,
    f.amount_zscore_30d                             as amount_zscore_30d,
    f.amount_ratio_30d                              as amount_ratio_30d,
    f.seconds_since_previous                        as seconds_since_previous,
    f.km_from_previous                              as km_from_previous,
    f.km_from_home                                  as km_from_home,
    f.speed_kmh_from_previous                       as speed_kmh_from_previous,
    f.distinct_merchants_24h::double precision      as distinct_merchants_24h,
    f.distinct_categories_24h::double precision     as distinct_categories_24h,
    f.is_new_category_30d::integer::double precision as is_new_category_30d,
    f.hour_of_day::double precision                 as hour_of_day,
    f.day_of_week::double precision                 as day_of_week,
    f.cardholder_age_years::double precision        as cardholder_age_years,
    f.merchant_fraud_count_7d::double precision     as merchant_fraud_count_7d,
    f.merchant_fraud_rate_7d                        as merchant_fraud_rate_7d,
    f.merchant_fraud_count_30d::double precision    as merchant_fraud_count_30d,
    f.merchant_fraud_rate_30d                       as merchant_fraud_rate_30d
from ingest.transactions as t
join features.transaction_features as f using (transaction_id)
left join features.categories as c on c.category = t.category
where f.feature_set_version = 1;

comment on view features.model_input_v1 is
    'Model input for feature set 1: key columns, then one double precision column per feature.';

grant select on features.model_input_v1 to pgfraud_trainer, pgfraud_scorer, pgfraud_api;
