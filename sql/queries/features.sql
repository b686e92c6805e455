-- Queries for feature backfill (loaded by pgfraud.kernel.queries). Role: owner.

-- name: id_bounds
-- The transaction ids a backfill walks (an empty table gives 0 and -1: no chunk).
select coalesce(min(transaction_id), 0), coalesce(max(transaction_id), -1)
from ingest.transactions

-- name: lock_ingest
-- Take the ingest lock for the chunk's transaction: no ingest runs beside a backfill chunk.
select features.lock_ingest()

-- name: compute_chunk
-- A chunk's features, recomputed into a temporary table dropped at commit.
create temporary table recomputed on commit drop as
select * from features.compute_range(%(first_id)s, %(last_id)s)

-- name: insert_missing
-- Store the recomputed rows that have no feature row yet.
insert into features.transaction_features
select recomputed.*
from recomputed
where not exists (
    select from features.transaction_features as stored
    where stored.transaction_id = recomputed.transaction_id
)

-- name: compare_chunk
-- Recomputed rows against the stored ones: how many compared, the ids that differ.
select
    count(*) as compared,
    coalesce(array_agg(recomputed.transaction_id order by recomputed.transaction_id)
        filter (where to_jsonb(recomputed) - 'computed_at' <> to_jsonb(stored) - 'computed_at'),
        '{}') as different_ids
from recomputed
join features.transaction_features as stored using (transaction_id)
