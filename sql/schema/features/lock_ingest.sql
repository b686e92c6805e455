-- The ingest lock: one transaction-level advisory lock that serialises everything that
-- must see ingest in id order. Taken before every insert into ingest.transactions
-- (features/ingest_triggers.sql), so ids are allocated and committed in order: when a
-- row's features are computed, every lower id has committed or never will. Label changes,
-- event-time policy changes and clock repairs take it too, so they serialise with ingest
-- batches.

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

revoke all on function features.lock_ingest() from public;
