-- Privileges for migration 0002's objects.

-- producer: stage batches and hand them to accept_batch; record simulated incidents.
grant insert on ingest.staged_transactions, ingest.staged_quarantine to pgfraud_producer;
grant execute on function ingest.accept_batch(uuid) to pgfraud_producer;
grant usage on schema truth to pgfraud_producer;
grant insert on truth.fraud_incidents to pgfraud_producer;
-- No other role gets anything in truth: the scoring path must never see ground truth.
