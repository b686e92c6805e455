-- The scoring queue: every committed transaction waits here until it is scored. Applied
-- by migration 0005.
--
-- An AFTER INSERT statement trigger on ingest.transactions enqueues the statement's new
-- rows in the producer's own transaction, so a row becomes claimable exactly when it
-- commits, whatever order producers commit in (no id watermark to skip past a late
-- commit). A scorer claims a batch with DELETE ... FOR UPDATE SKIP LOCKED and writes its
-- predictions in the same transaction: the claim and the outputs commit together or not
-- at all, and concurrent workers never claim the same row.

create table scoring.pending (
    transaction_id  bigint primary key,
    enqueued_at     timestamptz not null default now()
);

comment on table scoring.pending is
    'Transactions committed but not yet scored by the champion; scorers claim and delete rows.';

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

-- Transactions stored before this revision and not yet scored by any champion.
insert into scoring.pending (transaction_id)
select t.transaction_id
from ingest.transactions as t
where not exists (
    select from scoring.predictions as p
    where p.transaction_id = t.transaction_id and not p.is_shadow
);
