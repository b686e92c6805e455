-- The insert's triggers leave features and the scoring queue to the follower in 'follower'
-- mode (features/ingest_triggers.sql, scoring/pending.sql).

create or replace function features.after_transactions_insert() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    first_id bigint;
    last_id bigint;
    latest timestamptz;
begin
    select min(transaction_id), max(transaction_id), max(transacted_at)
    into first_id, last_id, latest
    from new_rows;
    if first_id is null then
        return null;
    end if;
    -- In 'follower' mode features.compute_pending computes them (features/follower.sql).
    if (select m.computed_by from features.compute_mode as m) = 'ingest' then
        insert into features.transaction_features
        select * from features.compute_batch(first_id, last_id);
    end if;
    update ingest.event_clock set max_transacted_at = greatest(max_transacted_at, latest);
    return null;
end;
$$;

create or replace function scoring.enqueue_new_transactions() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    -- In 'follower' mode a row is queued when its features are stored
    -- (features.compute_pending); this wakes the follower instead.
    if (select m.computed_by from features.compute_mode as m) = 'follower' then
        perform pg_notify('pgfraud_stored', '');
        return null;
    end if;
    insert into scoring.pending (transaction_id)
    select transaction_id from new_rows;
    -- Wakes idle scorers at commit; identical notifications in a transaction fold into one.
    perform pg_notify('pgfraud_ingest', '');
    return null;
end;
$$;
