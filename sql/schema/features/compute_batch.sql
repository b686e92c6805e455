-- Feature set 1 for the rows with ids in [p_first_id, p_last_id], computed from the card
-- windows (features/card_windows.sql) instead of rescanning each card's history, and the
-- windows moved forward. Called by the ingest trigger once per insert statement, under
-- the ingest lock, for ids above every stored id.
--
-- Exactly features.compute_range's values (the definition, and what a backfill
-- recomputes): tests/integration/test_features.py checks every column of every row.
-- - A card whose rows in the batch are all in event-time order (each at or after every
--   lower id of the card) extends its arrays: the row at position p sees positions
--   before p (lower ids at or before t) and after width_bucket(t - window) (event time
--   inside the window): the same rows compute_range reads.
-- - A card with a row out of event-time order is computed by compute_range, row by row,
--   and its window rebuilt from the stored rows: arrival out of order costs a scan, as
--   before, but never a wrong value.
-- - When the state does not cover exactly the rows before p_first_id it is rebuilt first.
-- - Merchant label counts: each batch merchant's label history is read once per batch
--   and counted by binary search when every label event the batch's rows could see
--   arrived before the merchant's first row in the batch (the usual case); otherwise
--   row by row, as compute_range reads it (issue 19: 240 -> 29 us a row in a replay
--   with 60 days of labels).
-- The final assembly is compute_range's.

create function features.compute_batch(p_first_id bigint, p_last_id bigint)
returns setof features.transaction_features
language plpgsql
set work_mem = '64MB'
-- Memoize would key its cache on the per-row expressions, computing each twice.
set enable_memoize = off
as $fn$
declare
    v_through bigint;
    v_previous bigint;
    v_late text[];
    v_batch_labelled boolean;  -- a row of the batch has a label (never on ingest)
begin
    select w.through_id into v_through from features.card_windows_through as w;
    select max(t.transaction_id) into v_previous
    from ingest.transactions as t where t.transaction_id < p_first_id;
    if v_previous is distinct from v_through then
        perform features.rebuild_card_windows(coalesce(v_previous, 0), null);
    end if;

    select coalesce(array_agg(distinct x.card_token), '{}') into v_late
    from (
        select t.card_token, t.transacted_at,
               greatest(lag(t.transacted_at) over (partition by t.card_token order by t.transaction_id),
                        s.max_at) as latest_before
        from ingest.transactions as t
        left join features.card_windows as s using (card_token)
        where t.transaction_id between p_first_id and p_last_id
    ) as x
    where x.transacted_at < x.latest_before;

    select exists (select 1 from scoring.label_events as e
                   where e.transaction_id between p_first_id and p_last_id)
    into v_batch_labelled;

    return query
    with batch as materialized (
        select t.transaction_id, t.card_token, t.transacted_at, t.amount, t.merchant,
               t.category, t.merchant_lat, t.merchant_long, t.home_lat, t.home_long,
               t.cardholder_birth_date,
               row_number() over by_id as k,
               lag(t.transacted_at) over by_id as previous_at,
               lag(t.merchant_lat) over by_id as previous_lat,
               lag(t.merchant_long) over by_id as previous_long,
               sum(t.amount) over by_id as cum_amount,
               sum(t.amount * t.amount) over by_id as cum_square
        from ingest.transactions as t
        where t.transaction_id between p_first_id and p_last_id
          and t.card_token <> all(v_late)
        window by_id as (partition by t.card_token order by t.transaction_id)
    ),
    batch_cards as (
        -- Each card's batch rows in id order (k). The aggregates take their input in the
        -- sorted subquery's order, which holds with no join at this level (PostgreSQL's
        -- "Aggregate Expressions"): one sort of the batch, where an ORDER BY in each of
        -- the seven aggregates sorted every card's rows seven times.
        select b.card_token,
               array_agg(b.transacted_at) as times,
               array_agg(b.cum_amount) as cums,
               array_agg(b.cum_square) as squares,
               array_agg(b.category) as categories,
               array_agg(b.merchant) as merchants,
               (array_agg(b.merchant_lat))[count(*)] as last_lat,
               (array_agg(b.merchant_long))[count(*)] as last_long
        from (select * from batch order by card_token, k) as b
        group by b.card_token
    ),
    cards as materialized (
        select bc.card_token,
            coalesce(s.times, '{}') || bc.times as times,
            coalesce(s.cum_amounts, '{}')
                || array(select coalesce(s.sum_through, 0) + x from unnest(bc.cums) as x) as cums,
            coalesce(s.cum_squares, '{}')
                || array(select coalesce(s.squares_through, 0) + x from unnest(bc.squares) as x)
                as squares,
            coalesce(s.categories, '{}') || bc.categories as categories,
            coalesce(s.merchants, '{}') || bc.merchants as merchants,
            -- merchants holds the last 25 hours only: element i is merchants[i - skipped].
            coalesce(cardinality(s.times), 0) - coalesce(cardinality(s.merchants), 0)
                as skipped,
            s.max_at as state_last_at, s.last_lat as state_last_lat,
            s.last_long as state_last_long, bc.last_lat, bc.last_long,
            coalesce(cardinality(s.times), 0) as base,
            coalesce(s.sum_before, 0) as sum_before, coalesce(s.squares_before, 0) as squares_before
        from batch_cards as bc
        left join features.card_windows as s using (card_token)
    ),
    card_windows as materialized (
        -- Each step in a LATERAL ... OFFSET 0 is evaluated once per row, and the CTE is
        -- materialized (an inlined CTE column is re-evaluated wherever it is used). It
        -- carries the batch columns the final assembly reads, so that joins it alone.
        select b.transaction_id, b.transacted_at, b.amount, b.home_lat, b.home_long,
            b.merchant_lat, b.merchant_long, b.cardholder_birth_date,
            (at.p - 1 - at.j1h)::bigint as card_tx_count_1h,
            coalesce(sums.now - sums.before_1h, 0) as card_amount_sum_1h,
            (at.p - 1 - at.j24h)::bigint as card_tx_count_24h,
            coalesce(sums.now - sums.before_24h, 0) as card_amount_sum_24h,
            (at.p - 1 - at.j7d)::bigint as card_tx_count_7d,
            coalesce(sums.now - sums.before_7d, 0) as card_amount_sum_7d,
            sums.n_30d::bigint as card_tx_count_30d,
            coalesce(moments.sum_30d, 0) as card_amount_sum_30d,
            moments.sum_30d / nullif(sums.n_30d, 0)::numeric as amount_mean_30d,
            -- numeric stddev_samp: the root of the variance, correctly rounded at the
            -- variance's scale, 0 when the variance is 0, NULL under two rows. sqrt()
            -- rounds at a scale of its own (at least as fine), so rounding its result again
            -- could round a ...4999|5 up; the exact check below (numeric multiplication is
            -- exact) steps such a root down.
            case
                when sums.n_30d <= 1 then null
                when moments.variance <= 0 then 0::numeric
                when (root.r - 0.5 * 0.1 ^ root.s) * (root.r - 0.5 * 0.1 ^ root.s)
                     > moments.variance
                    then round(root.r - 0.1 ^ root.s, root.s)
                else root.r
            end as amount_std_30d,
            -- The first use of the category from the window's start, if before the row.
            coalesce(array_position(c.categories, b.category, at.j30d + 1) < at.p, false)
                as used_category_30d,
            dist.merchants as distinct_merchants_24h,
            dist.categories as distinct_categories_24h,
            -- The previous transaction: the batch's previous row of the card, or for its
            -- first row the state's newest.
            case when b.k = 1 then c.state_last_at else b.previous_at end as previous_at,
            features.distance_km(
                case when b.k = 1 then c.state_last_lat else b.previous_lat end,
                case when b.k = 1 then c.state_last_long else b.previous_long end,
                b.merchant_lat, b.merchant_long) as km_from_previous
        from batch as b
        join cards as c using (card_token)
        cross join lateral (
            -- The row's position, and the last position at or before each window's start.
            select c.base + b.k as p,
                   width_bucket(b.transacted_at - interval '1 hour', c.times) as j1h,
                   width_bucket(b.transacted_at - interval '24 hours', c.times) as j24h,
                   width_bucket(b.transacted_at - interval '7 days', c.times) as j7d,
                   width_bucket(b.transacted_at - interval '30 days', c.times) as j30d
            offset 0
        ) as at
        cross join lateral (
            -- Running sums before the row and before each window.
            select c.cums[at.p - 1] as now,
                   case when at.j1h = 0 then c.sum_before else c.cums[at.j1h] end as before_1h,
                   case when at.j24h = 0 then c.sum_before else c.cums[at.j24h] end
                       as before_24h,
                   case when at.j7d = 0 then c.sum_before else c.cums[at.j7d] end as before_7d,
                   case when at.j30d = 0 then c.sum_before else c.cums[at.j30d] end
                       as before_30d,
                   c.squares[at.p - 1]
                       - case when at.j30d = 0 then c.squares_before else c.squares[at.j30d] end
                       as squares_30d,
                   at.p - 1 - at.j30d as n_30d
            offset 0
        ) as sums
        cross join lateral (
            -- The variance exactly as numeric var_samp computes it: the same numerator
            -- and denominator, so the same value and scale.
            select sums.now - sums.before_30d as sum_30d,
                   case when sums.n_30d > 1 then
                       (sums.n_30d * sums.squares_30d
                        - (sums.now - sums.before_30d) * (sums.now - sums.before_30d))
                       / (sums.n_30d * (sums.n_30d - 1))::numeric
                   end as variance
            offset 0
        ) as moments
        cross join lateral (
            select round(sqrt(moments.variance), scale(moments.variance)) as r,
                   scale(moments.variance) as s
            offset 0
        ) as root
        cross join lateral (
            -- Distinct merchants and categories of the last 24 hours: the elements that are
            -- their value's first in the slice (no nulls: the columns are NOT NULL), one
            -- pass without the sort a count(distinct) does.
            select count(*) filter (where array_position(s.ms, u.m) = u.i) as merchants,
                   count(*) filter (where array_position(s.cs, u.c) = u.i) as categories
            from (select c.merchants[at.j24h + 1 - c.skipped:at.p - 1 - c.skipped] as ms,
                         c.categories[at.j24h + 1:at.p - 1] as cs offset 0) as s,
                 unnest(s.ms, s.cs) with ordinality as u(m, c, i)
        ) as dist
    ),
    stored as (
        insert into features.card_windows
        select c.card_token, c.times[cardinality(c.times)],
            case when x.j = 1 then c.sum_before else c.cums[x.j - 1] end,
            case when x.j = 1 then c.squares_before else c.squares[x.j - 1] end,
            c.cums[cardinality(c.cums)], c.squares[cardinality(c.squares)],
            c.times[x.j:], c.cums[x.j:], c.squares[x.j:], c.categories[x.j:],
            c.merchants[x.j_merchants - c.skipped:], c.last_lat, c.last_long
        from cards as c
        cross join lateral (
            select width_bucket(c.times[cardinality(c.times)] - interval '31 days', c.times) + 1
                       as j,
                   width_bucket(c.times[cardinality(c.times)] - interval '25 hours', c.times) + 1
                       as j_merchants
        ) as x
        on conflict (card_token) do update set max_at = excluded.max_at,
            sum_before = excluded.sum_before, squares_before = excluded.squares_before,
            sum_through = excluded.sum_through, squares_through = excluded.squares_through,
            times = excluded.times, cum_amounts = excluded.cum_amounts,
            cum_squares = excluded.cum_squares, categories = excluded.categories,
            merchants = excluded.merchants, last_lat = excluded.last_lat,
            last_long = excluded.last_long
    ),
    merchant_bounds as materialized (
        -- A merchant is tiled when every label event of it arrived before the batch's first
        -- row of it: each row then sees every transaction's latest label, and its counts
        -- are whole days from the tiles plus the two partial days at the window's ends.
        -- A merchant never labelled has no tiles to read: its counts are 0.
        select b.merchant, min(b.transacted_at) as first_at, max(b.transacted_at) as last_at,
               not v_batch_labelled
                   and coalesce(max(a.max_labeled_at) < min(b.transacted_at), true) as tiled,
               max(a.max_labeled_at) is not null as labelled
        from batch as b
        left join features.merchant_label_arrivals as a using (merchant)
        group by b.merchant
    ),
    merchant_tiles as materialized (
        -- Each tiled merchant's tiles a row reads whole: the days after its first batch
        -- row's window start day and before its last batch row's day, in one pass over the
        -- table's (merchant, day) key. The days that have a tile, in order, with running
        -- sums (a day without a tile adds nothing): the whole days of that range up to and
        -- including day D sum to frauds[width_bucket(D, days)] (NULL, read as 0, before
        -- the first tile or for a merchant with no tile in the range), and a row's whole
        -- days (window start day, t's day) are a difference of two such sums.
        select c.merchant,
               array_agg(c.day order by c.day) as days,
               array_agg(c.frauds order by c.day) as frauds,
               array_agg(c.labelled order by c.day) as labelled
        from (
            select d.merchant, d.day,
                   sum(d.frauds) over by_day::bigint as frauds,
                   sum(d.labelled) over by_day::bigint as labelled
            from merchant_bounds as mb
            join features.merchant_label_days as d
                on d.merchant = mb.merchant
               and d.day > ((mb.first_at - interval '30 days') at time zone 'UTC')::date
               and d.day < (mb.last_at at time zone 'UTC')::date
            where mb.tiled and mb.labelled
            window by_day as (partition by d.merchant order by d.day rows unbounded preceding)
        ) as c
        group by c.merchant
    ),
    merchant_edge_days as (
        -- The days the batch's windows start and end in, per tiled merchant.
        select distinct b.merchant, x.day
        from batch as b
        join merchant_bounds as mb using (merchant)
        cross join lateral (values
            ((b.transacted_at at time zone 'UTC')::date),
            (((b.transacted_at - interval '7 days') at time zone 'UTC')::date),
            (((b.transacted_at - interval '30 days') at time zone 'UTC')::date)) as x(day)
        where mb.tiled and mb.labelled
    ),
    merchant_edges as materialized (
        -- The latest label of each transaction of those days, in event-time order, with
        -- running counts (as merchant_windows below, for a few days instead of 30).
        select r.merchant,
               array_agg(r.transacted_at order by r.n) as times,
               array_agg(r.frauds order by r.n) as frauds,
               array_agg(r.labelled order by r.n) as labelled
        from (
            select l.merchant, l.transacted_at,
                   row_number() over in_time as n,
                   count(*) filter (where l.new_value) over in_time as frauds,
                   count(*) filter (where l.new_value is not null) over in_time as labelled
            from (
                select ed.merchant, e.transacted_at, e.transaction_id, e.new_value
                from merchant_edge_days as ed
                cross join lateral (
                    select distinct on (e.transaction_id)
                           e.transacted_at, e.transaction_id, e.new_value
                    from scoring.label_events as e
                    where e.merchant = ed.merchant
                      and e.transacted_at >= (ed.day::timestamp at time zone 'UTC')
                      and e.transacted_at < ((ed.day + 1)::timestamp at time zone 'UTC')
                    order by e.transaction_id, e.labeled_at desc, e.label_event_id desc
                ) as e
            ) as l
            window in_time as (partition by l.merchant order by l.transacted_at, l.transaction_id
                               rows unbounded preceding)
        ) as r
        group by r.merchant
    ),
    merchant_windows as materialized (
        -- Each batch merchant's labelled transactions of the window the batch can see,
        -- once per batch (not once per row): each one's latest label event, in event-time
        -- order, with running counts of fraud and of labelled transactions. A merchant is
        -- settled when every such event arrived before the batch's first row of the
        -- merchant (labeled_at < first_at), so every row of the batch sees the same latest
        -- labels: a row's counts are then differences of two running counts at positions
        -- found by binary search (width_bucket), as the card windows' are. An unsettled
        -- merchant (a label arrived during the batch's event time, or a label of a row of
        -- this batch) is read row by row below, as compute_range reads it.
        select mb.merchant, w.*
        from merchant_bounds as mb
        cross join lateral (
            select bool_or(r.unsettled) as unsettled,
                   array_agg(r.transacted_at order by r.n) as times,
                   array_agg(r.frauds order by r.n) as frauds,
                   array_agg(r.labelled order by r.n) as labelled
            from (
                select l.transacted_at, l.unsettled,
                       row_number() over in_time as n,
                       count(*) filter (where l.new_value) over in_time as frauds,
                       count(*) filter (where l.new_value is not null) over in_time as labelled
                from (
                    -- The latest event has the latest labeled_at: if any event of the
                    -- transaction arrived at or after first_at, this one did.
                    select distinct on (e.transacted_at, e.transaction_id)
                           e.transacted_at, e.transaction_id, e.new_value,
                           e.labeled_at >= mb.first_at
                               or e.transaction_id between p_first_id and p_last_id
                               as unsettled
                    from scoring.label_events as e
                    where e.merchant = mb.merchant
                      and e.transacted_at > mb.first_at - interval '30 days'
                      and e.transacted_at <= mb.last_at
                    order by e.transacted_at, e.transaction_id, e.labeled_at desc,
                             e.label_event_id desc
                ) as l
                window in_time as (order by l.transacted_at, l.transaction_id
                                   rows unbounded preceding)
            ) as r
        ) as w
        where not mb.tiled
    ),
    merchant_labels as (
        -- What was known at t about other transactions at this merchant: each one's latest
        -- label that arrived before t. Settled merchants: counts in (t - 7 days, t] and
        -- (t - 30 days, t] from the running counts (an index 0 reads NULL: no rows).
        select b.transaction_id,
            coalesce(w.frauds[at.j_now], 0) - coalesce(w.frauds[at.j7d], 0)
                as merchant_fraud_count_7d,
            coalesce(w.labelled[at.j_now], 0) - coalesce(w.labelled[at.j7d], 0)
                as merchant_labeled_count_7d,
            coalesce(w.frauds[at.j_now], 0) - coalesce(w.frauds[at.j30d], 0)
                as merchant_fraud_count_30d,
            coalesce(w.labelled[at.j_now], 0) - coalesce(w.labelled[at.j30d], 0)
                as merchant_labeled_count_30d
        from batch as b
        join merchant_windows as w using (merchant)
        cross join lateral (
            select width_bucket(b.transacted_at, w.times) as j_now,
                   width_bucket(b.transacted_at - interval '7 days', w.times) as j7d,
                   width_bucket(b.transacted_at - interval '30 days', w.times) as j30d
            offset 0
        ) as at
        where w.unsettled is not true
        union all
        -- Unsettled merchants: the label history read per row (a few rows per merchant),
        -- never the merchant's whole traffic.
        select
            batch.transaction_id,
            known.*
        from batch
        join merchant_windows as w using (merchant)
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
        where w.unsettled
        union all
        -- Tiled merchants: a window (t - w, t] is the rest of the day t - w falls in (from
        -- the edge rows), the whole days after it up to t's day (from the tiles), and t's
        -- day up to t (edge rows). "Up to the end of a day" is "at or before its last
        -- microsecond" (timestamptz's resolution).
        select b.transaction_id,
            (coalesce(me.frauds[at.e_7d_end], 0) - coalesce(me.frauds[at.e_7d], 0))
                + (coalesce(mt.frauds[at.t_before], 0) - coalesce(mt.frauds[at.t_7d], 0))
                + (coalesce(me.frauds[at.e_now], 0) - coalesce(me.frauds[at.e_day], 0)),
            (coalesce(me.labelled[at.e_7d_end], 0) - coalesce(me.labelled[at.e_7d], 0))
                + (coalesce(mt.labelled[at.t_before], 0) - coalesce(mt.labelled[at.t_7d], 0))
                + (coalesce(me.labelled[at.e_now], 0) - coalesce(me.labelled[at.e_day], 0)),
            (coalesce(me.frauds[at.e_30d_end], 0) - coalesce(me.frauds[at.e_30d], 0))
                + (coalesce(mt.frauds[at.t_before], 0) - coalesce(mt.frauds[at.t_30d], 0))
                + (coalesce(me.frauds[at.e_now], 0) - coalesce(me.frauds[at.e_day], 0)),
            (coalesce(me.labelled[at.e_30d_end], 0) - coalesce(me.labelled[at.e_30d], 0))
                + (coalesce(mt.labelled[at.t_before], 0) - coalesce(mt.labelled[at.t_30d], 0))
                + (coalesce(me.labelled[at.e_now], 0) - coalesce(me.labelled[at.e_day], 0))
        from batch as b
        join merchant_bounds as mb using (merchant)
        left join merchant_tiles as mt using (merchant)
        left join merchant_edges as me using (merchant)
        cross join lateral (
            select -- Tiles: whole days after the window's first day, before t's day.
                   width_bucket(d.dt - 1, mt.days) as t_before,
                   width_bucket(d.d7, mt.days) as t_7d,
                   width_bucket(d.d30, mt.days) as t_30d,
                   width_bucket(b.transacted_at, me.times) as e_now,
                   width_bucket((d.dt::timestamp at time zone 'UTC') - interval '1 microsecond',
                                me.times) as e_day,
                   width_bucket(b.transacted_at - interval '7 days', me.times) as e_7d,
                   width_bucket(((d.d7 + 1)::timestamp at time zone 'UTC')
                                - interval '1 microsecond', me.times) as e_7d_end,
                   width_bucket(b.transacted_at - interval '30 days', me.times) as e_30d,
                   width_bucket(((d.d30 + 1)::timestamp at time zone 'UTC')
                                - interval '1 microsecond', me.times) as e_30d_end
            from (select (b.transacted_at at time zone 'UTC')::date as dt,
                         ((b.transacted_at - interval '7 days') at time zone 'UTC')::date as d7,
                         ((b.transacted_at - interval '30 days') at time zone 'UTC')::date as d30
                  offset 0) as d
            offset 0
        ) as at
        where mb.tiled and mb.labelled
        union all
        select b.transaction_id, 0, 0, 0, 0
        from batch as b
        join merchant_bounds as mb using (merchant)
        where mb.tiled and not mb.labelled
    ),

    final as (
        select
            cw.transaction_id,
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
            round((cw.amount - cw.amount_mean_30d) / nullif(cw.amount_std_30d, 0), 6)::float8
                as amount_zscore_30d,
            round(cw.amount / nullif(cw.amount_mean_30d, 0), 6)::float8 as amount_ratio_30d,
            extract(epoch from cw.transacted_at - cw.previous_at)::float8
                as seconds_since_previous,
            cw.km_from_previous,
            features.distance_km(cw.home_lat, cw.home_long,
                                 cw.merchant_lat, cw.merchant_long) as km_from_home,
            cw.km_from_previous
                / greatest(extract(epoch from cw.transacted_at - cw.previous_at)::float8,
                           60.0) * 3600.0 as speed_kmh_from_previous,
            cw.distinct_merchants_24h,
            cw.distinct_categories_24h,
            not cw.used_category_30d as is_new_category_30d,
            extract(hour from cw.transacted_at at time zone 'UTC')::int as hour_of_day,
            extract(isodow from cw.transacted_at at time zone 'UTC')::int as day_of_week,
            extract(year from age((cw.transacted_at at time zone 'UTC')::date,
                                  cw.cardholder_birth_date))::int as cardholder_age_years,
            ml.merchant_fraud_count_7d,
            round(ml.merchant_fraud_count_7d::numeric / nullif(ml.merchant_labeled_count_7d, 0), 6)
                ::float8 as merchant_fraud_rate_7d,
            ml.merchant_fraud_count_30d,
            round(ml.merchant_fraud_count_30d::numeric / nullif(ml.merchant_labeled_count_30d, 0),
                  6)::float8 as merchant_fraud_rate_30d,
            now() as computed_at
        from card_windows as cw
        join merchant_labels as ml using (transaction_id)
    )

    select (f::features.transaction_features).* from final as f;

    -- Rows that arrived out of event-time order: today's definition, then their cards'
    -- state rebuilt from the stored rows.
    if cardinality(v_late) > 0 then
        return query
        select f.*
        from ingest.transactions as t
        cross join lateral features.compute_range(t.transaction_id, t.transaction_id) as f
        where t.transaction_id between p_first_id and p_last_id
          and t.card_token = any(v_late);
        perform features.rebuild_card_windows(p_last_id, v_late);
    end if;
    update features.card_windows_through set through_id = p_last_id;
end;
$fn$;

comment on function features.compute_batch(bigint, bigint) is
    'Feature set 1 for ids in [p_first_id, p_last_id] from the card windows, moving them forward: the ingest path; equal to compute_range.';

revoke all on function features.compute_batch(bigint, bigint) from public;
