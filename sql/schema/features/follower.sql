-- The feature follower (features.compute_mode = 'follower'; docs/features.md).
--
-- features.compute_pending(max_rows) computes the features of the stored rows after the
-- card windows' through_id, in id order, at most max_rows of them, queues them for
-- scoring and moves through_id, all in the caller's transaction:
--   * One computation at a time: the through_id row is locked (FOR UPDATE) first, so a
--     second caller waits and then starts where the first one stopped.
--   * No row skipped: ingest takes the ingest lock before it allocates ids and holds it
--     to commit (features/lock_ingest.sql), so ids commit in order, and every id up to
--     the highest one this transaction sees has committed or never will. The rows'
--     features are exactly those the trigger computes (the same features.compute_batch
--     over the same id-ordered rows), whatever the batch boundaries.
--   * Labels: a label event is stamped no earlier than the event clock, which already
--     covers every stored row, so a label written between a row's storing and its
--     features has labeled_at >= the row's event time and is not counted, as it would
--     not have been at insert time (features/compute_range.sql).
--   * Nothing twice: a row is queued (scoring.pending) in the transaction that stores its
--     features, and through_id moves in it too: a follower killed mid-batch leaves
--     nothing behind, and the next call starts at the same id.
--   * Rows stored with the feature trigger disabled (a bulk load, docs/features.md) are
--     already queued, and a backfill may have stored their features since (the
--     definition's values, which compute_batch's equal): such a row keeps both, and the
--     step goes on (revision 0026; before it, the unique violation failed every later
--     step, and the API's requests with them). computed counts the stored rows the step
--     covered.
--   * Rows, not ids: a step covers the next max_rows stored rows, or all of them when
--     fewer wait, so it computes none only when none waits, and a loop that stops on 0
--     stops only then. Ids have gaps: a batch whose transaction rolled back used its
--     ids and stored nothing. Until revision 0027 a step covered the next max_rows ids,
--     and one over a gap that wide computed nothing with rows waiting beyond it:
--     `pgfraud features follow --once` stopped there and the loop slept a turn per
--     empty step. Finding the step's last id reads at most max_rows keys of the
--     primary key (an index-only scan: 0.5-1.4 ms for 5,000 at 2M stored rows, against
--     ~150 ms for the step), and none when the waiting ids span no more than that.
-- The HTTP API calls it with no limit in its own transaction after storing a request's
-- row, so the row (and every row stored before it) has features when it is scored.
-- In 'ingest' mode every stored row already has features: it computes nothing.

create function features.compute_pending(
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

revoke all on function features.compute_pending(integer) from public;
grant execute on function features.compute_pending(integer) to pgfraud_scorer, pgfraud_api;

-- Switch where features are computed. Under the ingest lock, so no batch is stored
-- between the check and the switch; to 'ingest', every row still waiting for the follower
-- is computed and queued first (caught_up), so the trigger's next batch starts right
-- after the last row with features.
create function features.set_computed_by(
    p_computed_by text,
    out computed_by text,
    out caught_up bigint
)
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if p_computed_by is null or p_computed_by not in ('ingest', 'follower') then
        raise exception 'features are computed by ''ingest'' or ''follower'', not %',
            coalesce(quote_literal(p_computed_by), 'NULL')
            using errcode = 'invalid_parameter_value';
    end if;
    perform features.lock_ingest();
    caught_up := 0;
    if p_computed_by = 'ingest' then
        select c.computed into caught_up from features.compute_pending(null) as c;
    end if;
    update features.compute_mode as m
    set computed_by = p_computed_by, changed_at = now()
    where m.computed_by is distinct from p_computed_by;
    computed_by := p_computed_by;
end;
$$;

comment on function features.set_computed_by(text) is
    'Compute features in the storing transaction (''ingest'') or by the feature follower '
    '(''follower''); switching to ''ingest'' first computes every row still waiting.';

revoke all on function features.set_computed_by(text) from public;
