"""Names and values the database and the Python code share: roles, NOTIFY channels,
the drift threshold."""

from __future__ import annotations

# Roles (sql/schema/00_roles.sql).
PRODUCER_ROLE = "pgfraud_producer"
SCORER_ROLE = "pgfraud_scorer"
ANALYST_ROLE = "pgfraud_analyst"
TRAINER_ROLE = "pgfraud_trainer"
READER_ROLE = "pgfraud_reader"
API_ROLE = "pgfraud_api"
ROLES = (PRODUCER_ROLE, SCORER_ROLE, ANALYST_ROLE, TRAINER_ROLE, READER_ROLE, API_ROLE)

# NOTIFY channels.
INGEST_CHANNEL = "pgfraud_ingest"   # new transactions committed (scoring.pending)
STORED_CHANNEL = "pgfraud_stored"   # rows stored for the feature follower (compute_mode)
MODELS_CHANNEL = "pgfraud_models"   # a model's status changed (ml.model_events)
ALERT_CHANNEL = "fraud_alert"       # an alert was raised (scoring.alerts), JSON payload
DECISIONS_CHANNEL = "pgfraud_decisions"  # a promotion decision was recorded (JSON payload)
API_CLIENTS_CHANNEL = "pgfraud_api_clients"  # an API token was created or revoked

#: Population stability index above which a feature (or the score) counts as drifted:
#: the usual rule of thumb (< 0.1 stable, 0.1-0.2 moderate, > 0.2 drifted). The
#: retraining trigger's default and the report's colour split; the dbt marts carry the
#: same number as var drift_psi_threshold (dbt/dbt_project.yml).
DRIFT_PSI_THRESHOLD = 0.2
