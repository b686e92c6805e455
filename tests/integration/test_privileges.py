"""The privilege matrix: each role can do exactly what the architecture allows.

Every statement runs as the role (``set local role``) in its own transaction, rolled
back afterwards. Denied statements must fail with SQLSTATE 42501
(insufficient_privilege); allowed ones must succeed.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors, sql

ROLES = ("pgfraud_producer", "pgfraud_scorer", "pgfraud_analyst", "pgfraud_reader",
         "pgfraud_trainer")

NEW_TRANSACTION = """
insert into ingest.transactions (trans_num, transacted_at, card_token, card_last4, amount,
    merchant, category, merchant_lat, merchant_long, payload_sha256, source)
values ('t-new', now(), repeat('b', 64), '4242', 5.00, 'm', 'grocery_pos', 1, 1,
    repeat('c', 64), 'stream')
"""
NEW_PREDICTION = """
insert into scoring.predictions (transaction_id, model_version, feature_set_version,
    score, threshold, is_alert)
values (%(tx)s, %(model)s, 1, 0.2, 0.5, false)
"""
NEW_MODEL = """
insert into ml.models (onnx_model, onnx_sha256, feature_names, feature_set_version, threshold)
values ('\\x00', repeat('e', 64), array['amount'], 1, 0.5)
"""
NEW_QUARANTINE = """
insert into ingest.quarantine (reason, raw_payload, raw_sha256, source)
values ('bad_amount', '{"amt": "x"}', md5(random()::text), 'csv')
"""

STAGE_ROW = """
insert into ingest.staged_transactions (batch_id, ordinal, trans_num, transacted_at,
    card_token, card_last4, amount, merchant, category, merchant_lat, merchant_long,
    payload_sha256, source)
values (gen_random_uuid(), 0, 't-staged', now(), repeat('b', 64), '4242', 1, 'm', 'c', 1, 1,
    repeat('c', 64), 'csv')
"""
NEW_INCIDENT = """
insert into truth.fraud_incidents (incident_id, scenario, started_at)
values ('i-1', 'card_testing', now()) on conflict do nothing
"""

# (role, statement, allowed). %(tx)s, %(tx2)s and %(model)s are filled from fixtures.
MATRIX: list[tuple[str, str, bool]] = [
    # producer: INSERT into ingest, nothing else.
    ("pgfraud_producer", NEW_TRANSACTION, True),
    ("pgfraud_producer", NEW_QUARANTINE, True),
    ("pgfraud_producer", "select * from ingest.transactions", False),
    ("pgfraud_producer", "select * from ingest.quarantine", False),
    ("pgfraud_producer", "update ingest.transactions set amount = 1", False),
    ("pgfraud_producer", "delete from ingest.transactions", False),
    ("pgfraud_producer", "truncate ingest.transactions", False),
    ("pgfraud_producer", "update ingest.quarantine set reason = 'x'", False),
    ("pgfraud_producer", "delete from ingest.quarantine", False),
    ("pgfraud_producer", NEW_PREDICTION, False),
    ("pgfraud_producer", "select * from scoring.predictions", False),
    ("pgfraud_producer", "select * from ml.models", False),
    ("pgfraud_producer", "create table ingest.sneaky (i int)", False),
    ("pgfraud_producer", STAGE_ROW, True),
    ("pgfraud_producer", "select * from ingest.accept_batch(gen_random_uuid())", True),
    ("pgfraud_producer", "select * from ingest.staged_transactions", False),
    ("pgfraud_producer", "delete from ingest.staged_transactions", False),
    ("pgfraud_producer", NEW_INCIDENT, True),
    ("pgfraud_producer", "select * from truth.fraud_transactions", False),
    ("pgfraud_producer", "select * from truth.fraud_incidents", False),
    ("pgfraud_producer", "select * from features.transaction_features", False),
    ("pgfraud_producer", "insert into features.transaction_features (transaction_id) values (1)",
     False),
    ("pgfraud_producer", "insert into truth.fraud_transactions (trans_num) values ('x')",
     False),
    # scorer: read ingest and ml, write scoring.
    ("pgfraud_scorer", "select * from ingest.transactions", True),
    ("pgfraud_scorer", "select * from ml.models", True),
    ("pgfraud_scorer", NEW_PREDICTION, True),
    ("pgfraud_scorer", "select * from scoring.predictions", True),
    ("pgfraud_scorer", "update scoring.predictions set true_value = true", False),
    ("pgfraud_scorer", "update scoring.predictions set score = 0.9", False),
    ("pgfraud_scorer", "delete from scoring.predictions", False),
    ("pgfraud_scorer", NEW_TRANSACTION, False),
    ("pgfraud_scorer", "update ingest.transactions set amount = 1", False),
    ("pgfraud_scorer", "select * from ingest.quarantine", False),
    ("pgfraud_scorer", "update ml.models set status = 'champion'", False),
    ("pgfraud_scorer", "delete from ml.models", False),
    ("pgfraud_scorer", "create table scoring.sneaky (i int)", False),
    # Nothing on the scoring path may see ground truth or the staging area.
    ("pgfraud_scorer", "select * from truth.fraud_transactions", False),
    ("pgfraud_scorer", "select * from truth.fraud_incidents", False),
    ("pgfraud_scorer", "select * from ingest.staged_transactions", False),
    ("pgfraud_scorer", "select * from ingest.accept_batch(gen_random_uuid())", False),
    ("pgfraud_scorer", "select * from features.transaction_features", True),
    ("pgfraud_scorer", "update features.transaction_features set hour_of_day = 1", False),
    ("pgfraud_scorer", "delete from features.transaction_features", False),
    ("pgfraud_scorer", "select * from scoring.label_events", True),
    ("pgfraud_scorer", "delete from scoring.label_events", False),
    # analyst: read predictions, write true_value and label_note only.
    ("pgfraud_analyst", "select * from scoring.predictions", True),
    ("pgfraud_analyst",
     "update scoring.predictions set true_value = true where transaction_id = %(tx)s", True),
    ("pgfraud_analyst",
     "update scoring.predictions set label_note = 'chargeback' where transaction_id = %(tx)s",
     True),
    ("pgfraud_analyst", "update scoring.predictions set score = 0.9", False),
    ("pgfraud_analyst", "update scoring.predictions set is_alert = true", False),
    ("pgfraud_analyst", "update scoring.predictions set labeled_at = now()", False),
    ("pgfraud_analyst", "update scoring.predictions set labeled_by = 'someone'", False),
    ("pgfraud_analyst", NEW_PREDICTION, False),
    ("pgfraud_analyst", "delete from scoring.predictions", False),
    ("pgfraud_analyst", "truncate scoring.predictions", False),
    ("pgfraud_analyst", "select * from ingest.transactions", False),
    ("pgfraud_analyst", "select * from ml.models", False),
    ("pgfraud_analyst", NEW_TRANSACTION, False),
    ("pgfraud_analyst", "select * from truth.fraud_transactions", False),
    # The label history is append-only: readable, never editable.
    ("pgfraud_analyst", "select * from scoring.label_events", True),
    ("pgfraud_analyst", "update scoring.label_events set new_value = false", False),
    ("pgfraud_analyst", "delete from scoring.label_events", False),
    ("pgfraud_analyst", "select * from features.transaction_features", False),
    # reader: SELECT on analytics (including tables created later), no writes anywhere.
    ("pgfraud_reader", "select * from analytics.daily_volume", True),
    ("pgfraud_reader", "insert into analytics.daily_volume values (current_date, 1)", False),
    ("pgfraud_reader", "update analytics.daily_volume set n = 2", False),
    ("pgfraud_reader", "delete from analytics.daily_volume", False),
    ("pgfraud_reader", "create table analytics.sneaky (i int)", False),
    ("pgfraud_reader", "select * from scoring.predictions", False),
    ("pgfraud_reader", "update scoring.predictions set true_value = true", False),
    ("pgfraud_reader", "select * from ingest.transactions", False),
    ("pgfraud_reader", NEW_TRANSACTION, False),
    ("pgfraud_reader", "select * from ml.models", False),
    ("pgfraud_reader", "create table public.sneaky (i int)", False),
    ("pgfraud_reader", "select * from truth.fraud_transactions", False),
    ("pgfraud_reader", "select * from features.model_input_v1", False),
    # trainer: features and label history in, models out; status only through ml functions.
    ("pgfraud_trainer", "select * from features.model_input_v1", True),
    ("pgfraud_trainer", "select * from scoring.label_events", True),
    ("pgfraud_trainer", "select * from ingest.event_clock", True),
    ("pgfraud_trainer", NEW_MODEL, True),
    ("pgfraud_trainer", "select * from ml.models", True),
    ("pgfraud_trainer", "select * from ml.model_events", True),
    ("pgfraud_trainer", "select ml.promote(%(model)s)", True),
    ("pgfraud_trainer", "update ml.models set status = 'champion'", False),
    ("pgfraud_trainer", "update ml.models set threshold = 0.1", False),
    ("pgfraud_trainer", "delete from ml.models", False),
    ("pgfraud_trainer", "insert into ml.model_events (model_version, action, new_status) "
                        "values (%(model)s, 'promote', 'champion')", False),
    ("pgfraud_trainer", "delete from ml.model_events", False),
    ("pgfraud_trainer", "select * from truth.fraud_transactions", False),
    ("pgfraud_trainer", "select * from ingest.transactions", False),
    ("pgfraud_trainer", "select * from scoring.predictions", False),
    ("pgfraud_trainer", NEW_PREDICTION, False),
    ("pgfraud_trainer", "update scoring.predictions set true_value = true", False),
    ("pgfraud_scorer", "select * from features.model_input_v1", True),
    # The scoring queue and alerts: the scorer claims (deletes) and alerts; nobody else.
    ("pgfraud_scorer", "delete from scoring.pending where transaction_id = %(tx)s", True),
    ("pgfraud_scorer", "insert into scoring.pending (transaction_id) values (%(tx)s)", False),
    ("pgfraud_scorer", "select * from scoring.alerts", True),
    ("pgfraud_scorer", "delete from scoring.alerts", False),
    ("pgfraud_scorer", "update scoring.alerts set score = 1", False),
    ("pgfraud_producer", "select * from scoring.pending", False),
    ("pgfraud_producer", "delete from scoring.pending", False),
    ("pgfraud_analyst", "select * from scoring.alerts", True),
    ("pgfraud_analyst", "delete from scoring.alerts", False),
    ("pgfraud_analyst", "delete from scoring.pending", False),
    ("pgfraud_reader", "select * from scoring.pending", False),
    ("pgfraud_trainer", "select * from scoring.alerts", False),
    # The review queue and the trans_num lookup for analysts; retraining decisions.
    ("pgfraud_analyst", "select * from scoring.review_queue", True),
    ("pgfraud_analyst", "select transaction_id, trans_num from ingest.transactions", True),
    ("pgfraud_analyst", "select card_token from ingest.transactions", False),
    ("pgfraud_analyst", "select * from ml.retrain_decisions", False),
    ("pgfraud_reader", "select * from scoring.review_queue", False),
    ("pgfraud_trainer", "select * from ml.retrain_decisions", True),
    ("pgfraud_trainer", "delete from ml.retrain_decisions", False),
    ("pgfraud_scorer", "select * from scoring.review_queue", False),
    ("pgfraud_scorer", "select ml.promote(%(model)s)", False),
    ("pgfraud_analyst", "select ml.rollback()", False),
]


@pytest.fixture
def seeded(db_url: str) -> Iterator[tuple[psycopg.Connection, dict[str, int]]]:
    """A connection as the owner to a database with one transaction, model and prediction,
    plus an analytics table created after migration (as dbt would)."""
    with psycopg.connect(db_url) as conn:
        tx = conn.execute(
            NEW_TRANSACTION.replace("t-new", "t-1") + " returning transaction_id"
        ).fetchone()
        tx2 = conn.execute(
            NEW_TRANSACTION.replace("t-new", "t-2") + " returning transaction_id"
        ).fetchone()
        model = conn.execute(
            """insert into ml.models (onnx_model, onnx_sha256, feature_names,
                   feature_set_version, threshold)
               values ('\\x00', repeat('d', 64), array['amount'], 1, 0.5)
               returning model_version"""
        ).fetchone()
        assert tx and tx2 and model
        ids = {"tx": tx[0], "tx2": tx2[0], "model": model[0]}
        conn.execute(NEW_PREDICTION, ids)
        conn.execute("create table analytics.daily_volume (day date, n int)")
        conn.execute("insert into analytics.daily_volume values (current_date, 1)")
        conn.commit()
        yield conn, ids


@pytest.mark.parametrize(("role", "statement", "allowed"), MATRIX,
                         ids=[f"{r.removeprefix('pgfraud_')}-{'allow' if a else 'deny'}-{i}"
                              for i, (r, _, a) in enumerate(MATRIX)])
def test_privilege_matrix(seeded, role: str, statement: str, allowed: bool) -> None:
    conn, ids = seeded
    params = dict(ids)
    if role == "pgfraud_scorer" and statement == NEW_PREDICTION:
        params["tx"] = ids["tx2"]  # a transaction not yet scored by this model
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        if allowed:
            cursor = conn.execute(statement, params if "%(" in statement else None)
            assert cursor.rowcount != 0 or statement.lstrip().startswith("select")
        else:
            with pytest.raises(errors.InsufficientPrivilege):
                with conn.transaction():
                    conn.execute(statement, params if "%(" in statement else None)


def test_every_role_is_in_the_matrix_both_ways() -> None:
    for role in ROLES:
        outcomes = {allowed for r, _, allowed in MATRIX if r == role}
        assert outcomes == {True, False}, role


def test_roles_cannot_log_in_or_escalate(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "select rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
            "from pg_roles where rolname = any(%s) order by rolname", (list(ROLES),)
        ).fetchall()
    assert [r[0] for r in rows] == sorted(ROLES)
    assert all(not any(r[1:]) for r in rows)


def test_analyst_label_is_stamped_with_time_and_user(seeded) -> None:
    conn, ids = seeded
    with conn.transaction(force_rollback=True):
        session_user = conn.execute("select session_user").fetchone()
        conn.execute("set local role pgfraud_analyst")
        conn.execute(
            "update scoring.predictions set true_value = true where transaction_id = %s",
            (ids["tx"],),
        )
        first = conn.execute(
            "select true_value, labeled_at, labeled_by, now() from scoring.predictions "
            "where transaction_id = %s", (ids["tx"],)
        ).fetchone()
        assert first is not None and session_user is not None
        assert first[0] is True
        assert first[1] == first[3]  # stamped with the labelling transaction's time
        assert first[2] == session_user[0]


def test_relabel_restamps_and_unchanged_label_does_not(seeded) -> None:
    conn, ids = seeded
    where = "where transaction_id = %s"
    conn.execute(f"update scoring.predictions set true_value = false {where}", (ids["tx"],))
    conn.commit()
    stamped = conn.execute(f"select labeled_at from scoring.predictions {where}",
                           (ids["tx"],)).fetchone()
    conn.commit()
    # Same value again: no change, no new stamp.
    conn.execute(f"update scoring.predictions set true_value = false {where}", (ids["tx"],))
    conn.commit()
    same = conn.execute(f"select labeled_at from scoring.predictions {where}",
                        (ids["tx"],)).fetchone()
    conn.commit()
    assert stamped is not None and same is not None and same[0] == stamped[0]
    # A different value: relabelled, restamped later.
    conn.execute(f"update scoring.predictions set true_value = true {where}", (ids["tx"],))
    conn.commit()
    relabeled = conn.execute(f"select true_value, labeled_at from scoring.predictions {where}",
                             (ids["tx"],)).fetchone()
    assert relabeled is not None and relabeled[0] is True and relabeled[1] > stamped[0]


def test_owner_may_set_event_time_labels_for_backtests(seeded) -> None:
    conn, ids = seeded
    row = conn.execute(
        "update scoring.predictions set true_value = true, labeled_at = '2099-01-01Z', "
        "labeled_by = 'replay' where transaction_id = %s returning labeled_at, labeled_by",
        (ids["tx"],),
    ).fetchone()
    assert row is not None
    assert row[0].year == 2099 and row[1] == "replay"
    # Never before the latest event time already ingested: clamped to the event clock.
    backdated = conn.execute(
        "update scoring.predictions set true_value = false, labeled_at = '2020-01-01Z' "
        "where transaction_id = %s returning labeled_at", (ids["tx"],)).fetchone()
    clock = conn.execute("select max(transacted_at) from ingest.transactions").fetchone()
    assert backdated is not None and clock is not None and backdated[0] == clock[0]


def test_an_analyst_label_is_recorded_in_the_append_only_history(seeded) -> None:
    conn, ids = seeded
    with conn.transaction(force_rollback=True):
        conn.execute("set local role pgfraud_analyst")
        for value in (True, False):
            conn.execute("update scoring.predictions set true_value = %s, label_note = 'cb'"
                         " where transaction_id = %s", (value, ids["tx"]))
        events = conn.execute(
            "select old_value, new_value, label_note, labeled_by = session_user"
            " from scoring.label_events where transaction_id = %s order by label_event_id",
            (ids["tx"],)).fetchall()
    assert events == [(None, True, "cb", True), (True, False, "cb", True)]
