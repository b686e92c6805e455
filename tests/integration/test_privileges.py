"""The privilege matrix, for real: each allowed action succeeds as its role, with the
explicit denials that show intent, and the label stamping the roles rely on. Every
statement runs as the role (``set local role``) in a transaction that is rolled back.
The complete check of every privilege against the README's role table, generated from
the catalog, is tests/integration/test_role_table.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from pgfraud.kernel.names import ROLES

# --- The allowed actions, for real, and the denials that show intent ----------------

NEW_TRANSACTION = """
insert into ingest.transactions (trans_num, transacted_at, card_token, card_last4, amount,
    merchant, category, merchant_lat, merchant_long, payload_sha256, source)
values ('t-new', now(), repeat('b', 64), '4242', 5.00, 'm', 'grocery_pos', 1, 1,
    repeat('c', 64), 'stream')
"""
NEW_QUARANTINE = """
insert into ingest.quarantine (reason, raw_payload, raw_sha256, source)
values ('bad_amount', '{"amt": "x"}', md5(random()::text), 'csv')
"""
STAGE_ROW = """
insert into ingest.staged_transactions (batch_id, ordinal, trans_num, transacted_at,
    card_token, card_last4, amount, merchant, category, merchant_lat, merchant_long,
    payload_sha256, source)
values (%(batch)s, 0, 't-staged', now(), repeat('b', 64), '4242', 1, 'm', 'c', 1, 1,
    repeat('c', 64), 'csv')
"""
STAGE_REFUSAL = STAGE_ROW.replace("source)", "source, refusal)").replace(
    "'csv')", "'csv', 'missing_field')")
STAGE_QUARANTINE = """
insert into ingest.staged_quarantine (batch_id, reason, raw_payload, raw_sha256, source)
values (%(batch)s, 'bad_amount', '{"amt": "x"}', md5(random()::text), 'csv')
"""
NEW_INCIDENT = """
insert into truth.fraud_incidents (incident_id, scenario, started_at)
values ('i-1', 'card_testing', now()) on conflict do nothing
"""
NEW_SCORE = """
insert into scoring.scores (transaction_id, model_version, feature_set_version, is_shadow,
    score, threshold, is_alert, latency_ms)
values (%(tx)s, %(model)s, 1, false, 0.2, 0.5, false, 3.5)
"""
NEW_ALERT = """
insert into scoring.alerts (transaction_id, model_version, score, threshold, card_last4,
    amount, merchant, category, transacted_at, reasons)
values (%(tx)s, %(model)s, 0.9, 0.5, '4242', 5.00, 'm', 'grocery_pos', now(), '[]')
"""
NEW_MODEL = """
insert into ml.models (onnx_model, onnx_sha256, feature_names, feature_set_version, threshold)
values ('\\x00', repeat('e', 64), array['amount'], 1, 0.5)
"""
REGISTER_MODEL = """
select ml.register_model('\\x00', null, array['amount'], 1, 0.5, null, null, null, null,
    null, null, 'registered by the privilege test')
"""
NEW_LABEL = "insert into scoring.labels (transaction_id, updated_at) values (%(tx)s, now())"
NEW_LABEL_EVENT = """
insert into scoring.label_events (transaction_id, merchant, transacted_at, new_value,
    labeled_at, labeled_by)
values (%(tx)s, 'm', now(), true, now(), 'someone')
"""
WRITE_LABELS = """
select scoring.write_labels(array[%(tx)s]::bigint[], array[true], array[now()],
                            array['batch']::text[], 'someone')
"""

ALLOW = None
DENY = errors.InsufficientPrivilege
# scoring.predictions has an INSTEAD OF UPDATE trigger only: an INSERT or DELETE fails in
# the rewriter, for every role, before any privilege is looked at.
NO_WRITE_PATH = errors.ObjectNotInPrerequisiteState

# (role, statement, outcome): ALLOW must succeed, otherwise the error it must raise.
# %(tx)s, %(tx2)s, %(model)s, %(run)s and %(batch)s are filled from the seeded database.
MATRIX: list[tuple[str, str, type[psycopg.Error] | None]] = [
    # producer: stage a batch and hand it to accept_batch; store nothing directly.
    ("pgfraud_producer", STAGE_ROW, ALLOW),
    ("pgfraud_producer", STAGE_QUARANTINE, ALLOW),
    ("pgfraud_producer", "select * from ingest.accept_batch(%(batch)s)", ALLOW),
    ("pgfraud_producer", NEW_INCIDENT, ALLOW),
    ("pgfraud_producer", NEW_TRANSACTION, DENY),
    ("pgfraud_producer", NEW_QUARANTINE, DENY),
    ("pgfraud_producer", STAGE_REFUSAL, DENY),
    ("pgfraud_producer", "select * from ingest.staged_transactions", DENY),
    ("pgfraud_producer", "delete from ingest.staged_transactions", DENY),
    ("pgfraud_producer", "select * from ingest.transactions", DENY),
    ("pgfraud_producer", "select * from truth.fraud_incidents", DENY),
    ("pgfraud_producer", "insert into truth.fraud_transactions (trans_num) values ('x')", DENY),
    ("pgfraud_producer", "select * from scoring.pending", DENY),
    ("pgfraud_producer", "create table ingest.sneaky (i int)", DENY),
    # scorer: read transactions, features and models; write scores and alerts.
    ("pgfraud_scorer", "select * from ingest.transactions", ALLOW),
    ("pgfraud_scorer", "select * from features.transaction_features", ALLOW),
    ("pgfraud_scorer", "select * from features.model_input_v1", ALLOW),
    ("pgfraud_scorer", "select * from ml.models", ALLOW),
    ("pgfraud_scorer", "select * from scoring.label_events", ALLOW),
    ("pgfraud_scorer", "select transaction_id from scoring.pending for update skip locked",
     ALLOW),
    ("pgfraud_scorer", "delete from scoring.pending where transaction_id = %(tx)s", ALLOW),
    ("pgfraud_scorer", NEW_SCORE.replace("%(tx)s", "%(tx2)s"), ALLOW),
    ("pgfraud_scorer", NEW_ALERT, ALLOW),
    ("pgfraud_scorer", "select * from scoring.predictions", ALLOW),
    ("pgfraud_scorer", "select scoring.alert_json(a) from scoring.alerts as a", ALLOW),
    ("pgfraud_scorer", "update scoring.predictions set true_value = true", DENY),
    ("pgfraud_scorer", "update scoring.predictions set label_note = 'x'", DENY),
    ("pgfraud_scorer", "update scoring.scores set score = 0.9", DENY),
    ("pgfraud_scorer", "delete from scoring.scores", DENY),
    ("pgfraud_scorer", NEW_SCORE.replace("latency_ms)", "latency_ms, scored_at)").replace(
        "3.5)", "3.5, now())").replace("%(tx)s", "%(tx2)s"), DENY),
    ("pgfraud_scorer", NEW_ALERT.replace("reasons)", "reasons, created_at)").replace(
        "'[]')", "'[]', now())"), DENY),
    ("pgfraud_scorer", "update scoring.alerts set score = 1", DENY),
    ("pgfraud_scorer", "insert into scoring.pending (transaction_id) values (%(tx)s)", DENY),
    ("pgfraud_scorer", NEW_TRANSACTION, DENY),
    ("pgfraud_scorer", "select * from ingest.quarantine", DENY),
    ("pgfraud_scorer", "select * from ingest.staged_transactions", DENY),
    ("pgfraud_scorer", "select * from ingest.accept_batch(%(batch)s)", DENY),
    ("pgfraud_scorer", "update ml.models set status = 'champion'", DENY),
    ("pgfraud_scorer", "select ml.promote(%(model)s)", DENY),
    ("pgfraud_scorer", "select * from scoring.review_queue", DENY),
    # Nothing on the scoring path may see ground truth.
    ("pgfraud_scorer", "select * from truth.fraud_transactions", DENY),
    ("pgfraud_scorer", "create table scoring.sneaky (i int)", DENY),
    # analyst: read predictions and labels; write true_value and label_note only.
    ("pgfraud_analyst", "select * from scoring.predictions", ALLOW),
    ("pgfraud_analyst", "select * from scoring.labels", ALLOW),
    ("pgfraud_analyst", "select * from scoring.alerts", ALLOW),
    ("pgfraud_analyst", "select * from scoring.review_queue", ALLOW),
    ("pgfraud_analyst", "select * from scoring.label_events", ALLOW),
    ("pgfraud_analyst", "select transaction_id, trans_num from ingest.transactions", ALLOW),
    ("pgfraud_analyst",
     "update scoring.predictions set true_value = true where transaction_id = %(tx)s", ALLOW),
    ("pgfraud_analyst",
     "update scoring.predictions set label_note = 'chargeback' where transaction_id = %(tx)s",
     ALLOW),
    ("pgfraud_analyst", "update scoring.predictions set score = 0.9", DENY),
    ("pgfraud_analyst", "update scoring.predictions set is_alert = true", DENY),
    ("pgfraud_analyst", "update scoring.predictions set labeled_at = now()", DENY),
    ("pgfraud_analyst", "update scoring.predictions set labeled_by = 'someone'", DENY),
    ("pgfraud_analyst", "update scoring.scores set score = 0.9", DENY),
    ("pgfraud_analyst", "select card_token from ingest.transactions", DENY),
    ("pgfraud_analyst", "select * from ml.models", DENY),
    ("pgfraud_analyst", "select * from ml.retrain_decisions", DENY),
    ("pgfraud_analyst", "select * from features.transaction_features", DENY),
    ("pgfraud_analyst", "delete from scoring.alerts", DENY),
    ("pgfraud_analyst", "delete from scoring.pending", DENY),
    ("pgfraud_analyst", "select ml.rollback()", DENY),
    ("pgfraud_analyst", "select * from truth.fraud_transactions", DENY),
    # trainer: features and label history in; models only through the ml functions.
    ("pgfraud_trainer", "select * from features.model_input_v1", ALLOW),
    ("pgfraud_trainer", "select * from scoring.label_events", ALLOW),
    ("pgfraud_trainer", "select * from ingest.event_clock", ALLOW),
    ("pgfraud_trainer", "select * from ml.models", ALLOW),
    ("pgfraud_trainer", "select * from ml.model_events", ALLOW),
    ("pgfraud_trainer", "select * from ml.retrain_decisions", ALLOW),
    ("pgfraud_trainer", REGISTER_MODEL, ALLOW),
    ("pgfraud_trainer", "select ml.promote(%(model)s)", ALLOW),
    ("pgfraud_trainer", "select ml.link_training_run(%(run)s)", ALLOW),
    ("pgfraud_trainer", "insert into ml.training_runs (mode, outcome) "
                        "values ('labels', 'parity_failed')", ALLOW),
    ("pgfraud_trainer", NEW_MODEL, DENY),
    ("pgfraud_trainer", "update ml.models set status = 'champion'", DENY),
    ("pgfraud_trainer", "update ml.models set training_run_id = %(run)s", DENY),
    ("pgfraud_trainer", "delete from ml.models", DENY),
    ("pgfraud_trainer", "insert into ml.model_events (model_version, action, new_status) "
                        "values (%(model)s, 'promote', 'champion')", DENY),
    ("pgfraud_trainer", "delete from ml.model_events", DENY),
    ("pgfraud_trainer", "delete from ml.retrain_decisions", DENY),
    ("pgfraud_trainer", "select * from ingest.transactions", DENY),
    ("pgfraud_trainer", "select * from scoring.predictions", DENY),
    ("pgfraud_trainer", "select * from scoring.alerts", DENY),
    ("pgfraud_trainer", "select * from truth.fraud_transactions", DENY),
    # api: stores as a producer, scores as the scorer, records decisions; it can neither
    # mint, revive nor read tokens in clear, nor rewrite a decision, score or label.
    ("pgfraud_api", STAGE_ROW, ALLOW),
    ("pgfraud_api", "select * from ingest.accept_batch(%(batch)s)", ALLOW),
    ("pgfraud_api", "select transaction_id, payload_sha256 from ingest.transactions", ALLOW),
    ("pgfraud_api", "select trans_num, reason, detail from ingest.quarantine", ALLOW),
    ("pgfraud_api", "select * from features.model_input_v1", ALLOW),
    ("pgfraud_api", NEW_SCORE.replace("%(tx)s", "%(tx2)s"), ALLOW),
    ("pgfraud_api", "update scoring.pending set champion_scored = true", ALLOW),
    ("pgfraud_api", "select token_sha256 from api.clients", ALLOW),
    ("pgfraud_api", "select * from api.decisions", ALLOW),
    ("pgfraud_api", NEW_TRANSACTION, DENY),
    ("pgfraud_api", NEW_QUARANTINE, DENY),
    ("pgfraud_api", "select raw_payload from ingest.quarantine", DENY),
    ("pgfraud_api", "insert into api.clients (name, token_sha256) values ('x', repeat('a', 64))",
     DENY),
    ("pgfraud_api", "update api.clients set revoked_at = null", DENY),
    ("pgfraud_api", "delete from api.clients", DENY),
    ("pgfraud_api", "update api.decisions set decision = 'approve'", DENY),
    ("pgfraud_api", "delete from api.decisions", DENY),
    ("pgfraud_api", "update scoring.scores set score = 0.9", DENY),
    ("pgfraud_api", "delete from scoring.scores", DENY),
    ("pgfraud_api", "update scoring.predictions set true_value = true", DENY),
    ("pgfraud_api", "select ml.promote(%(model)s)", DENY),
    ("pgfraud_api", "update ml.models set status = 'champion'", DENY),
    ("pgfraud_api", "select * from truth.fraud_transactions", DENY),
    ("pgfraud_api", "create table api.sneaky (i int)", DENY),
    # reader: SELECT on analytics (including tables created later), no writes anywhere.
    ("pgfraud_reader", "select * from analytics.daily_volume", ALLOW),
    ("pgfraud_reader", "insert into analytics.daily_volume values (current_date, 1)", DENY),
    ("pgfraud_reader", "update analytics.daily_volume set n = 2", DENY),
    ("pgfraud_reader", "delete from analytics.daily_volume", DENY),
    ("pgfraud_reader", "create table analytics.sneaky (i int)", DENY),
    ("pgfraud_reader", "create table public.sneaky (i int)", DENY),
    ("pgfraud_reader", "select * from scoring.predictions", DENY),
    ("pgfraud_reader", "select * from scoring.review_queue", DENY),
    ("pgfraud_reader", "select * from scoring.pending", DENY),
    ("pgfraud_reader", "select * from ingest.transactions", DENY),
    ("pgfraud_reader", "select * from ml.models", DENY),
    ("pgfraud_reader", "select * from features.model_input_v1", DENY),
    ("pgfraud_reader", "select * from truth.fraud_transactions", DENY),
    # Nobody but the owner writes a label or its history (scoring.write_label does, as
    # the owner); nobody inserts into or deletes from the predictions view (the producer,
    # without USAGE on scoring, is stopped at the schema first).
    *[(role, statement, DENY) for role in ROLES for statement in (
        NEW_LABEL, "update scoring.labels set true_value = true", "delete from scoring.labels",
        NEW_LABEL_EVENT, "update scoring.label_events set new_value = false",
        "delete from scoring.label_events")],
    # Nor in batches: scoring.write_labels takes the arrival and author from its caller
    # (simulated analysts and replays, as the owner).
    *[(role, WRITE_LABELS, DENY) for role in ROLES],
    *[(role, statement, NO_WRITE_PATH if role != "pgfraud_producer" else DENY)
      for role in ROLES for statement in (
          NEW_SCORE.replace("scoring.scores", "scoring.predictions"),
          "delete from scoring.predictions")],
]


def seed(url: str) -> dict[str, Any]:
    """As the owner: two transactions, a model with a training run naming it, a score of
    the first transaction, an alert for the second, and an analytics table created after
    migration (as dbt would)."""
    with psycopg.connect(url) as conn:
        tx, tx2 = (conn.execute(NEW_TRANSACTION.replace("t-new", trans_num)
                                + " returning transaction_id").fetchone()
                   for trans_num in ("t-1", "t-2"))
        model = conn.execute(NEW_MODEL.replace("'e'", "'d'") + " returning model_version"
                             ).fetchone()
        assert tx and tx2 and model
        ids: dict[str, Any] = {"tx": tx[0], "tx2": tx2[0], "model": model[0],
                               "batch": uuid.uuid4()}
        run = conn.execute("insert into ml.training_runs (mode, outcome, model_version) "
                           "values ('labels', 'registered', %(model)s) "
                           "returning training_run_id", ids).fetchone()
        assert run
        ids["run"] = run[0]
        conn.execute(NEW_SCORE, ids)
        conn.execute(NEW_ALERT, {**ids, "tx": ids["tx2"]})
        conn.execute("create table analytics.daily_volume (day date, n int)")
        conn.execute("insert into analytics.daily_volume values (current_date, 1)")
    return ids


@pytest.fixture(scope="module")
def shared_seeded(databases) -> tuple[str, dict[str, Any]]:
    """One seeded database for the whole matrix: every case is rolled back."""
    url = databases.create()
    return url, seed(url)


@pytest.fixture
def seeded(db_url: str) -> Iterator[tuple[psycopg.Connection, dict[str, Any]]]:
    """A connection as the owner to a seeded database of this test's own."""
    ids = seed(db_url)
    with psycopg.connect(db_url) as conn:
        yield conn, ids


@pytest.mark.parametrize(
    ("role", "statement", "outcome"), MATRIX,
    ids=[f"{r.removeprefix('pgfraud_')}-{'allow' if o is None else 'deny'}-{i}"
         for i, (r, _, o) in enumerate(MATRIX)])
def test_privilege_matrix(shared_seeded, role: str, statement: str,
                          outcome: type[psycopg.Error] | None) -> None:
    url, ids = shared_seeded
    params = ids if "%(" in statement else None
    with psycopg.connect(url) as conn, conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
        if outcome is None:
            cursor = conn.execute(statement, params)
            assert cursor.rowcount != 0 or statement.lstrip().startswith("select")
        else:
            with pytest.raises(outcome):
                with conn.transaction():
                    conn.execute(statement, params)


def test_every_role_is_in_the_matrix_both_ways() -> None:
    for role in ROLES:
        outcomes = {outcome is ALLOW for r, _, outcome in MATRIX if r == role}
        assert outcomes == {True, False}, role


def test_roles_cannot_log_in_or_escalate(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "select rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls,"
            " rolreplication from pg_roles where rolname = any(%s) order by rolname",
            (list(ROLES),)).fetchall()
    assert [r[0] for r in rows] == sorted(ROLES)
    assert all(not any(r[1:]) for r in rows)


def test_producer_stages_a_batch_that_accept_batch_stores(seeded) -> None:
    conn, ids = seeded
    with conn.transaction(force_rollback=True):
        conn.execute("set local role pgfraud_producer")
        conn.execute(STAGE_ROW, ids)
        result = conn.execute(
            "select accepted, duplicates, conflicts, refused, quarantined"
            " from ingest.accept_batch(%(batch)s)", ids).fetchone()
        conn.execute("reset role")
        stored = conn.execute("select count(*) from ingest.transactions"
                              " where trans_num = 't-staged'").fetchone()
    assert result == (1, 0, 0, {}, 0)
    assert stored == (1,)


# --- Labels: stamped, audited, one per transaction -----------------------------------

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
    assert row[0] == datetime(2099, 1, 1, tzinfo=UTC) and row[1] == "replay"
    # Never before the latest event time already ingested: clamped to the event clock.
    backdated = conn.execute(
        "update scoring.predictions set true_value = false, labeled_at = '2020-01-01Z' "
        "where transaction_id = %s returning labeled_at", (ids["tx"],)).fetchone()
    clock = conn.execute("select max_transacted_at from ingest.event_clock").fetchone()
    latest = conn.execute("select max(transacted_at) from ingest.transactions").fetchone()
    assert backdated is not None and clock is not None and latest is not None
    assert clock[0] == latest[0]  # the owner's inserts advanced the clock
    assert backdated[0] == clock[0]


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


def test_a_note_only_change_is_audited_and_keeps_the_label_stamp(seeded) -> None:
    conn, ids = seeded
    replayed_at = datetime(2099, 1, 1, tzinfo=UTC)
    conn.execute("update scoring.predictions set true_value = true, labeled_at = %s,"
                 " labeled_by = 'alice' where transaction_id = %s", (replayed_at, ids["tx"]))
    conn.commit()
    with conn.transaction(force_rollback=True):
        conn.execute("set local role pgfraud_analyst")
        conn.execute("update scoring.predictions set label_note = 'chargeback'"
                     " where transaction_id = %s", (ids["tx"],))
        conn.execute("reset role")
        label = conn.execute(
            "select true_value, labeled_at, labeled_by, label_note from scoring.labels"
            " where transaction_id = %s", (ids["tx"],)).fetchone()
        events = conn.execute(
            "select old_value, new_value, old_note, label_note, labeled_by = session_user,"
            " labeled_at = now() from scoring.label_events where transaction_id = %s"
            " order by label_event_id", (ids["tx"],)).fetchall()
    assert label == (True, replayed_at, "alice", "chargeback")
    assert events == [(None, True, None, None, False, False),
                      (True, True, None, "chargeback", True, True)]


def test_one_update_labels_every_model_row_of_a_transaction_once(seeded) -> None:
    conn, ids = seeded
    second = conn.execute(NEW_MODEL + " returning model_version").fetchone()
    assert second is not None
    conn.execute(NEW_SCORE.replace("false, 0.2", "true, 0.3"), {**ids, "model": second[0]})
    conn.commit()
    with conn.transaction(force_rollback=True):
        conn.execute("set local role pgfraud_analyst")
        conn.execute("update scoring.predictions set true_value = true, label_note = 'cb'"
                     " where transaction_id = %s", (ids["tx"],))
        rows = conn.execute(
            "select model_version, true_value, labeled_at, labeled_by, label_note"
            " from scoring.predictions where transaction_id = %s order by model_version",
            (ids["tx"],)).fetchall()
        events = conn.execute("select count(*) from scoring.label_events"
                              " where transaction_id = %s", (ids["tx"],)).fetchone()
    assert [r[0] for r in rows] == sorted([ids["model"], second[0]])
    assert len({r[1:] for r in rows}) == 1 and rows[0][1] is True and rows[0][4] == "cb"
    assert events == (1,)
