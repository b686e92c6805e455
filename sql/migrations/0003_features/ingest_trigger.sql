-- Features computed as rows land: set-based, once per insert statement. Applied by 0003.
--
-- BEFORE the statement: take the ingest lock, so ids are allocated and committed in
-- order (when a row is computed, every lower id has committed or never will).
-- AFTER the statement: compute the new rows' features from the transition table's id
-- range with features.compute_range, the same function a backfill uses, and advance the
-- event clock.

create function features.lock_ingest() returns void
language plpgsql
as $$
begin
    if current_setting('transaction_isolation') <> 'read committed' then
        raise exception 'pgfraud ingest needs READ COMMITTED isolation, not %',
            current_setting('transaction_isolation');
    end if;
    -- One transaction-level lock, released at commit: 'pgfraud ingest' as two int4 keys.
    perform pg_advisory_xact_lock(1885430374, 1);
end;
$$;

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
    insert into features.transaction_features
    select * from features.compute_range(first_id, last_id);
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

-- Feature queries read the last 30 days through index-only scans; vacuum the append-only
-- table often enough that its visibility map stays current (the default waits for 20 %
-- growth, leaving recent pages to heap fetches).
alter table ingest.transactions set (
    autovacuum_vacuum_insert_threshold = 20000,
    autovacuum_vacuum_insert_scale_factor = 0.01
);
