"""The feature follower (features.compute_mode = 'follower'): features computed beside
storing, by a second backend, equal the definition and the reference to the last digit;
every stored row is computed and queued for scoring exactly once, whatever the step sizes,
concurrent producers, a kill -9 of the follower or a switch back to computing at ingest.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producer import features as feature_store
from tests.api_server import Server, body, continuing, make_token
from tests.conftest import Databases
from tests.history import produce, quick_model
from tests.integration.test_features import (
    BASE,
    assert_same,
    insert_batch,
    label,
    plan_strategy,
    reference,
    reset,
    stored_features,
)

PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))

# Each stored row: (has features, times queued for scoring).
QUEUED = """
select count(*) as stored,
       count(f.transaction_id) as with_features,
       count(p.transaction_id) as queued,
       count(*) filter (where (f.transaction_id is null) <> (p.transaction_id is null))
           as features_without_queue,
       count(*) filter (where t.transaction_id <= w.through_id and f.transaction_id is null)
           as missed_below_through
from ingest.transactions as t
cross join features.card_windows_through as w
left join features.transaction_features as f using (transaction_id)
left join scoring.pending as p using (transaction_id)
"""


def counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    cur = conn.execute(QUEUED)
    row = cur.fetchone()
    conn.commit()
    assert row is not None and cur.description is not None
    return {c.name: int(v) for c, v in zip(cur.description, row, strict=True)}


def follower_mode(conn: psycopg.Connection[Any]) -> None:
    conn.execute("truncate scoring.pending")
    conn.commit()
    feature_store.set_compute_mode(conn, "follower")


def rolled_back_batch(conn: psycopg.Connection[Any], rows: int) -> None:
    """A batch whose transaction rolls back after its insert: its ids are never used, and
    the table's ids have a gap (a producer's failed batch, a lost connection)."""
    conn.execute(
        "insert into ingest.transactions (trans_num, transacted_at, card_token, card_last4,"
        " amount, merchant, category, merchant_lat, merchant_long, payload_sha256, source)"
        " select 'rolled-back-' || g, %s, repeat('a', 64), '0000', 1, 'm', 'c', 0, 0,"
        " repeat('f', 64), 'csv' from generate_series(1, %s) as g", (BASE, rows))
    conn.rollback()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(plan=plan_strategy, steps=st.lists(st.one_of(st.none(), st.integers(1, 9)),
                                          min_size=6, max_size=6),
       gaps=st.lists(st.integers(0, 25), min_size=7, max_size=7))
def test_follower_steps_of_any_size_equal_the_reference(db_url: str, plan, steps,
                                                        gaps) -> None:
    """Batches and labels as in test_features, with follower steps of random sizes (or
    none) between them, and rolled-back batches leaving gaps in the ids (wider than a
    step, often): a row waits without features or a place in the queue until a step
    reaches it, then holds the reference's values; every row is queued exactly once; a
    step of n rows computes n of the waiting rows, or all of them when fewer wait, so a
    follower that stops on a step computing none stops only when none waits."""
    with psycopg.connect(db_url) as conn:
        model = reset(conn)
        follower_mode(conn)
        for serial, ((batch, labels), step, gap) in enumerate(
                zip(plan, steps[:len(plan)], gaps[:len(plan)], strict=True)):
            if gap:
                rolled_back_batch(conn, gap)
            insert_batch(conn, batch, serial)
            for pick, value, at in labels:
                label(conn, model, pick, value, at)
            if step is not None:
                waiting = feature_store.compute_mode(conn).waiting
                assert feature_store.compute_pending(conn, step)[0] == min(step, waiting)
                assert feature_store.compute_mode(conn).waiting == waiting - min(step, waiting)
            now = counts(conn)
            assert now["features_without_queue"] == 0 and now["missed_below_through"] == 0
            assert now["with_features"] == now["queued"] <= now["stored"]
        if gaps[-1]:  # and after the last batch
            rolled_back_batch(conn, gaps[-1])
        # What `pgfraud features follow --once` runs, in steps of one row: to the end.
        feature_store.follow(conn, batch_rows=1, once=True)
        assert feature_store.compute_mode(conn).waiting == 0
        computed, _ = feature_store.compute_pending(conn, None)
        assert computed == 0
        assert feature_store.compute_pending(conn, None) == (0, _)
        done = counts(conn)
        assert done["stored"] == done["with_features"] == done["queued"]
        followed = stored_features(conn)
        result = feature_store.backfill(conn, chunk=4)
        assert result.different_ids == [] and result.inserted == 0
        expected = reference(conn)
    assert followed.keys() == expected.keys()
    for transaction_id, values in expected.items():
        assert_same(followed[transaction_id], values)


def test_rows_wait_for_the_follower_and_backfill_leaves_them_to_it(db_url: str) -> None:
    row = {"card": "a", "merchant": "m1", "category": "travel", "cents": 100, "lat": 1.0,
           "long": 1.0, "has_home": True}
    with psycopg.connect(db_url) as conn:
        reset(conn)
        follower_mode(conn)
        # An empty table: nothing computed, through_id stays (a step once ran ahead of
        # the ids to come here, and computed rows that committed while it ran).
        through = feature_store.compute_pending(conn, 5)[1]
        assert feature_store.compute_pending(conn, 5) == (0, through)
        insert_batch(conn, [{**row, "offset": dt.timedelta(minutes=m)} for m in (0, 5)], 0)
        assert feature_store.compute_mode(conn).waiting == 2
        # A backfill computes only up to the follower's through_id: nothing here.
        assert feature_store.backfill(conn).transactions == 0
        assert counts(conn)["with_features"] == 0
        assert feature_store.compute_pending(conn, 1)[0] == 1
        assert feature_store.compute_mode(conn).waiting == 1
        assert feature_store.backfill(conn).identical == 1
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="at least 1"):
            conn.execute("select features.compute_pending(0)")
        conn.rollback()
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="'ingest' or"):
            conn.execute("select features.set_computed_by('trigger')")
        conn.rollback()


def test_rows_loaded_with_the_feature_trigger_off_do_not_stop_the_follower(
        db_url: str) -> None:
    """A bulk load with the feature trigger disabled (docs/features.md) stores rows that
    are queued for scoring but have no features, and leaves the card windows behind; a
    backfill may have computed some of them since. The follower's first step reaches them
    all and must neither fail on a row already queued or already computed (a unique
    violation would stop every later step, and the API's too) nor queue one twice."""
    row = {"card": "a", "merchant": "m1", "category": "travel", "cents": 100, "lat": 1.0,
           "long": 1.0, "has_home": True}
    with psycopg.connect(db_url) as conn:
        reset(conn)
        conn.execute("truncate scoring.pending")
        conn.commit()
        insert_batch(conn, [{**row, "offset": dt.timedelta(minutes=m)} for m in (0, 1)], 0)
        conn.execute("alter table ingest.transactions"
                     " disable trigger transactions_compute_features")
        conn.commit()
        try:
            insert_batch(conn, [{**row, "offset": dt.timedelta(hours=1, minutes=m)}
                                for m in (0, 1)], 1)
            feature_store.backfill(conn)  # these two get features, the next two do not
            insert_batch(conn, [{**row, "offset": dt.timedelta(hours=2, minutes=m)}
                                for m in (0, 1)], 2)
        finally:
            conn.execute("alter table ingest.transactions"
                         " enable trigger transactions_compute_features")
            conn.commit()
        assert counts(conn) | {"missed_below_through": 0} == {
            "stored": 6, "with_features": 4, "queued": 6, "features_without_queue": 2,
            "missed_below_through": 0}
        feature_store.set_compute_mode(conn, "follower")
        assert feature_store.compute_pending(conn, 3)[0] >= 1
        feature_store.follow(conn, once=True)
        insert_batch(conn, [{**row, "offset": dt.timedelta(hours=3)}], 3)
        feature_store.follow(conn, once=True)
        assert feature_store.set_compute_mode(conn, "ingest") == 0
        done = counts(conn)
        assert done["stored"] == done["with_features"] == done["queued"] == 7
        assert done["features_without_queue"] == done["missed_below_through"] == 0
        followed = stored_features(conn)
        expected = reference(conn)
    for transaction_id, values in expected.items():
        assert_same(followed[transaction_id], values)


def test_switching_back_to_ingest_computes_every_waiting_row_first(db_url: str) -> None:
    row = {"card": "a", "merchant": "m1", "category": "travel", "cents": 100, "lat": 1.0,
           "long": 1.0, "has_home": True}
    with psycopg.connect(db_url) as conn:
        reset(conn)
        follower_mode(conn)
        for serial in range(3):
            insert_batch(conn, [{**row, "offset": dt.timedelta(hours=serial, minutes=m)}
                                for m in (0, 1)], serial)
        feature_store.compute_pending(conn, 3)
        assert feature_store.set_compute_mode(conn, "ingest") == 3
        insert_batch(conn, [{**row, "offset": dt.timedelta(hours=5)}], 9)  # the trigger
        assert feature_store.compute_mode(conn).waiting == 0
        done = counts(conn)
        assert done["stored"] == done["with_features"] == done["queued"] == 7
        followed = stored_features(conn)
        expected = reference(conn)
    for transaction_id, values in expected.items():
        assert_same(followed[transaction_id], values)


def test_follower_beside_concurrent_producers_and_labels(db_url: str) -> None:
    """Two producers commit in whatever order the ingest lock lets them while a follower
    loops in small steps: at the end every row has the backfill's values and one place in
    the queue."""
    with psycopg.connect(db_url) as conn:
        model = reset(conn)
        follower_mode(conn)
    producing = [True, True]
    errors: list[BaseException] = []

    def producer(n: int) -> None:
        try:
            with psycopg.connect(db_url) as conn:
                for serial in range(15):
                    insert_batch(conn, [
                        {"card": "abc"[(serial + i + n) % 3], "merchant": f"m{i % 3 + 1}",
                         "category": "travel", "cents": 100 + serial * 7 + i,
                         "offset": dt.timedelta(minutes=serial * 40 + i * 3 + n),
                         "lat": 1.0, "long": 2.0, "has_home": i % 2 == 0}
                        for i in range(4)], n * 100 + serial)
                    if serial % 5 == 4:
                        label(conn, model, serial, serial % 2 == 0, None)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)
        finally:
            producing[n] = False

    def follower() -> None:
        try:
            with psycopg.connect(db_url) as conn:  # steps of 5 until the producers end
                feature_store.follow(conn, batch_rows=5, idle_wait=0,
                                     stop=lambda: not any(producing))
                feature_store.follow(conn, batch_rows=5, once=True)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=producer, args=(n,)) for n in (0, 1)]
    threads.append(threading.Thread(target=follower))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with psycopg.connect(db_url) as conn:
        done = counts(conn)
        assert done["stored"] == done["with_features"] == done["queued"] == 120
        result = feature_store.backfill(conn, chunk=11)
        assert result.different_ids == [] and result.identical == 120
        followed = stored_features(conn)
        expected = reference(conn)
    for transaction_id, values in expected.items():
        assert_same(followed[transaction_id], values)


def test_kill_9_of_the_follower_loses_nothing(db_url: str) -> None:
    """`pgfraud features follow` killed with SIGKILL in the middle of its steps: what it
    committed is consistent (features, queue and through_id together), and the next
    follower finishes the rest once."""
    env = {**os.environ, "DATABASE_URL": db_url, "PGFRAUD_TOKEN_KEY": "k" * 32}
    with psycopg.connect(db_url) as conn:
        follower_mode(conn)
    subprocess.run([PGFRAUD, "produce", "--start", "2026-01-01", "--span", "3d", "--cards",
                    "300", "--merchants", "40"], env=env, check=True, capture_output=True,
                   timeout=300)
    with psycopg.connect(db_url) as conn:
        before = counts(conn)
    assert before["stored"] > 1000 and before["with_features"] == 0
    follower = subprocess.Popen([PGFRAUD, "features", "follow", "--batch-rows", "20"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with psycopg.connect(db_url, autocommit=True) as conn:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and conn.execute(
                "select count(*) > 200 from features.transaction_features").fetchone() != (True,):
            time.sleep(0.02)
    follower.send_signal(signal.SIGKILL)
    follower.wait(30)
    with psycopg.connect(db_url) as conn:
        killed = counts(conn)
    assert 0 < killed["with_features"] < killed["stored"], killed
    assert killed["with_features"] == killed["queued"]
    assert killed["features_without_queue"] == killed["missed_below_through"] == 0
    again = subprocess.run([PGFRAUD, "features", "follow", "--once"], env=env, text=True,
                           capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"computed {killed['stored'] - killed['with_features']:,} rows" in again.stderr
    with psycopg.connect(db_url) as conn:
        done = counts(conn)
        assert done["stored"] == done["with_features"] == done["queued"]
        assert feature_store.backfill(conn).different_ids == []


def test_mode_cli_shows_and_switches(db_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": db_url}
    shown = subprocess.run([PGFRAUD, "features", "mode"], env=env, text=True,
                           capture_output=True, timeout=60)
    assert shown.returncode == 0 and "features computed by  ingest" in shown.stdout
    switched = subprocess.run([PGFRAUD, "features", "mode", "follower"], env=env, text=True,
                              capture_output=True, timeout=60)
    assert "features computed by  follower" in switched.stdout, switched.stderr
    assert "rows waiting          0" in switched.stdout
    wrong = subprocess.run([PGFRAUD, "features", "mode", "trigger"], env=env, text=True,
                           capture_output=True, timeout=60)
    assert wrong.returncode == 2 and "'ingest', 'follower'" in wrong.stderr
    with psycopg.connect(db_url) as conn:
        assert feature_store.compute_mode(conn).computed_by == "follower"


CARDS = 150


@pytest.fixture(scope="module")
def api_history(databases: Databases) -> tuple[str, int]:
    url = databases.create()
    sent = produce(url, days=2, cards=CARDS)
    quick_model(url, seed=1, status="champion")
    with psycopg.connect(url) as conn:
        conn.execute("delete from scoring.pending")
    return url, sent


def test_api_computes_the_rows_before_its_own_with_the_follower(
        databases: Databases, api_history: tuple[str, int], tmp_path: Path) -> None:
    """Rows a producer stored wait for the follower; a request then stores its own row,
    computes the features of every row before it and its own in its transaction, and is
    decided by the model (not a fallback). The waiting rows are queued for the scorer."""
    from producer.cards import Tokenizer
    from producer.ingest import Ingestor

    url = databases.clone(api_history[0])
    with psycopg.connect(url) as conn:
        feature_store.set_compute_mode(conn, "follower")
    txs = continuing(after=api_history[1], cards=CARDS)
    with psycopg.connect(url) as conn, Ingestor(
            conn, source="stream", tokenizer=Tokenizer(b"k" * 32), background=False) as ing:
        for tx in [next(txs) for _ in range(30)]:
            ing.add(tx)
    with psycopg.connect(url) as conn:
        waiting = feature_store.compute_mode(conn).waiting
        assert waiting == 30 and counts(conn)["queued"] == 0
    token = make_token(url, "follower-tests")
    server = Server(url, "--deadline-ms", "20000", log_dir=tmp_path)
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.base, timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            answers = [client.post("/v1/authorizations", json=body(next(txs)))
                       for _ in range(3)]
    finally:
        server.stop()
    assert [a.status_code for a in answers] == [200] * 3, answers[0].text
    assert not any(a.json()["is_fallback"] for a in answers)
    with psycopg.connect(url) as conn:
        done = counts(conn)
        assert done["with_features"] == done["stored"]
        assert feature_store.compute_mode(conn).waiting == 0
        queued_stream = conn.execute(
            "select count(*) from scoring.pending join ingest.transactions using"
            " (transaction_id) where source = 'stream'").fetchone()
        decided = conn.execute(
            "select count(*) from api.decisions d join scoring.scores s using (transaction_id)"
            " where not s.is_shadow and not d.is_fallback").fetchone()
        assert feature_store.backfill(conn).different_ids == []
    assert queued_stream == (30,) and decided == (3,)


def test_replay_and_demo_refuse_to_run_with_rows_left_to_a_follower(db_url: str,
                                                                      tmp_path: Path) -> None:
    """They score each row right after storing it: with features left to a follower they
    would wait for nothing; they say how to switch back instead."""
    from pgfraud.backtest.replay import replay
    from pgfraud.kernel.errors import PgfraudError
    from producer.cards import Tokenizer

    with psycopg.connect(db_url) as conn:
        feature_store.set_compute_mode(conn, "follower")
    with pytest.raises(PgfraudError, match="run `pgfraud features mode ingest` first"):
        replay(db_url, tmp_path / "never-read.csv", tokenizer=Tokenizer(b"k" * 32))
    demo = subprocess.run([PGFRAUD, "demo", "--span", "0", "--live", "0"],
                          env={**os.environ, "DATABASE_URL": db_url}, text=True,
                          capture_output=True, timeout=300)
    assert demo.returncode != 0
    assert "the demo computes them as it stores rows" in demo.stdout + demo.stderr
