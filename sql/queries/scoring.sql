-- Queries of the scorer (scorer/scoring.py).

-- name: lock_models_shared
-- Held for the scoring transaction: ml.promote & co. take the same key exclusively, so a
-- status change waits for batches in flight, and every batch that starts after it reads
-- the new models.
select pg_advisory_xact_lock_shared(hashtext('pgfraud.ml.models'));

-- name: deployed_versions
-- The deployed (version, status) pairs: the model cache reloads when they change.
select model_version, status from ml.models
where status in ('champion', 'shadow')
order by model_version;

-- name: claim
-- Claim up to %(limit)s queued transactions (oldest first; rows other workers hold are
-- skipped) and read what scoring needs. The claim is the DELETE: it commits with the
-- predictions or rolls back with them. The feature columns are appended by the caller,
-- packed in one bytea (queries.with_packed_float8).
-- champion_scored: the API decided it inline (pgfraud serve); only shadows score it.
-- Only what scoring reads: alerts take the transaction's own columns as they insert.
-- The ids are picked once, as an array (an InitPlan): autovacuum often analyses the
-- queue while it is empty, and with `transaction_id in (select ... limit)` the planner
-- then ran the locking subquery again for every claimed row (a semi join with 1-row
-- estimates): 694 ms for a 2,000-row claim instead of 13 ms, most of the replay's
-- scoring time.
with claimed as (
    delete from scoring.pending
    where transaction_id = any (array(
        select transaction_id from scoring.pending
        order by transaction_id
        limit %(limit)s
        for update skip locked
    ))
    returning transaction_id, champion_scored
)
select c.transaction_id, m.transaction_id is not null, c.champion_scored {features}
from claimed as c
left join features.model_input_v1 as m using (transaction_id)
order by c.transaction_id;

-- name: insert_predictions
-- latency_ms: from the start of the ingest transaction (ingested_at) to this insert, a
-- moment before the prediction commits. A (transaction, model) already scored (a row
-- some other writer put there) is kept as it is: one score per model, and a row nobody
-- expected can never block the queue.
-- The arrays are binary parameters (placeholders ending in b, not s): psycopg dumps a
-- list for an s placeholder as a text array, element by element in Python (21 ms for a
-- 5,000-row batch's seven arrays, against 6 ms binary), and the server parses it again.
insert into scoring.scores (transaction_id, model_version, feature_set_version,
                            is_shadow, score, threshold, is_alert, latency_ms)
select p.transaction_id, p.model_version, p.feature_set_version, p.is_shadow, p.score,
       p.threshold, p.is_alert,
       greatest(extract(epoch from clock_timestamp() - t.ingested_at) * 1000, 0)
from unnest(%(transaction_id)b::bigint[], %(model_version)b::integer[],
            %(feature_set_version)b::integer[], %(is_shadow)b::boolean[],
            %(score)b::float8[], %(threshold)b::float8[], %(is_alert)b::boolean[])
     as p (transaction_id, model_version, feature_set_version, is_shadow, score, threshold,
           is_alert)
join ingest.transactions as t using (transaction_id)
on conflict (transaction_id, model_version) do nothing;

-- name: insert_alerts
-- One NOTIFY fraud_alert per alert, delivered when the batch commits. An alert follows
-- the stored champion decision (scores are never replaced, see insert_predictions).
with inserted as (
    insert into scoring.alerts (transaction_id, model_version, score, threshold, card_last4,
                                amount, merchant, category, transacted_at, reasons)
    select a.transaction_id, a.model_version, s.score, s.threshold, t.card_last4, t.amount,
           t.merchant, t.category, t.transacted_at, a.reasons
    from unnest(%(transaction_id)b::bigint[], %(model_version)b::integer[],
                %(reasons)b::jsonb[])
         as a (transaction_id, model_version, reasons)
    join scoring.scores as s
      on s.transaction_id = a.transaction_id and s.model_version = a.model_version
         and s.is_alert
    join ingest.transactions as t on t.transaction_id = a.transaction_id
    on conflict (transaction_id) do nothing
    returning alerts as alert
)
select pg_notify('fraud_alert', scoring.alert_json(alert)::text)
from inserted;

-- name: backlog
-- Transactions waiting for the champion, and since when (the API's, decided inline, wait
-- for the shadows only).
select count(*), min(enqueued_at) from scoring.pending where not champion_scored;

-- name: recent_alerts
-- The newest alerts as JSON payloads, oldest first (`pgfraud alerts tail` starts with them).
select scoring.alert_json(a)::text
from scoring.alerts as a
where a.alert_id in (select alert_id from scoring.alerts order by alert_id desc
                     limit %(limit)s)
order by a.alert_id;
