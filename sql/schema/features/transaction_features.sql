-- Stored features: one immutable row per transaction, computed once, at ingest
-- (features/ingest_triggers.sql) or by a backfill, both by features.compute_range.

create table features.transaction_features (
    -- No foreign keys: rows are written only by features.compute_range from existing
    -- transactions and feature sets, and a per-row RI check cost ~55 us a row (measured),
    -- more than computing the features.
    transaction_id              bigint primary key,
    feature_set_version         integer not null,
    card_tx_count_1h            bigint not null,
    card_amount_sum_1h          numeric(14, 2) not null,
    card_tx_count_24h           bigint not null,
    card_amount_sum_24h         numeric(14, 2) not null,
    card_tx_count_7d            bigint not null,
    card_amount_sum_7d          numeric(14, 2) not null,
    card_tx_count_30d           bigint not null,
    card_amount_sum_30d         numeric(14, 2) not null,
    amount_mean_30d             numeric(14, 4),
    amount_std_30d              numeric(14, 4),
    amount_zscore_30d           double precision,
    amount_ratio_30d            double precision,
    seconds_since_previous      double precision,
    km_from_previous            double precision,
    km_from_home                double precision,
    speed_kmh_from_previous     double precision,
    distinct_merchants_24h      bigint not null,
    distinct_categories_24h     bigint not null,
    is_new_category_30d         boolean not null,
    hour_of_day                 integer not null,
    day_of_week                 integer not null,
    cardholder_age_years        integer,
    merchant_fraud_count_7d     bigint not null,
    merchant_fraud_rate_7d      double precision,
    merchant_fraud_count_30d    bigint not null,
    merchant_fraud_rate_30d     double precision,
    computed_at                 timestamptz not null
);

comment on table features.transaction_features is
    'Feature set values per transaction (docs/features.md), computed at ingest by features.compute_range and never updated.';

grant select on features.transaction_features to pgfraud_scorer;
