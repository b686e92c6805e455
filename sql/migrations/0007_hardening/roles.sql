-- Privileges after migration 0007: each role may do what the README's role table says,
-- and nothing else (tests/integration/test_privileges.py tries every table, column and
-- function against every role, from the catalog).

-- producer: stage batches and call accept_batch; the 0001 grants on the stored tables
-- (which skipped validation, tokenization and the event-time policy) are gone.
revoke insert on ingest.transactions, ingest.quarantine from pgfraud_producer;
revoke insert on ingest.staged_transactions from pgfraud_producer;
grant insert (batch_id, ordinal, trans_num, transacted_at, card_token, card_last4, amount,
              merchant, category, merchant_lat, merchant_long, home_lat, home_long,
              city_pop, cardholder_birth_date, payload_sha256, source, is_fraud,
              fraud_scenario, incident_id)
    on ingest.staged_transactions to pgfraud_producer;
grant execute on function ingest.accept_batch(uuid) to pgfraud_producer;

-- scorer: scores in (the columns a model decides, nothing about labels or times it
-- does not measure), alerts in, the joined view out.
revoke all on scoring.scores from pgfraud_scorer;
grant select on scoring.scores, scoring.predictions to pgfraud_scorer;
grant insert (transaction_id, model_version, feature_set_version, is_shadow, score,
              threshold, is_alert, latency_ms)
    on scoring.scores to pgfraud_scorer;
revoke insert on scoring.alerts from pgfraud_scorer;
grant insert (transaction_id, model_version, score, threshold, card_last4, amount, merchant,
              category, transacted_at, reasons)
    on scoring.alerts to pgfraud_scorer;

-- analyst: read predictions and labels; write a label only through the view's two label
-- columns (scoring.write_label stamps and audits).
revoke all on scoring.scores from pgfraud_analyst;
grant select, update (true_value, label_note) on scoring.predictions to pgfraud_analyst;
grant select on scoring.labels, scoring.review_queue to pgfraud_analyst;

-- trainer: registers through ml.register_model, never by INSERT or UPDATE.
revoke insert, update on ml.models from pgfraud_trainer;
grant execute on function
    ml.register_model(bytea, text, text[], integer, double precision, timestamptz,
                      timestamptz, timestamptz, jsonb, jsonb, jsonb, text),
    ml.link_training_run(bigint)
    to pgfraud_trainer;


-- Functions: none for PUBLIC (every pgfraud role is a member of PUBLIC); each role gets
-- exactly what it calls. ml.feature_drift runs as its owner and was executable by every
-- role since 0006. A function added later is executable by PUBLIC until revoked, as
-- PostgreSQL's defaults go: the privilege test, generated from the catalog, fails then.
revoke execute on all functions in schema ingest, features, scoring, ml from public;
grant execute on function scoring.alert_json(scoring.alerts) to pgfraud_scorer, pgfraud_analyst;
grant execute on function ml.feature_drift(integer, timestamptz, timestamptz)
    to pgfraud_trainer;
