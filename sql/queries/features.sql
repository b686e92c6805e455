-- Queries for feature backfill and the feature follower (loaded by
-- pgfraud.kernel.queries). Role: owner, but compute_pending runs as pgfraud_scorer.

-- name: id_bounds
-- The transaction ids a backfill walks (an empty table gives 0 and -1: no chunk). With
-- the feature follower, only up to its through_id: the rows after it are the follower's
-- to compute and queue.
select coalesce(min(t.transaction_id), 0),
       coalesce(case when (select m.computed_by from features.compute_mode as m) = 'follower'
                     then least(max(t.transaction_id),
                                (select coalesce(w.through_id, 0) from features.card_windows_through as w))
                     else max(t.transaction_id) end, -1)
from ingest.transactions as t

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

-- name: computed_by
-- Where features are computed ('ingest' or 'follower'), since when, and the rows waiting
-- for the follower (stored after the card windows' through_id).
select m.computed_by, m.changed_at,
       (select count(*) from ingest.transactions as t
        where t.transaction_id > coalesce(w.through_id, 0)) as waiting
from features.compute_mode as m
cross join features.card_windows_through as w

-- name: set_computed_by
-- Switch where features are computed (to 'ingest': every waiting row computed first).
select computed_by, caught_up from features.set_computed_by(%(computed_by)s)

-- name: compute_pending
-- The follower's step: features of at most max_rows stored rows after through_id, queued
-- for scoring, in this transaction.
select computed, through_id from features.compute_pending(%(max_rows)s)
