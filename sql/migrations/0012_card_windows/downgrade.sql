-- Undo migration 0012: the ingest trigger computes features with features.compute_range
-- again, and the card windows are dropped.

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
    select * from features.compute_range(first_id, last_id);
    update ingest.event_clock set max_transacted_at = greatest(max_transacted_at, latest);
    return null;
end;
$$;

drop function features.compute_batch(bigint, bigint);
drop function features.rebuild_card_windows(bigint, text[]);
drop table features.card_windows_through;
drop table features.card_windows;
