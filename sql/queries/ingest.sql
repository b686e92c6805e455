-- Queries the producer runs (loaded by pgfraud.kernel.queries). Role: pgfraud_producer.

-- name: copy_staged
-- A batch's rows into the staging table (binary COPY); accept_batch moves them on.
copy ingest.staged_transactions (
    batch_id, ordinal, trans_num, transacted_at, card_token, card_last4, amount, merchant,
    category, merchant_lat, merchant_long, home_lat, home_long, city_pop,
    cardholder_birth_date, payload_sha256, source, is_fraud, fraud_scenario, incident_id
) from stdin (format binary)

-- name: utf8_client_encoding
-- The staged rows are encoded as UTF-8 by the producer (producer/staging.py).
set client_encoding to 'UTF8'

-- name: copy_quarantine
-- The producer's own rejections of a batch into the staging quarantine.
copy ingest.staged_quarantine (batch_id, trans_num, reason, detail, raw_payload, raw_sha256, source)
from stdin

-- name: accept_batch
-- Store a staged batch: counts of accepted, duplicate, conflicting, refused and quarantined rows.
select accepted, duplicates, conflicts, refused, quarantined
from ingest.accept_batch(%(batch_id)s)

-- name: insert_incident
-- A simulated fraud incident's ground truth (once; the truth schema).
insert into truth.fraud_incidents (incident_id, scenario, card_token, merchant, started_at, detail)
values (%(incident_id)s, %(scenario)s, %(card_token)s, %(merchant)s, %(started_at)s, %(detail)s)
on conflict do nothing
