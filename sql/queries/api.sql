-- Queries of the HTTP API (pgfraud/api/): storing, scoring and deciding authorizations,
-- and its clients' tokens (`pgfraud tokens`, run by the owner).

-- name: generic_plans
-- The API's transactions hold a few rows each, thousands of times a second. With custom
-- plans PostgreSQL planned the ingest trigger's feature statements (features.compute_batch)
-- again on every call: 14 ms for a one-row transaction, against 4.3 ms with the plans
-- made once per session (measured on one connection, 40 one-row transactions each).
-- The stream's producers keep custom plans: a 5,000-row batch pays planning once.
set plan_cache_mode = force_generic_plan

-- name: features_before_scoring
-- Features of every stored row still without them, the request's own included, queued
-- for scoring: only with the feature follower (features.compute_mode = 'follower'); a
-- follower's step in progress is waited for. Computes nothing when features are computed
-- at ingest.
select computed from features.compute_pending(null)

-- name: stored_rows
-- The rows a batch's requests were stored as (new, or stored before under that trans_num),
-- with the decision already given, if any (a retry is answered with it).
select t.trans_num, t.transaction_id, t.payload_sha256, t.source,
       d.transaction_id, d.decision, d.model_version, d.score, d.reasons, d.is_fallback,
       d.fallback_reason
from ingest.transactions as t
left join api.decisions as d using (transaction_id)
where t.trans_num = any (%(trans_nums)s::text[])

-- name: refusals
-- Why the database refused a request's row: its newest quarantine reason.
select distinct on (trans_num) trans_num, reason, detail
from ingest.quarantine
where source = 'api' and trans_num = any (%(trans_nums)s::text[])
order by trans_num, quarantined_at desc

-- name: model_input
-- The stored features of transactions to decide; feature columns appended by the caller.
select m.transaction_id {features}
from features.model_input_v1 as m
where m.transaction_id = any (%(ids)s::bigint[])

-- name: leave_queue
-- Decided by the champion, and no shadow model to wait for.
delete from scoring.pending where transaction_id = any (%(ids)s::bigint[])

-- name: shadows_only
-- Decided by the champion; the shadow models score it later, through the queue.
update scoring.pending set champion_scored = true
where transaction_id = any (%(ids)s::bigint[])

-- name: insert_decisions
-- What each new transaction was answered: the model's decision, or the fallback's.
insert into api.decisions (transaction_id, client_id, decision, model_version, score,
                           reasons, is_fallback, fallback_reason, latency_ms)
select *
from unnest(%(transaction_id)s::bigint[], %(client_id)s::integer[], %(decision)s::text[],
            %(model_version)s::integer[], %(score)s::float8[], %(reasons)s::jsonb[],
            %(is_fallback)s::boolean[], %(fallback_reason)s::text[], %(latency_ms)s::float8[])

-- name: live_tokens
-- The hashes of the tokens that may call the API, and their clients.
select token_sha256, client_id, name from api.clients where revoked_at is null

-- name: create_client
-- A client and its token's hash (the token itself is never stored).
insert into api.clients (name, token_sha256) values (%(name)s, %(token_sha256)s)
returning client_id

-- name: revoke_client
-- The client's live token stops working (the server reloads on NOTIFY).
update api.clients set revoked_at = now()
where name = %(name)s and revoked_at is null
returning client_id

-- name: list_clients
-- Every client with what it has asked for, newest first.
select c.name, c.client_id, c.created_at, c.revoked_at,
       count(d.transaction_id) as decisions, max(d.decided_at) as last_decision_at
from api.clients as c
left join api.decisions as d using (client_id)
group by c.client_id
order by c.created_at desc, c.client_id desc
