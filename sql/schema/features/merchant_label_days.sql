-- Merchant label tiles: per merchant and UTC day of event time, how many transactions'
-- latest labels say fraud and how many are labelled at all, kept as label events arrive.
--
-- features.compute_batch counts a batch merchant's labels over (t - 7 days, t] and
-- (t - 30 days, t] from these: the whole days inside a window summed from the tiles, the
-- two partial days at its ends read from the label history (Feast's tiling: merged full
-- tiles plus raw rows at the edges). That is exact when every label event of the merchant
-- arrived before the batch's first row of it (features.merchant_label_arrivals), so every
-- row sees each transaction's latest label; otherwise the merchant is counted from its
-- label history as before (docs/features.md, "Merchant label tiles").
--
-- "Latest" is the definition's (features.compute_range): the event with the greatest
-- (labeled_at, label_event_id). An event can arrive stamped before an earlier-inserted one
-- (an owner writing event-time arrivals), so the tiles follow that order, not insertion:
-- a statement's new events move a transaction's contribution from its latest event before
-- them to its latest event after them.
--
-- Kept by statement triggers on scoring.label_events: INSERT moves tiles; UPDATE, DELETE
-- (the table is append-only by grants, but the owner can) and TRUNCATE rebuild them.

create table features.merchant_label_days (
    merchant    text not null,
    day         date not null,             -- (transacted_at at time zone 'UTC')::date
    frauds      bigint not null,           -- transactions whose latest label is true
    labelled    bigint not null,           -- transactions whose latest label is not null
    primary key (merchant, day)
);

comment on table features.merchant_label_days is
    'Per merchant and event day: transactions whose latest label is fraud, and labelled; the tiles of features.compute_batch''s merchant label counts.';

create table features.merchant_label_arrivals (
    merchant        text primary key,
    max_labeled_at  timestamptz not null     -- the latest arrival of any of its label events
);

comment on table features.merchant_label_arrivals is
    'Per merchant, the latest labeled_at of its label events: a batch row at or after it sees every label the tiles hold.';

create function features.move_merchant_label_days() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    with touched as (
        select distinct n.transaction_id from new_events as n
    ),
    before as (
        -- Each touched transaction's latest event before this statement's.
        select distinct on (e.transaction_id) e.merchant, e.transacted_at, e.new_value
        from scoring.label_events as e
        join touched using (transaction_id)
        where not exists (select 1 from new_events as n
                          where n.label_event_id = e.label_event_id)
        order by e.transaction_id, e.labeled_at desc, e.label_event_id desc
    ),
    after as (
        select distinct on (e.transaction_id) e.merchant, e.transacted_at, e.new_value
        from scoring.label_events as e
        join touched using (transaction_id)
        order by e.transaction_id, e.labeled_at desc, e.label_event_id desc
    ),
    moves as (
        select merchant, (transacted_at at time zone 'UTC')::date as day,
               -(new_value is true)::int as frauds, -(new_value is not null)::int as labelled
        from before
        union all
        select merchant, (transacted_at at time zone 'UTC')::date,
               (new_value is true)::int, (new_value is not null)::int
        from after
    )
    insert into features.merchant_label_days as d (merchant, day, frauds, labelled)
    select merchant, day, sum(frauds), sum(labelled)
    from moves
    group by merchant, day
    on conflict (merchant, day) do update
        set frauds = d.frauds + excluded.frauds, labelled = d.labelled + excluded.labelled;

    insert into features.merchant_label_arrivals as a (merchant, max_labeled_at)
    select n.merchant, max(n.labeled_at)
    from new_events as n
    group by n.merchant
    on conflict (merchant) do update
        set max_labeled_at = greatest(a.max_labeled_at, excluded.max_labeled_at);
    return null;
end;
$$;

-- The tiles of the whole label history (the migration builds them with it, and the
-- trigger below after a rewrite of the history).
create function features.rebuild_merchant_label_days() returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    delete from features.merchant_label_days;
    delete from features.merchant_label_arrivals;
    insert into features.merchant_label_days (merchant, day, frauds, labelled)
    select merchant, (transacted_at at time zone 'UTC')::date,
           count(*) filter (where new_value), count(*) filter (where new_value is not null)
    from (
        select distinct on (e.transaction_id) e.merchant, e.transacted_at, e.new_value
        from scoring.label_events as e
        order by e.transaction_id, e.labeled_at desc, e.label_event_id desc
    ) as latest
    group by 1, 2;
    insert into features.merchant_label_arrivals (merchant, max_labeled_at)
    select e.merchant, max(e.labeled_at) from scoring.label_events as e group by e.merchant;
end;
$$;

create function features.after_label_events_rewrite() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform features.rebuild_merchant_label_days();
    return null;
end;
$$;

create trigger label_events_move_merchant_label_days
    after insert on scoring.label_events
    referencing new table as new_events
    for each statement
    execute function features.move_merchant_label_days();

create trigger label_events_rebuild_merchant_label_days
    after update or delete or truncate on scoring.label_events
    for each statement
    execute function features.after_label_events_rewrite();

revoke all on function features.move_merchant_label_days(),
    features.rebuild_merchant_label_days(), features.after_label_events_rewrite() from public;
