"""scoring.write_labels, the owner's set-based label writer, against the row trigger it
stands in for (scoring.write_label, through an UPDATE of scoring.predictions): the same
labels and the same audit rows for any sequence of label rounds, the same refusals, and
nobody but the owner may call it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import errors

from pgfraud.kernel import queries
from tests.conftest import Databases
from tests.history import produce

# The trigger's way: what apply_simulated ran before revision 0016, over every model's
# row of the view (a shadow's row then finds the label already so).
VIEW_UPDATE = """
update scoring.predictions as p
set true_value = r.value, label_note = r.note, labeled_at = r.labeled_at,
    labeled_by = %(labeled_by)s
from unnest(%(ids)s::bigint[], %(values)s::boolean[], %(labeled_at)s::timestamptz[],
            %(notes)s::text[]) as r (transaction_id, value, labeled_at, note)
where p.transaction_id = r.transaction_id
"""
WRITE_LABELS = queries.load("labels")["apply_simulated"]

MODEL = """
insert into ml.models (status, onnx_model, onnx_sha256, feature_names, feature_set_version,
                       threshold, note)
values ('retired', '\\x00', repeat(%s, 64), '{placeholder}', 1, 0.5, 'write_labels test')
returning model_version
"""
SCORE = """
insert into scoring.scores (transaction_id, model_version, feature_set_version, is_shadow,
                            score, threshold, is_alert)
values (%s, %s, 1, %s, 0.1, 0.5, false)
"""
CARD_NOTE = "cardholder read 4111 1111 1111 1111 on the phone"
NO_TRANSACTION = 10**15

LABELS = ("select transaction_id, true_value, labeled_at, labeled_by, label_note, updated_at "
          "from scoring.labels order by transaction_id")
EVENTS = ("select transaction_id, merchant, transacted_at, old_value, new_value, old_note, "
          "label_note, labeled_at, labeled_by, recorded_by "
          "from scoring.label_events where label_event_id > %s order by transaction_id")


@pytest.fixture(scope="module")
def pool(databases: Databases) -> tuple[str, list[int | None]]:
    """A database whose transactions are scored by a champion, two of them by a shadow
    too, one not at all; and the ids a round picks from (with an id no transaction has,
    and a null)."""
    url = databases.create()
    produce(url, days=1, cards=40)
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute(
            "select transaction_id from ingest.transactions order by 1 limit 7")]
        champion, shadow = (conn.execute(MODEL, (c,)).fetchone()[0]  # type: ignore[index]
                            for c in "01")
        for i in ids[:6]:
            conn.execute(SCORE, (i, champion, False))
        for i in ids[:2]:
            conn.execute(SCORE, (i, shadow, True))
    assert len(ids) == 7
    return url, [*ids, NO_TRANSACTION, None]


@pytest.fixture
def conn(pool: tuple[str, list[int | None]]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pool[0], autocommit=True) as conn:
        yield conn


def event_clock(conn: psycopg.Connection[Any]) -> dt.datetime:
    ((clock,),) = conn.execute("select max_transacted_at from ingest.event_clock").fetchall()
    assert isinstance(clock, dt.datetime)
    return clock


Row = tuple[int, bool | None, int | None, str | None]  # id index, value, time index, note
Round = tuple[str | None, list[Row]]

rounds = st.lists(st.tuples(
    st.sampled_from(["analyst-a", "analyst-b", None]),
    st.lists(st.tuples(st.integers(0, 8), st.sampled_from([True, False, None]),
                       st.sampled_from([None, 0, 1, 2, 3, 4]),
                       st.sampled_from([None, "alert review", "chargeback", CARD_NOTE])),
             min_size=1, max_size=9, unique_by=lambda r: r[0])),
    min_size=1, max_size=6)


def apply_rounds(conn: psycopg.Connection[Any], statement: str, ids: list[int | None],
                 times: list[dt.datetime], plan: list[Round]) -> list[tuple[object, ...]]:
    """Each round in a savepoint of its own: what it did (the error class it raised, or
    the labels changed) and the labels and new audit rows after it."""
    outcomes: list[tuple[object, ...]] = []
    for labeled_by, rows in plan:
        ((last,),) = conn.execute("select coalesce(max(label_event_id), 0) "
                                  "from scoring.label_events").fetchall()
        params = {"ids": [ids[r[0]] for r in rows], "values": [r[1] for r in rows],
                  "labeled_at": [None if r[2] is None else times[r[2]] for r in rows],
                  "notes": [r[3] for r in rows], "labeled_by": labeled_by}
        try:
            with conn.transaction():
                cursor = conn.execute(statement, params, binary=True)
                done: object = (cursor.fetchone()[0] if cursor.description  # type: ignore[index]
                                else cursor.rowcount)
        except psycopg.Error as exc:
            done = ("refused", (exc.sqlstate or "")[:2])  # class 23 either way: see below
        events = conn.execute(EVENTS, (last,)).fetchall()
        assert done == len(events) or isinstance(done, tuple)
        outcomes.append((done, conn.execute(LABELS).fetchall(), events))
    return outcomes


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=rounds)
def test_write_labels_writes_what_the_trigger_writes(conn, pool, plan: list[Round]) -> None:
    """The same rounds (new labels, relabels, labels cleared to null, note-only changes,
    unchanged re-sends, arrivals before the event clock, at a label's own labeled_at,
    without a time or an author, ids without a score or a transaction, card numbers in
    notes) through the view's trigger and through write_labels, in one transaction (the
    same now()), each undone after: identical labels and audit rows, but for the
    identity. A round that fails must fail both ways; which integrity error comes first
    (a card number, a missing author) depends on row order, so the class is compared."""
    _, ids = pool
    clock = event_clock(conn)
    times = [clock - dt.timedelta(days=3), clock - dt.timedelta(seconds=1), clock,
             clock + dt.timedelta(hours=1), clock + dt.timedelta(days=2)]
    with conn.transaction(force_rollback=True):
        with conn.transaction(force_rollback=True):
            by_trigger = apply_rounds(conn, VIEW_UPDATE, ids, times, plan)
        by_function = apply_rounds(conn, WRITE_LABELS, ids, times, plan)
    assert by_function == by_trigger


def test_a_card_number_in_a_note_refuses_the_whole_call(conn, pool) -> None:
    _, ids = pool
    clock = event_clock(conn)
    with conn.transaction(force_rollback=True):
        with pytest.raises(errors.CheckViolation, match="card number"):
            conn.execute(WRITE_LABELS, {
                "ids": ids[:3], "values": [True, False, True], "labeled_at": [clock] * 3,
                "notes": ["alert review", CARD_NOTE, None], "labeled_by": "analyst-a"})
    assert conn.execute("select count(*) from scoring.labels").fetchone() == (0,)
    assert conn.execute("select count(*) from scoring.label_events").fetchone() == (0,)


@pytest.mark.parametrize(("ids", "values", "message"), [
    ([0, 1, 0], [True, True, False], "more than once"),
    ([0, 1], [True], "four arrays of one length"),
])
def test_duplicate_ids_and_ragged_arrays_are_refused(conn, pool, ids: list[int],
                                                     values: list[bool], message: str) -> None:
    _, pool_ids = pool
    with conn.transaction(force_rollback=True):
        with pytest.raises(errors.InvalidParameterValue, match=message):
            conn.execute(WRITE_LABELS, {
                "ids": [pool_ids[i] for i in ids], "values": values,
                "labeled_at": [None] * len(ids), "notes": [None] * len(ids),
                "labeled_by": "analyst-a"})
    assert conn.execute("select count(*) from scoring.label_events").fetchone() == (0,)
