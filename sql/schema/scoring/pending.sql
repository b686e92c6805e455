-- The scoring queue: every committed transaction waits here until it is scored.
--
-- An AFTER INSERT statement trigger on ingest.transactions enqueues the statement's new
-- rows in the producer's own transaction (with the feature follower, the transaction that
-- stores their features: features/follower.sql), so a row becomes claimable exactly when it
-- commits, whatever order producers commit in (no id watermark to skip past a late
-- commit). A scorer claims a batch with DELETE ... FOR UPDATE SKIP LOCKED and writes its
-- predictions in the same transaction: the claim and the outputs commit together or not
-- at all, and concurrent workers never claim the same row.

create table scoring.pending (
    transaction_id  bigint primary key,
    enqueued_at     timestamptz not null default now(),
    champion_scored boolean not null default false
);

comment on table scoring.pending is
    'Transactions committed but not yet scored by the deployed models; scorers claim and '
    'delete rows (champion_scored: the API decided it, only the shadows score it).';

comment on column scoring.pending.champion_scored is
    'The champion already decided it (the HTTP API, inline): only shadow models score it.';

-- A queue churns: vacuum it often so claims do not wade through dead index entries.
alter table scoring.pending set (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 5000
);

create function scoring.enqueue_new_transactions() returns trigger
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

create trigger transactions_enqueue_for_scoring
    after insert on ingest.transactions
    referencing new table as new_rows
    for each statement
    execute function scoring.enqueue_new_transactions();

revoke all on function scoring.enqueue_new_transactions() from public;

-- scorer: claims with DELETE ... FOR UPDATE SKIP LOCKED; FOR UPDATE (the claim) needs
-- UPDATE privilege, but the scorer never updates a row.
grant select, update, delete on scoring.pending to pgfraud_scorer;
-- api: a transaction it decided leaves the queue, or stays for the shadows only.
grant select, update, delete on scoring.pending to pgfraud_api;
