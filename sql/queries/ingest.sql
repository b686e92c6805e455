-- Queries the producer runs (loaded by scorer.queries). Role: pgfraud_producer.

-- name: copy_staged
copy ingest.staged_transactions (
    batch_id, ordinal, trans_num, transacted_at, card_token, card_last4, amount, merchant,
    category, merchant_lat, merchant_long, home_lat, home_long, city_pop,
    cardholder_birth_date, payload_sha256, source, is_fraud, fraud_scenario, incident_id
) from stdin (format binary)

-- name: copy_quarantine
copy ingest.staged_quarantine (batch_id, trans_num, reason, detail, raw_payload, raw_sha256, source)
from stdin

-- name: accept_batch
select accepted, duplicates, conflicts, refused, quarantined
from ingest.accept_batch(%(batch_id)s)

-- name: insert_incident
insert into truth.fraud_incidents (incident_id, scenario, card_token, merchant, started_at, detail)
values (%(incident_id)s, %(scenario)s, %(card_token)s, %(merchant)s, %(started_at)s, %(detail)s)
on conflict do nothing
