"""Names the database and the Python code share: roles and NOTIFY channels."""

from __future__ import annotations

# Roles (sql/*/roles.sql).
PRODUCER_ROLE = "pgfraud_producer"
SCORER_ROLE = "pgfraud_scorer"
ANALYST_ROLE = "pgfraud_analyst"
TRAINER_ROLE = "pgfraud_trainer"
READER_ROLE = "pgfraud_reader"
ROLES = (PRODUCER_ROLE, SCORER_ROLE, ANALYST_ROLE, TRAINER_ROLE, READER_ROLE)

# NOTIFY channels.
INGEST_CHANNEL = "pgfraud_ingest"   # new transactions committed (scoring.pending)
MODELS_CHANNEL = "pgfraud_models"   # a model's status changed (ml.model_events)
ALERT_CHANNEL = "fraud_alert"       # an alert was raised (scoring.alerts), JSON payload
