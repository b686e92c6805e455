"""No role bends the audit trail: one label per transaction with every change recorded,
scores that cannot carry labels or block the queue, registrations that cannot forge
their status or action, and an event clock that moves only with plausible rows or an
audited repair."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import psycopg
import pytest
from psycopg import errors

from pgfraud.kernel.db import connect
from pgfraud.kernel.names import ANALYST_ROLE, SCORER_ROLE, TRAINER_ROLE
from pgfraud.lifecycle.retrain import RetrainOptions, retrain
from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.records import CardTransaction
from scorer.scoring import Scorer
from tests.conftest import Databases
from tests.history import produce, quick_model

START = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def shadowed(databases: Databases) -> str:
    """Two days of traffic scored by a champion and a shadow: two rows per transaction."""
    url = databases.create()
    produce(url, days=2, cards=200, start=START)
    quick_model(url, seed=1, status="champion")
    quick_model(url, seed=2, trees=5, status="shadow")
    with Scorer(url) as scorer:
        scorer.run(lambda: False, once=True)
    return url


@pytest.fixture
def db(databases: Databases, shadowed: str) -> str:
    return databases.clone(shadowed)


def some_transactions(url: str, n: int) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "select transaction_id from scoring.scores group by 1 having count(*) = 2 "
            "order by 1 limit %s", (n,))]


def events_of(url: str, transaction_id: int) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select old_value, new_value, old_note, label_note, labeled_by = session_user "
            "from scoring.label_events where transaction_id = %s order by label_event_id",
            (transaction_id,)).fetchall()


def test_a_transaction_has_one_label_whatever_the_models(db: str) -> None:
    tx, other = some_transactions(db, 2)
    with connect(db, role=ANALYST_ROLE) as conn:
        updated = conn.execute("update scoring.predictions set true_value = true "
                               "where transaction_id = %s", (tx,)).rowcount
        # One row of the view per model; trying to label them differently in one
        # statement still leaves one label, and one audit row per actual change.
        conn.execute("update scoring.predictions set true_value = is_shadow "
                     "where transaction_id = %s", (other,))
        conn.commit()
        rows = conn.execute("select transaction_id, is_shadow, true_value, labeled_by "
                            "from scoring.predictions where transaction_id = any(%s) "
                            "order by 1, 2", ([tx, other],)).fetchall()
    assert updated == 1  # the shadow's row found the label already set
    assert [r[2] for r in rows if r[0] == tx] == [True, True]
    assert len({r[2] for r in rows if r[0] == other}) == 1
    assert events_of(db, tx) == [(None, True, None, None, True)]
    with psycopg.connect(db) as conn:
        ((labels,),) = conn.execute("select count(*) from scoring.labels "
                                    "where transaction_id = any(%s)", ([tx, other],))
    assert labels == 2


def test_a_note_change_is_audited_and_keeps_the_labels_author(db: str) -> None:
    (tx,) = some_transactions(db, 1)
    with psycopg.connect(db) as owner:
        owner.execute("update scoring.predictions set true_value = false, labeled_by = 'alice',"
                      " label_note = 'checked' where transaction_id = %s", (tx,))
        ((labeled_at,),) = owner.execute("select labeled_at from scoring.labels "
                                         "where transaction_id = %s", (tx,))
    with connect(db, role=ANALYST_ROLE) as conn:
        conn.execute("update scoring.predictions set label_note = 'called the cardholder' "
                     "where transaction_id = %s", (tx,))
        conn.commit()
        label = conn.execute("select true_value, labeled_at, labeled_by, label_note "
                             "from scoring.labels where transaction_id = %s", (tx,)).fetchone()
        user = conn.execute("select session_user").fetchone()
    assert label == (False, labeled_at, "alice", "called the cardholder")
    assert events_of(db, tx)[-1] == (False, False, "checked", "called the cardholder", True)
    with psycopg.connect(db) as conn:
        ((author,),) = conn.execute("select labeled_by from scoring.label_events "
                                    "where transaction_id = %s order by label_event_id desc "
                                    "limit 1", (tx,))
    assert user is not None and author == user[0]


def test_retraining_counts_labelled_transactions_not_rows(db: str) -> None:
    ids = some_transactions(db, 7)
    with connect(db, role=ANALYST_ROLE) as conn:
        conn.execute("update scoring.predictions set true_value = false "
                     "where transaction_id = any(%s)", (ids,))
        conn.execute("update scoring.predictions set true_value = true "  # a relabel
                     "where transaction_id = %s", (ids[0],))
        conn.execute("update scoring.predictions set label_note = 'note only' "
                     "where transaction_id = %s", (ids[1],))
        conn.commit()
    with connect(db, role=TRAINER_ROLE, autocommit=True) as conn:
        decision = retrain(conn, RetrainOptions(min_new_labels=10**9))
    assert decision.outcome == "skipped"
    assert decision.new_labels == 7


def test_the_scorer_cannot_write_labels_and_a_stray_score_cannot_block_the_queue(
        db: str) -> None:
    produce(db, days=0.3, cards=200, start=START + dt.timedelta(days=2))  # queued, unscored
    with psycopg.connect(db) as conn:
        ((first,),) = conn.execute("select min(transaction_id) from scoring.pending")
        ((champion,),) = conn.execute(
            "select model_version from ml.models where status = 'champion'")
    with connect(db, role=SCORER_ROLE) as conn:
        for statement in (
            "insert into scoring.labels (transaction_id, true_value, updated_at) "
            "values (%(tx)s, true, now())",
            "update scoring.predictions set true_value = true where transaction_id = %(tx)s",
            "insert into scoring.predictions (transaction_id, model_version, "
            "feature_set_version, score, threshold, is_alert) "
            "values (%(tx)s, %(model)s, 1, 0, 0.5, false)",
            "insert into scoring.scores (transaction_id, model_version, feature_set_version, "
            "score, threshold, is_alert, scored_at) "
            "values (%(tx)s, %(model)s, 1, 0, 0.5, false, now())",
        ):
            with pytest.raises((errors.InsufficientPrivilege, errors.ObjectNotInPrerequisiteState)):
                conn.execute(statement, {"tx": first, "model": champion})
            conn.rollback()
        # What the scorer role may do: a score row for a queued transaction, out of turn.
        conn.execute("insert into scoring.scores (transaction_id, model_version, "
                     "feature_set_version, score, threshold, is_alert) "
                     "values (%s, %s, 1, 0, 0.5, false)", (first, champion))
        conn.commit()
    with Scorer(db, batch_size=50) as scorer:
        scorer.run(lambda: False, once=True)
    with psycopg.connect(db) as conn:
        ((queued,),) = conn.execute("select count(*) from scoring.pending")
        ((doubled,),) = conn.execute(
            "select count(*) from (select 1 from scoring.scores "
            "group by transaction_id, model_version having count(*) > 1) d")
        ((unscored,),) = conn.execute(
            "select count(*) from ingest.transactions t where not exists (select from "
            "scoring.scores s where s.transaction_id = t.transaction_id and not s.is_shadow)")
        stray = conn.execute("select score, (select count(*) from scoring.alerts a "
                             "where a.transaction_id = s.transaction_id) from scoring.scores s "
                             "where transaction_id = %s and model_version = %s",
                             (first, champion)).fetchone()
    assert queued == doubled == unscored == 0
    assert stray == (0, 0)  # kept as written; no alert against a stored 'no'


def test_registration_cannot_forge_status_or_action(db: str) -> None:
    with psycopg.connect(db) as conn:
        ((onnx, names),) = conn.execute("select onnx_model, feature_names from ml.models "
                                        "where status = 'champion'")
    with connect(db, role=TRAINER_ROLE) as conn:
        conn.execute("set pgfraud.model_action = 'promote'")
        ((version,),) = conn.execute(
            "select ml.register_model(%s, null, %s, 1, 0.5, null, null, null, null, null, "
            "null, 'forged?')", (onnx, names))
        conn.commit()
        for statement in ("insert into ml.models (status, onnx_model, onnx_sha256, "
                          "feature_names, feature_set_version, threshold) values ('shadow', "
                          "'\\x00', repeat('a', 64), '{amount}', 1, 0.5)",
                          "update ml.models set status = 'shadow' where model_version = %(v)s",
                          "insert into ml.model_events (model_version, action, new_status) "
                          "values (%(v)s, 'rollback', 'champion')"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement, {"v": version})
            conn.rollback()
    with psycopg.connect(db) as conn:
        model = conn.execute("select status, onnx_sha256 = encode(sha256(onnx_model), 'hex') "
                             "from ml.models where model_version = %s", (version,)).fetchone()
        events = conn.execute("select action, new_status from ml.model_events "
                              "where model_version = %s", (version,)).fetchall()
    assert model == ("candidate", True)
    assert events == [("register", "candidate")]


def _tx(n: int, at: dt.datetime) -> CardTransaction:
    return CardTransaction(f"clock-{n}", at, "4111111111111111", Decimal("10.00"), "m",
                           "grocery_pos", 40.0, -74.0)


def _ingest(url: str, rows: list[CardTransaction]) -> dict[str, int]:
    with connect(url, role="pgfraud_producer") as conn, Ingestor(
            conn, source="stream", tokenizer=Tokenizer(b"k" * 32), background=False) as ing:
        for tx in rows:
            ing.add(tx)
    return {"accepted": ing.stats.accepted, **ing.stats.rejected}


def _clock(url: str) -> dt.datetime:
    with psycopg.connect(url) as conn:
        ((clock,),) = conn.execute("select max_transacted_at from ingest.event_clock")
    return clock


def test_an_implausible_time_is_quarantined_and_never_moves_the_clock(db_url: str) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert _ingest(db_url, [_tx(1, now - dt.timedelta(days=3))]) == {"accepted": 1}
    before = _clock(db_url)
    far = [dt.datetime(9999, 12, 31, tzinfo=dt.UTC), dt.datetime(2999, 1, 1, tzinfo=dt.UTC),
           dt.datetime(1900, 6, 1, tzinfo=dt.UTC), dt.datetime(1, 1, 1, tzinfo=dt.UTC),
           now + dt.timedelta(days=2)]
    result = _ingest(db_url, [_tx(10 + i, at) for i, at in enumerate(far)])
    assert result == {"accepted": 0, "implausible_time": 5}
    assert _clock(db_url) == before
    with psycopg.connect(db_url) as conn:
        reasons = conn.execute("select reason, raw_payload ? 'card_token', "
                               "raw_payload::text like '%4111111111111111%' "
                               "from ingest.quarantine").fetchall()
    assert reasons == [("implausible_time", True, False)] * 5


def test_a_stream_ahead_of_the_wall_clock_stays_plausible_but_a_jump_does_not(
        db_url: str) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    # Simulated time running ahead: 40 days in one batch, a transaction every 12 hours.
    ahead = [_tx(i, now + dt.timedelta(hours=12 * i)) for i in range(80)]
    assert _ingest(db_url, ahead) == {"accepted": 80}
    assert _clock(db_url) == now + dt.timedelta(hours=12 * 79)
    # Then a batch that jumps two days past everything: the jump and all after it refused.
    last = now + dt.timedelta(hours=12 * 79)
    rows = [_tx(100, last + dt.timedelta(hours=20)), _tx(101, last + dt.timedelta(days=3)),
            _tx(102, last + dt.timedelta(days=3, hours=1))]
    assert _ingest(db_url, rows) == {"accepted": 1, "implausible_time": 2}
    assert _clock(db_url) == last + dt.timedelta(hours=20)


def test_policy_changes_and_clock_repairs_are_audited(db_url: str) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    _ingest(db_url, [_tx(1, now - dt.timedelta(days=1))])
    with psycopg.connect(db_url) as conn:
        with pytest.raises(errors.InvalidParameterValue):
            conn.execute("select ingest.repair_event_clock(null, ' ')")
        conn.rollback()
        conn.execute("select ingest.set_event_time_policy(null, '10 years', 'loading a "
                     "far-future simulation')")
        conn.commit()
    # The loose policy lets a bad row in; the operator tightens it and repairs the clock.
    assert _ingest(db_url, [_tx(2, now + dt.timedelta(days=3000))]) == {"accepted": 1}
    with psycopg.connect(db_url) as conn:
        conn.execute("select ingest.set_event_time_policy(null, '1 day', 'back to normal')")
        ((repaired,),) = conn.execute(
            "select ingest.repair_event_clock(null, 'row clock-2 was dated 8 years ahead')")
        conn.execute("update ingest.event_clock set max_transacted_at = max_transacted_at "
                     "- interval '1 second'")
        changes = conn.execute("select setting, new_value is not null, reason, "
                               "changed_by = session_user from ingest.event_clock_changes "
                               "order by event_clock_change_id").fetchall()
    assert repaired == now - dt.timedelta(days=1)
    assert changes == [
        ("max_ahead", True, "loading a far-future simulation", True),
        ("max_ahead", True, "back to normal", True),
        ("clock", True, "row clock-2 was dated 8 years ahead", True),
        ("clock", True, "direct update (not through pgfraud clock)", True),
    ]
    with connect(db_url, role=TRAINER_ROLE) as conn:
        for statement in ("select ingest.repair_event_clock(null, 'x')",
                          "update ingest.event_clock set max_transacted_at = now()",
                          "delete from ingest.event_clock_changes"):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()


def test_a_note_holding_a_card_number_is_refused(db: str) -> None:
    (tx,) = some_transactions(db, 1)
    with connect(db, role=ANALYST_ROLE) as conn:
        for note in ("customer read out 4111 1111 1111 1111", "ref4111111111111111"):
            with pytest.raises(errors.CheckViolation, match="card number"):
                conn.execute("update scoring.predictions set true_value = true, "
                             "label_note = %s where transaction_id = %s", (note, tx))
            conn.rollback()
        conn.execute("update scoring.predictions set true_value = true, label_note = "
                     "'card ending 1111' where transaction_id = %s", (tx,))
        conn.commit()
    assert events_of(db, tx) == [(None, True, None, "card ending 1111", True)]
