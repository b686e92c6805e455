-- Back to revision 0024: every row still waiting for the follower gets its features and
-- its place in the scoring queue first, then the triggers compute them again.

select features.set_computed_by('ingest');

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
    insert into features.transaction_features
    select * from features.compute_batch(first_id, last_id);
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
    insert into scoring.pending (transaction_id)
    select transaction_id from new_rows;
    -- Wakes idle scorers at commit; identical notifications in a transaction fold into one.
    perform pg_notify('pgfraud_ingest', '');
    return null;
end;
$$;

drop function features.set_computed_by(text);
drop function features.compute_pending(integer);
drop table features.compute_mode;
