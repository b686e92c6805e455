-- The database as it is at the newest migration, one file per object (or small group of
-- objects), in the order they can be created: a file comes after everything its tables,
-- views and SQL functions refer to. This list is the apply order; sql/README.md says how
-- it relates to sql/migrations/.
--
-- Apply to an empty database (the roles may already exist in the cluster):
--   psql -v ON_ERROR_STOP=1 --single-transaction -f sql/schema/schema.sql
-- tests/catalog.py reads the same \ir lines, and tests/integration/test_schema_catalog.py
-- proves the result has exactly the catalog of `pgfraud migrate`.

\ir 00_roles.sql
\ir 01_schemas.sql

-- ingest: accepted transactions, quarantine, staging, the event clock and its policy.
\ir ingest/transactions.sql
\ir ingest/payload_sha256.sql
\ir ingest/quarantine.sql
\ir ingest/event_clock.sql
\ir ingest/event_time_policy.sql
\ir ingest/staged_transactions.sql
\ir ingest/staged_quarantine.sql
\ir ingest/has_card_number.sql
\ir ingest/accept_batch.sql

-- truth: ground truth, apart from the scoring path.
\ir truth/fraud_incidents.sql
\ir truth/fraud_transactions.sql

-- features: the stored feature table and the model's view of it.
\ir features/lock_ingest.sql
\ir features/compute_mode.sql
\ir features/feature_sets.sql
\ir features/transaction_features.sql
\ir features/distance_km.sql
\ir features/categories.sql
\ir features/model_input_v1.sql

-- ml: the model registry.
\ir ml/models.sql
\ir ml/training_runs.sql
\ir ml/model_events.sql
\ir ml/model_status.sql
\ir ml/register_model.sql

-- scoring: scores, labels and their history, the queue, alerts.
\ir scoring/scores.sql
\ir scoring/labels.sql
\ir scoring/label_events.sql
\ir scoring/predictions.sql
\ir scoring/write_label.sql
\ir scoring/write_labels.sql
\ir scoring/pending.sql
\ir scoring/alerts.sql
\ir scoring/review_queue.sql

-- Feature computation reads the label history (scoring.label_events).
\ir features/compute_range.sql
\ir features/card_windows.sql
\ir features/merchant_label_days.sql
\ir features/rebuild_card_windows.sql
\ir features/compute_batch.sql
\ir features/ingest_triggers.sql
\ir features/follower.sql

-- ml: retraining decisions, drift, guardrails and live evidence read scores and labels.
\ir ml/retrain_decisions.sql
\ir ml/feature_drift.sql
\ir ml/population_stability.sql
\ir ml/serving_health.sql
\ir ml/evidence_start.sql
\ir ml/shadow_since.sql
\ir ml/paired_live_scores.sql

-- api: the HTTP API's clients and decisions.
\ir api/clients.sql
\ir api/decisions.sql

-- analytics: dbt builds the marts; this is the one table dbt does not own.
\ir analytics/mart_builds.sql
