-- Stored features: one immutable row per transaction, computed once. Applied by migration 0003.

create table features.feature_sets (
    feature_set_version integer primary key,
    description         text not null,
    created_at          timestamptz not null default now()
);

insert into features.feature_sets (feature_set_version, description) values
    (1, 'card velocity, amount vs 30-day history, previous-transaction distance and speed, '
        'recent variety, time of day, age, merchant risk with label delay');

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

-- Great-circle distance (haversine), mean Earth radius 6371.0088 km; NULL when a
-- coordinate is unknown. Written as one strict expression so the planner inlines it
-- (a non-inlined SQL function cost ~60 us a call, measured). Coordinates are rounded to
-- 1e-9 degree (0.1 mm): PostgreSQL raises on float underflow, which squaring a denormal
-- coordinate difference would trigger, and one odd row must not fail an ingest batch.
-- atan2(sqrt(a), sqrt(|1 - a|)) instead of asin(sqrt(a)) stays defined when rounding
-- puts a a hair above 1.
create function features.distance_km(lat1 double precision, long1 double precision,
                                     lat2 double precision, long2 double precision)
returns double precision
language sql
immutable
strict
parallel safe
as $$
    select 2 * 6371.0088 * atan2(
        sqrt(
            power(sin(radians((round(lat2 * 1e9) - round(lat1 * 1e9)) / 1e9) / 2), 2)
            + cos(radians(round(lat1 * 1e9) / 1e9)) * cos(radians(round(lat2 * 1e9) / 1e9))
              * power(sin(radians((round(long2 * 1e9) - round(long1 * 1e9)) / 1e9) / 2), 2)
        ),
        sqrt(abs(1 - (
            power(sin(radians((round(lat2 * 1e9) - round(lat1 * 1e9)) / 1e9) / 2), 2)
            + cos(radians(round(lat1 * 1e9) / 1e9)) * cos(radians(round(lat2 * 1e9) / 1e9))
              * power(sin(radians((round(long2 * 1e9) - round(long1 * 1e9)) / 1e9) / 2), 2)
        )))
    )
$$;
