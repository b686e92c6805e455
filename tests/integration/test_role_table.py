"""Each role may do exactly what the README's role table allows, checked from the catalog.

``ROLE_TABLE`` below is that table. The denials are not listed by hand: for each role the
test reads the catalog (every relation, column, sequence and function in the project's
schemas, and the schemas themselves) and checks every privilege both ways: what the
catalog grants must be exactly what the role table allows, so an extra grant and a lost
grant both fail; and every denied privilege that has a harmless statement is also tried
as the role and must fail with SQLSTATE 42501 (tests/privileges.py). A table, view,
column or function that a future migration adds is covered the day it is added, with no
change here: nothing in the role table allows it, so everything on it must be denied.
The test also adds a table to every schema as the owner, as a future migration or dbt
would, so default privileges are checked too. All violations of a role are reported in
one assertion message.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.privileges import ALL, READ, Allowed, all_but, only, violations

# The README's role table: everything each role may do; nothing else is allowed.
# Relations: verb -> columns (ALL: granted on the relation itself); "analytics.*" is
# every table and view in analytics, now and later (default privileges).
ROLE_TABLE: dict[str, Allowed] = {
    "pgfraud_producer": Allowed(
        usage={"ingest", "truth"},
        relations={
            "ingest.staged_transactions": {"INSERT": all_but("refusal")},
            "ingest.staged_quarantine": {"INSERT": ALL},
            "truth.fraud_incidents": {"INSERT": ALL},
        },
        functions={"ingest.accept_batch(uuid)"},
    ),
    "pgfraud_scorer": Allowed(
        usage={"ingest", "features", "scoring", "ml"},
        relations={
            "ingest.transactions": READ,
            "features.transaction_features": READ,
            "features.feature_sets": READ,
            "features.model_input_v1": READ,
            "ml.models": READ,
            "ml.model_events": READ,
            "scoring.label_events": READ,
            "scoring.predictions": READ,
            # UPDATE only because the claim's FOR UPDATE needs it.
            "scoring.pending": {"SELECT": ALL, "UPDATE": ALL, "DELETE": ALL},
            "scoring.scores": {
                "SELECT": ALL,
                "INSERT": only("transaction_id", "model_version", "feature_set_version",
                               "is_shadow", "score", "threshold", "is_alert", "latency_ms"),
            },
            "scoring.alerts": {
                "SELECT": ALL,
                "INSERT": only("transaction_id", "model_version", "score", "threshold",
                               "card_last4", "amount", "merchant", "category",
                               "transacted_at", "reasons"),
            },
        },
        # The feature follower (`pgfraud features follow`) runs as the scorer.
        functions={"scoring.alert_json(scoring.alerts)", "features.compute_pending(integer)"},
    ),
    "pgfraud_analyst": Allowed(
        usage={"scoring", "ingest"},
        relations={
            "scoring.predictions": {"SELECT": ALL, "UPDATE": only("true_value", "label_note")},
            "scoring.labels": READ,
            "scoring.alerts": READ,
            "scoring.review_queue": READ,
            "scoring.label_events": READ,
            "ingest.transactions": {"SELECT": only("transaction_id", "trans_num")},
        },
        functions={"scoring.alert_json(scoring.alerts)"},  # pgfraud alerts tail
    ),
    "pgfraud_trainer": Allowed(
        usage={"ingest", "features", "scoring", "ml"},
        relations={
            "features.model_input_v1": READ,
            "features.feature_sets": READ,
            "scoring.label_events": READ,
            "ingest.event_clock": READ,
            "ml.models": READ,
            "ml.model_events": READ,
            "ml.training_runs": {"SELECT": ALL, "INSERT": ALL},
            "ml.retrain_decisions": {"SELECT": ALL, "INSERT": ALL},
        },
        functions={
            "ml.promote(integer)", "ml.shadow(integer)", "ml.retire(integer)", "ml.rollback()",
            "ml.feature_drift(integer, timestamptz, timestamptz)",
            # Guardrails and the live evidence a challenger is judged on (0008).
            "ml.population_stability(jsonb, double precision[])",
            "ml.serving_health(integer, boolean, timestamptz, timestamptz)",
            "ml.shadow_since(integer)",
            "ml.paired_live_scores(integer, integer, timestamptz, timestamptz)",
            "ml.register_model(bytea, text, text[], integer, double precision, timestamptz,"
            " timestamptz, timestamptz, jsonb, jsonb, jsonb, text)",
            "ml.link_training_run(bigint)",
        },
    ),
    "pgfraud_api": Allowed(
        usage={"api", "ingest", "features", "scoring", "ml"},
        relations={
            # Stores as a producer does...
            "ingest.staged_transactions": {"INSERT": all_but("refusal")},
            "ingest.staged_quarantine": {"INSERT": ALL},
            # ...finds what it stored, and why a row was refused...
            "ingest.transactions": READ,
            "ingest.quarantine": {"SELECT": only("trans_num", "reason", "detail", "source",
                                                 "quarantined_at")},
            # ...scores with the champion as the scorer does...
            "features.model_input_v1": READ,
            "ml.models": READ,
            "scoring.pending": {"SELECT": ALL, "UPDATE": ALL, "DELETE": ALL},
            "scoring.scores": {
                "SELECT": ALL,
                "INSERT": only("transaction_id", "model_version", "feature_set_version",
                               "is_shadow", "score", "threshold", "is_alert", "latency_ms"),
            },
            "scoring.alerts": {
                "SELECT": ALL,
                "INSERT": only("transaction_id", "model_version", "score", "threshold",
                               "card_last4", "amount", "merchant", "category",
                               "transacted_at", "reasons"),
            },
            # ...and records its decisions; it reads the token hashes, never writes them.
            "api.clients": READ,
            "api.decisions": {"SELECT": ALL, "INSERT": ALL},
        },
        # compute_pending: the rows before a request's own get features with the follower.
        functions={"ingest.accept_batch(uuid)", "scoring.alert_json(scoring.alerts)",
                   "features.compute_pending(integer)"},
    ),
    "pgfraud_reader": Allowed(
        usage={"analytics", "scoring"},  # scoring: nothing in it is readable
        relations={"analytics.*": READ},
    ),
}
ROLES = tuple(ROLE_TABLE)


@pytest.mark.parametrize("role", ROLES)
def test_role_may_do_exactly_what_the_role_table_says(db_url: str, role: str) -> None:
    with psycopg.connect(db_url) as conn, conn.transaction(force_rollback=True):
        problems, compared, tried = violations(conn, role, ROLE_TABLE[role])
    assert not problems, (
        f"{role}: {len(problems)} violation(s) of the role table ({compared} privileges "
        f"compared, {tried} statements tried):\n" + "\n".join(problems))
