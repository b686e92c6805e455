-- Features computed as rows land: set-based, once per insert statement into
-- ingest.transactions.
--
-- BEFORE the statement: take the ingest lock (features/lock_ingest.sql), so ids are
-- allocated and committed in order (when a row is computed, every lower id has committed
-- or never will).
-- AFTER the statement: compute the new rows' features from the transition table's id
-- range with features.compute_batch (the card windows; equal to features.compute_range,
-- the definition a backfill recomputes), unless the feature follower computes them
-- (features/compute_mode.sql), and advance the event clock (ingest/event_clock.sql).

create function features.before_transactions_insert() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform features.lock_ingest();
    return null;
end;
$$;

create function features.after_transactions_insert() returns trigger
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

create trigger transactions_lock_ingest
    before insert on ingest.transactions
    for each statement
    execute function features.before_transactions_insert();

create trigger transactions_compute_features
    after insert on ingest.transactions
    referencing new table as new_rows
    for each statement
    execute function features.after_transactions_insert();

revoke all on function features.before_transactions_insert(),
    features.after_transactions_insert() from public;
