-- A follower step covers the next max_rows stored rows, not the next max_rows ids: ids
-- have gaps (a batch whose transaction rolled back used its ids), and a step over a gap
-- at least that wide computed nothing while rows waited beyond it, so
-- `pgfraud features follow --once` stopped with rows waiting and the loop slept a turn
-- per empty step (sql/schema/features/follower.sql says why the step is exact).

create or replace function features.compute_pending(
    p_max_rows integer default null,
    out computed bigint,
    out through_id bigint
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_from bigint;
    v_to bigint;
begin
    if current_setting('transaction_isolation') <> 'read committed' then
        raise exception 'pgfraud feature computation needs READ COMMITTED isolation, not %',
            current_setting('transaction_isolation');
    end if;
    if p_max_rows is not null and p_max_rows < 1 then
        raise exception 'max_rows must be at least 1, not %', p_max_rows
            using errcode = 'invalid_parameter_value';
    end if;
    select coalesce(w.through_id, 0) into v_from
    from features.card_windows_through as w
    for update;
    select max(t.transaction_id) into v_to from ingest.transactions as t;
    computed := 0;
    through_id := v_from;
    -- An empty table, or none after through_id: nothing to compute.
    if v_to is null or v_to <= v_from then
        return;
    end if;
    -- The max_rows-th stored id after v_from (the rows up to v_to have all committed).
    if p_max_rows is not null and v_to - v_from > p_max_rows then
        select max(n.transaction_id) into v_to
        from (select t.transaction_id
              from ingest.transactions as t
              where t.transaction_id > v_from and t.transaction_id <= v_to
              order by t.transaction_id
              limit p_max_rows) as n;
    end if;
    -- A plain insert unless a row of the range already has features (one index probe):
    -- ON CONFLICT looks every key up before it inserts (5,000 rows into a table of 2M:
    -- 14.0 ms against 7.3 plain, about 5 % of a step).
    if exists (select 1 from features.transaction_features as f
               where f.transaction_id between v_from + 1 and v_to) then
        insert into features.transaction_features
        select * from features.compute_batch(v_from + 1, v_to)
        on conflict (transaction_id) do nothing;
    else
        insert into features.transaction_features
        select * from features.compute_batch(v_from + 1, v_to);
    end if;
    with covered as (
        select t.transaction_id
        from ingest.transactions as t
        where t.transaction_id between v_from + 1 and v_to
    ),
    queued as (
        insert into scoring.pending (transaction_id)
        select c.transaction_id from covered as c
        on conflict (transaction_id) do nothing
    )
    select count(*) into computed from covered;
    -- Wakes idle scorers at commit, as the insert's trigger does in 'ingest' mode.
    perform pg_notify('pgfraud_ingest', '');
    through_id := v_to;
end;
$$;

comment on function features.compute_pending(integer) is
    'Compute, store and queue for scoring the features of the stored rows after the card '
    'windows'' through_id, in id order (at most max_rows rows; NULL: all). The feature '
    'follower''s step (features.compute_mode = ''follower'').';
