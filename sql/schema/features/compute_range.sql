-- Feature set 1: the one definition of every feature, for serving and training.
--
-- "Visible before" transaction T (id i, card c, event time t): rows of card c with
-- transaction_id < i and transacted_at in the window ending at t (t included, so
-- same-timestamp ties are broken by id). Rows that happened later in event time, or
-- that arrived later (higher id), are never seen. Ingest inserts serialise on one
-- advisory lock (features.lock_ingest), so when T is computed every lower id has
-- committed: computing T at insert time and recomputing it in a backfill read exactly
-- the same rows.
--
-- Merchant risk counts a transaction at T's merchant as fraud when its latest label
-- event with labeled_at < t says fraud; the rate divides by the transactions there whose
-- label was known at t (fraud or legitimate), which is what an issuer can know. Label
-- events are stamped no earlier than the latest event time already ingested
-- (scoring.write_label), so no label can appear "before" a transaction that was already
-- computed. docs/features.md describes every feature.

create function features.compute_range(p_first_id bigint, p_last_id bigint)
returns setof features.transaction_features
language sql
stable
as $$
    with batch as (
        select *
        from ingest.transactions
        where transaction_id between p_first_id and p_last_id
    ),

    card_windows as (
        select
            batch.transaction_id,
            history.*
        from batch
        cross join lateral (
            select
                count(*) filter (where h.transacted_at > batch.transacted_at - interval '1 hour')
                    as card_tx_count_1h,
                coalesce(sum(h.amount) filter (
                    where h.transacted_at > batch.transacted_at - interval '1 hour'), 0)
                    as card_amount_sum_1h,
                count(*) filter (where h.transacted_at > batch.transacted_at - interval '24 hours')
                    as card_tx_count_24h,
                coalesce(sum(h.amount) filter (
                    where h.transacted_at > batch.transacted_at - interval '24 hours'), 0)
                    as card_amount_sum_24h,
                count(*) filter (where h.transacted_at > batch.transacted_at - interval '7 days')
                    as card_tx_count_7d,
                coalesce(sum(h.amount) filter (
                    where h.transacted_at > batch.transacted_at - interval '7 days'), 0)
                    as card_amount_sum_7d,
                count(*) as card_tx_count_30d,
                coalesce(sum(h.amount), 0) as card_amount_sum_30d,
                avg(h.amount) as amount_mean_30d,
                stddev_samp(h.amount) as amount_std_30d,
                coalesce(bool_or(h.category = batch.category), false) as used_category_30d
            from ingest.transactions as h
            where h.card_token = batch.card_token
              and h.transacted_at > batch.transacted_at - interval '30 days'
              and h.transacted_at <= batch.transacted_at
              and h.transaction_id < batch.transaction_id
        ) as history
    ),

    card_day as (
        -- Distinct counts sort their input: a separate 24-hour scan keeps that input small.
        select
            batch.transaction_id,
            variety.*
        from batch
        cross join lateral (
            select
                count(distinct h.merchant) as distinct_merchants_24h,
                count(distinct h.category) as distinct_categories_24h
            from ingest.transactions as h
            where h.card_token = batch.card_token
              and h.transacted_at > batch.transacted_at - interval '24 hours'
              and h.transacted_at <= batch.transacted_at
              and h.transaction_id < batch.transaction_id
        ) as variety
    ),

    previous as (
        select
            batch.transaction_id,
            prev.transacted_at as previous_at,
            features.distance_km(prev.merchant_lat, prev.merchant_long,
                                 batch.merchant_lat, batch.merchant_long) as km_from_previous
        from batch
        left join lateral (
            select h.transacted_at, h.merchant_lat, h.merchant_long
            from ingest.transactions as h
            where h.card_token = batch.card_token
              and h.transacted_at <= batch.transacted_at
              and h.transaction_id < batch.transaction_id
            order by h.transacted_at desc, h.transaction_id desc
            limit 1
        ) as prev on true
    ),

    merchant_labels as (
        -- What was known at t about other transactions at this merchant: each one's latest
        -- label that arrived before t. Reads the label history only (a few rows per
        -- merchant), never the merchant's whole traffic.
        select
            batch.transaction_id,
            known.*
        from batch
        cross join lateral (
            select
                count(*) filter (where latest.new_value
                                   and latest.transacted_at > batch.transacted_at - interval '7 days')
                    as merchant_fraud_count_7d,
                count(*) filter (where latest.new_value is not null
                                   and latest.transacted_at > batch.transacted_at - interval '7 days')
                    as merchant_labeled_count_7d,
                count(*) filter (where latest.new_value) as merchant_fraud_count_30d,
                count(*) filter (where latest.new_value is not null) as merchant_labeled_count_30d
            from (
                select distinct on (e.transaction_id) e.transacted_at, e.new_value
                from scoring.label_events as e
                where e.merchant = batch.merchant
                  and e.transacted_at > batch.transacted_at - interval '30 days'
                  and e.transacted_at <= batch.transacted_at
                  and e.transaction_id <> batch.transaction_id
                  and e.labeled_at < batch.transacted_at
                order by e.transaction_id, e.labeled_at desc, e.label_event_id desc
            ) as latest
        ) as known
    ),

    final as (
        select
            batch.transaction_id,
            1 as feature_set_version,
            cw.card_tx_count_1h,
            cw.card_amount_sum_1h,
            cw.card_tx_count_24h,
            cw.card_amount_sum_24h,
            cw.card_tx_count_7d,
            cw.card_amount_sum_7d,
            cw.card_tx_count_30d,
            cw.card_amount_sum_30d,
            round(cw.amount_mean_30d, 4) as amount_mean_30d,
            round(cw.amount_std_30d, 4) as amount_std_30d,
            round((batch.amount - cw.amount_mean_30d) / nullif(cw.amount_std_30d, 0), 6)::float8
                as amount_zscore_30d,
            round(batch.amount / nullif(cw.amount_mean_30d, 0), 6)::float8 as amount_ratio_30d,
            extract(epoch from batch.transacted_at - previous.previous_at)::float8
                as seconds_since_previous,
            previous.km_from_previous,
            features.distance_km(batch.home_lat, batch.home_long,
                                 batch.merchant_lat, batch.merchant_long) as km_from_home,
            previous.km_from_previous
                / greatest(extract(epoch from batch.transacted_at - previous.previous_at)::float8,
                           60.0) * 3600.0 as speed_kmh_from_previous,
            cd.distinct_merchants_24h,
            cd.distinct_categories_24h,
            not cw.used_category_30d as is_new_category_30d,
            extract(hour from batch.transacted_at at time zone 'UTC')::int as hour_of_day,
            extract(isodow from batch.transacted_at at time zone 'UTC')::int as day_of_week,
            extract(year from age((batch.transacted_at at time zone 'UTC')::date,
                                  batch.cardholder_birth_date))::int as cardholder_age_years,
            ml.merchant_fraud_count_7d,
            round(ml.merchant_fraud_count_7d::numeric / nullif(ml.merchant_labeled_count_7d, 0), 6)
                ::float8 as merchant_fraud_rate_7d,
            ml.merchant_fraud_count_30d,
            round(ml.merchant_fraud_count_30d::numeric / nullif(ml.merchant_labeled_count_30d, 0),
                  6)::float8 as merchant_fraud_rate_30d,
            now() as computed_at
        from batch
        join card_windows as cw using (transaction_id)
        join card_day as cd using (transaction_id)
        join previous using (transaction_id)
        join merchant_labels as ml using (transaction_id)
    )

    select * from final
$$;

comment on function features.compute_range(bigint, bigint) is
    'Feature set 1 for transactions with ids in [p_first_id, p_last_id]: the single definition used at ingest and by backfill.';

revoke all on function features.compute_range(bigint, bigint) from public;
