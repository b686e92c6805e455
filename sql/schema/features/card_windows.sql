-- Card windows: each card's recent history, kept as the ingest trigger computes features,
-- so a new row's windows are read from one row per card instead of rescanning the card's
-- stored transactions (docs/features.md, "Card windows").
--
-- One row per card: its rows of the last 31 days before its newest event time, in
-- (event time, id) order, as parallel arrays (merchants only for the last 25 hours, the
-- distinct-merchant window), and where the newest was (the previous transaction of the
-- card's next row in order). cum_amounts and cum_squares are running
-- sums of amount and amount squared from an origin before the first element (the sums
-- before it are sum_before and squares_before; the sums through the last element are
-- sum_through and squares_through). A window's count is a difference of positions
-- (width_bucket over times, a binary search), its sum a difference of two prefix sums,
-- exact in numeric, and its standard deviation comes from those exact moments, rounded
-- as numeric stddev_samp rounds (features/compute_batch.sql).
--
-- The state covers exactly the stored rows with ids up to card_windows_through.through_id.
-- features.compute_batch rebuilds it from ingest.transactions when that is not the id
-- stored just before a batch (after a bulk load with the trigger disabled, a truncate,
-- or a computation run out of order), so a stale state is never read.

create table features.card_windows (
    card_token      text primary key,
    max_at          timestamptz not null,
    sum_before      numeric not null,
    squares_before  numeric not null,
    sum_through     numeric not null,
    squares_through numeric not null,
    times           timestamptz[] not null,
    cum_amounts     numeric[] not null,
    cum_squares     numeric[] not null,
    categories      text[] not null,
    merchants       text[] not null,
    last_lat        double precision not null,
    last_long       double precision not null
) with (toast_tuple_target = 8160, fillfactor = 50);

-- Rewritten every batch the card appears in: stored uncompressed and in line up to a
-- page (compression and out-of-line storage cost more than the arrays' size saves).
alter table features.card_windows
    alter column times set storage external,
    alter column cum_amounts set storage external,
    alter column cum_squares set storage external,
    alter column categories set storage external,
    alter column merchants set storage external;

comment on table features.card_windows is
    'Each card''s last 31 days of rows as arrays with running sums: the state features.compute_batch reads and rewrites (docs/features.md).';

create table features.card_windows_through (
    only_row    boolean primary key default true check (only_row),
    through_id  bigint
);

comment on table features.card_windows_through is
    'The id through which features.card_windows covers ingest.transactions (NULL: not built).';

insert into features.card_windows_through (only_row, through_id) values (true, null);
