"""The scorer on a real database: exactly-once scoring, shadows, alerts, hot swap, and
faults (kill -9, PostgreSQL restarting, out-of-order commits, several workers)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql

from pgfraud.kernel import queries
from pgfraud.kernel.db import connect
from pgfraud.kernel.embedded import EmbeddedPostgres
from pgfraud.kernel.migrate import upgrade
from pgfraud.kernel.names import ALERT_CHANNEL, TRAINER_ROLE
from pgfraud.lifecycle import registry
from scorer.onnx_model import OnnxModel
from scorer.scoring import Scorer
from tests.conftest import Databases
from tests.history import produce, quick_model

PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))

# Every transaction has exactly one champion prediction and nothing is scored twice by a
# model; returns (transactions, champion predictions, missing, duplicates).
COVERAGE = """
select (select count(*) from ingest.transactions),
       (select count(*) from scoring.predictions where not is_shadow),
       (select count(*) from ingest.transactions t where not exists (
            select from scoring.predictions p
            where p.transaction_id = t.transaction_id and not p.is_shadow)),
       (select count(*) from (select transaction_id from scoring.predictions
                              where not is_shadow group by 1 having count(*) > 1) d)
"""


def coverage(url: str) -> tuple[int, int, int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(COVERAGE).fetchone()
    assert row is not None
    return row


def pending(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from scoring.pending").fetchone()
    assert row is not None
    return int(row[0])


def env_for(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "PGFRAUD_TOKEN_KEY": "k" * 32}


def pgfraud(*args: str, url: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PGFRAUD, *args], env=env_for(url), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def start_scorer(*args: str, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen([PGFRAUD, "score", "--poll-interval", "0.2", *args],
                            env=env_for(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop(process: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


@pytest.fixture(scope="module")
def traffic(databases: Databases) -> str:
    """Four days of simulated traffic (300 cards), unscored, with a champion and a
    shadow model trained on it."""
    url = databases.create()
    produce(url, days=4, cards=300)
    quick_model(url, seed=1, status="champion")
    quick_model(url, seed=2, status="shadow")
    return url


@pytest.fixture
def db(databases: Databases, traffic: str) -> str:
    return databases.clone(traffic)


def test_every_transaction_is_scored_once_by_champion_and_shadow(db: str) -> None:
    with Scorer(db, batch_size=700) as scorer:
        scorer.run(lambda: False, once=True)
    total, champion_rows, missing, duplicates = coverage(db)
    assert total > 2000 and champion_rows == total and missing == duplicates == 0
    assert pending(db) == 0
    with psycopg.connect(db) as conn:
        champion, shadow = (v for (v,) in conn.execute(
            "select model_version from ml.models where status in ('champion', 'shadow') "
            "order by status"))
        per_model: dict[int, int] = dict(conn.execute(
            "select model_version, count(*) from scoring.predictions group by 1").fetchall())
        assert per_model == {champion: total, shadow: total}
        assert conn.execute(
            "select bool_and(is_shadow = (model_version = %s)), bool_and(latency_ms >= 0), "
            "bool_and(is_alert = (score >= threshold)), bool_and(true_value is null "
            "and labeled_at is null and labeled_by is null) from scoring.predictions",
            (shadow,)).fetchone() == (True, True, True, True)
        # Alerts: exactly the champion's positive decisions, none from the shadow.
        assert conn.execute(
            """select count(*) filter (where a.transaction_id is null),
                      (select count(*) from scoring.alerts where model_version <> %s)
               from scoring.predictions p
               left join scoring.alerts a using (transaction_id)
               where p.is_alert and not p.is_shadow""", (champion,)).fetchone() == (0, 0)
        n_alerts = conn.execute("select count(*) from scoring.alerts").fetchone()
        assert n_alerts is not None and n_alerts[0] > 0

        # The stored scores are what the stored ONNX bytes give for the stored features.
        model = registry.load(conn, champion)
        rows = conn.execute(
            sql.SQL("select p.score, {} from scoring.predictions p "
                    "join features.model_input_v1 m using (transaction_id) "
                    "where p.model_version = %s order by random() limit 300").format(
                sql.SQL(", ").join(sql.SQL("m.{}").format(sql.Identifier(n))
                                   for n in model.feature_names)), (champion,)).fetchall()
    stored = np.array([r[0] for r in rows])
    x = np.array([r[1:] for r in rows], dtype=np.float64)
    assert np.abs(stored - OnnxModel(model.onnx_bytes).predict(x)).max() < 1e-6


def test_claim_locks_the_queue_once_after_it_was_analysed_empty(db: str) -> None:
    """The queue is empty between bursts, so autovacuum's (and a replay's) statistics say
    so. With them, ``transaction_id in (select ... limit ... for update skip locked)``
    became a semi join that ran the locking subquery again for every claimed row (694 ms
    for a 2,000-row claim in the replay benchmark): the claim must pick and lock its rows
    once, and they are the oldest."""
    limit = 500
    claim = queries.with_columns(queries.load("scoring")["claim"], [], "m")
    with psycopg.connect(db) as conn:
        queued = [r[0] for r in conn.execute(
            "select transaction_id from scoring.pending order by transaction_id")]
        assert len(queued) > limit
        conn.execute("create temporary table kept on commit preserve rows as "
                     "select * from scoring.pending")
        conn.execute("delete from scoring.pending")
        conn.commit()
        conn.execute("analyze scoring.pending")
        conn.execute("insert into scoring.pending select * from kept")
        conn.commit()
        ((plan,),) = conn.execute(sql.SQL("explain (analyze, format json) ") + claim,
                                  {"limit": limit}).fetchall()
        conn.rollback()  # EXPLAIN ANALYZE deleted them
        claimed = [r[0] for r in conn.execute(claim, {"limit": limit}).fetchall()]
        conn.rollback()
    nodes = list(_plan_nodes(plan[0]["Plan"]))
    locks = [n for n in nodes if n["Node Type"] == "LockRows"]
    assert [(n["Actual Loops"], n["Actual Rows"]) for n in locks] == [(1, limit)]
    assert claimed == queued[:limit]


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_alerts_notify_with_reason_codes(db: str) -> None:
    with psycopg.connect(db, autocommit=True) as listener:
        listener.execute(f"listen {ALERT_CHANNEL}")
        with Scorer(db) as scorer:
            scorer.run(lambda: False, once=True)
        payloads = [json.loads(n.payload) for n in listener.notifies(timeout=2)]
    with psycopg.connect(db) as conn:
        stored = conn.execute("select count(*) from scoring.alerts").fetchone()
    assert stored is not None and len(payloads) == stored[0] > 0
    first = payloads[0]
    assert set(first) >= {"transaction_id", "card_last4", "score", "threshold", "reasons",
                          "model_version", "amount", "merchant"}
    assert len(first["card_last4"]) == 4 and first["score"] >= first["threshold"]
    assert 1 <= len(first["reasons"]) <= 3
    assert all(r["contribution"] > 0 for r in first["reasons"])
    contributions = [r["contribution"] for r in first["reasons"]]
    assert contributions == sorted(contributions, reverse=True)


# Run in a fresh interpreter, so that no thread of another test runs beside it: the CPU
# clock ticks (/proc/self/task/*/stat) of every thread but the caller's, across 200 calls
# of the champion's reason codes on 100 stored rows.
OTHER_THREADS_CPU = """
import os, sys, threading
import numpy as np, psycopg
from psycopg import sql
from scorer import models
from scorer.scoring import DeployedModel

def others():
    me, ticks = threading.get_native_id(), 0
    for task in os.listdir("/proc/self/task"):
        if int(task) != me:
            fields = open(f"/proc/self/task/{task}/stat").read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks

with psycopg.connect(sys.argv[1]) as conn:
    (version,) = conn.execute(
        "select model_version from ml.models where status = 'champion'").fetchone()
    model = DeployedModel.load(models.load(conn, version))
    rows = conn.execute(sql.SQL("select {} from features.model_input_v1 limit 100").format(
        sql.SQL(", ").join(map(sql.Identifier, model.feature_names)))).fetchall()
features = np.array(rows, dtype=np.float32)
before = others()
for _ in range(200):
    reasons = model.reasons(features)
print(others() - before, sum(map(len, reasons)))
"""


def test_reason_codes_run_on_the_calling_thread_only(db: str) -> None:
    # The scorer scales by processes, one thread each (onnxruntime's session too).
    # LightGBM's OpenMP threads, left to their default, split each call and then spin-wait
    # on every other core: on 2 cores the scorer process used 2.5x its CPU, taken from
    # PostgreSQL. Those threads exist once the booster is loaded, idle; no call may wake
    # them.
    result = subprocess.run([sys.executable, "-c", OTHER_THREADS_CPU, db],
                            capture_output=True, text=True, check=True)
    ticks, reasons = map(int, result.stdout.split())
    assert reasons > 0  # the model gave reason codes: the calls did the work
    assert ticks == 0, f"other threads used {ticks} clock ticks of CPU"


def test_no_champion_is_a_clear_error(db_url: str) -> None:
    produce(db_url, days=0.1, cards=50)
    result = pgfraud("score", "--once", url=db_url)
    assert result.returncode == 1
    assert "no champion" in result.stderr and "pgfraud train --bootstrap" in result.stderr
    assert pending(db_url) > 0  # nothing was claimed


def test_out_of_order_commits_are_not_skipped(db: str) -> None:
    # Ingest normally commits ids in order: the ingest lock and the event clock serialise
    # producers. A deployment could still see a lower id commit after higher ones (two
    # writers, a long transaction), and a max-id watermark would then skip it for good.
    # To make that happen here, the two triggers that serialise are disabled and each
    # writer computes its own rows' features with the same SQL function.
    with psycopg.connect(db) as owner:
        owner.execute("alter table ingest.transactions disable trigger transactions_lock_ingest")
        owner.execute("alter table ingest.transactions "
                      "disable trigger transactions_compute_features")
    with Scorer(db) as scorer:
        scorer.run(lambda: False, once=True)
    insert = """with new as (
                    insert into ingest.transactions (trans_num, transacted_at, card_token,
                        card_last4, amount, merchant, category, merchant_lat, merchant_long,
                        payload_sha256, source)
                    select 'late-' || %(tag)s || g, now(), repeat('b', 64), '4242', 10, 'm',
                           'misc_net', 40, -75, repeat('c', 64), 'stream'
                    from generate_series(1, %(n)s) g
                    returning transaction_id)
                select min(transaction_id), max(transaction_id) from new"""
    with psycopg.connect(db) as early, psycopg.connect(db) as later:
        first, last = early.execute(insert, {"tag": "a", "n": 5}).fetchone() or (0, 0)
        early.execute(FEATURES, (first, last))
        first, last = later.execute(insert, {"tag": "b", "n": 7}).fetchone() or (0, 0)
        later.execute(FEATURES, (first, last))
        later.commit()  # the higher ids commit first
        with Scorer(db) as scorer:
            scorer.run(lambda: False, once=True)
        assert _scored_like(db, "late-b%") == 7 and _scored_like(db, "late-a%") == 0
        early.commit()
    with Scorer(db) as scorer:
        scorer.run(lambda: False, once=True)
    assert _scored_like(db, "late-a%") == 5
    total, champion_rows, missing, duplicates = coverage(db)
    assert champion_rows == total and missing == duplicates == 0
    with psycopg.connect(db) as conn:
        ids = conn.execute("select max(transaction_id) filter (where trans_num like 'late-a%'),"
                           " min(transaction_id) filter (where trans_num like 'late-b%')"
                           " from ingest.transactions").fetchone()
    assert ids is not None and ids[0] < ids[1]


FEATURES = ("insert into features.transaction_features "
            "select * from features.compute_range(%s, %s)")


def _scored_like(url: str, pattern: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*) from scoring.predictions p join ingest.transactions t "
            "using (transaction_id) where not p.is_shadow and t.trans_num like %s",
            (pattern,)).fetchone()
    return int(row[0]) if row else 0


def test_four_workers_score_disjoint_batches(db: str) -> None:
    result = pgfraud("score", "--workers", "4", "--batch-size", "100", "--once", url=db)
    assert result.returncode == 0, result.stderr
    total, champion_rows, missing, duplicates = coverage(db)
    assert champion_rows == total and missing == duplicates == 0
    assert f"scored {total:,} transactions" in result.stderr


def test_kill_minus_nine_at_random_moments(databases: Databases, traffic: str) -> None:
    url = databases.clone(traffic)
    produce(url, days=20, cards=1200, seed=11,  # ~50k transactions in all
            start=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    total = coverage(url)[0]
    assert total >= 50_000
    rng = random.Random(7)
    for _ in range(10):
        before = coverage(url)[1]
        process = start_scorer("--batch-size", "300", url=url)
        # Wait until this scorer commits its first batch, then kill it a random moment
        # later: mid-batch, between batches, while reading or writing. A 300-row batch
        # takes ~10 ms; seen within 10 ms and killed within 0.1 s after, a scorer scores
        # a few thousand rows at most, which leaves rows for the last kill (with a 0.2 s
        # poll and up to 0.25 s more, ten kills once scored all 53k rows: the kills then
        # landed on an idle scorer).
        wait_until(functools.partial(_progressed, url, before, process), 60,
                   "the scorer to commit a batch", interval=0.01)
        time.sleep(rng.uniform(0, 0.1))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL, "the scorer ended before the kill"
        assert coverage(url)[3] == 0  # no duplicates, ever
    scored_before = total - coverage(url)[2]
    assert 0 < scored_before < total, "the kills should land while scoring is under way"
    result = pgfraud("score", "--once", url=url)
    assert result.returncode == 0, result.stderr
    total, champion_rows, missing, duplicates = coverage(url)
    assert champion_rows == total and missing == duplicates == 0


def _progressed(url: str, before: int, process: subprocess.Popen[str]) -> bool:
    return coverage(url)[1] > before or process.poll() is not None


def test_postgres_restart_mid_run(private_cluster: EmbeddedPostgres) -> None:
    url = private_cluster.url()
    upgrade(url)
    produce(url, days=4, cards=800)
    quick_model(url, status="champion")
    process = start_scorer("--batch-size", "100", url=url)
    try:
        wait_until(lambda: coverage(url)[1] > 0, 30, "scoring to start")
        private_cluster.stop(mode="immediate")
        time.sleep(1.5)
        private_cluster.start()
        wait_until(lambda: pending(url) == 0, 90, "the scorer to drain the queue")
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert "database unavailable" in err and "retrying" in err
    total, champion_rows, missing, duplicates = coverage(url)
    assert champion_rows == total and missing == duplicates == 0


def test_hot_swap_without_gap_or_double(db: str) -> None:
    with psycopg.connect(db) as conn:
        old = registry.champion(conn)
    assert old is not None
    new = quick_model(db, seed=3)
    process = start_scorer("--batch-size", "50", url=db)
    # Traffic until the new champion has scored (SIGTERM below), however long that takes.
    producer = subprocess.Popen(
        [PGFRAUD, "produce", "--rate", "300", "--duration", "600", "--cards", "300",
         "--start", "2026-11-01"], env=env_for(db), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: _scored_by(db, old) > 3000 and pending(db) < 100, 60,
                   "the scorer to catch up with the producer")
        with connect(db, role=TRAINER_ROLE, autocommit=True) as conn:
            registry.promote(conn, new)
        # The running scorer takes the promotion over (no restart): the new champion scores
        # before the scorer stops. The bound only ends a hang; speed is not asserted here.
        wait_until(lambda: _scored_by(db, new) > 0, 120, "the new champion to score")
    finally:
        producer.send_signal(signal.SIGTERM)
        producer_err = producer.communicate(timeout=60)[1]
        wait_until(lambda: pending(db) == 0, 60, "the queue to drain")
        code, err = stop(process)
    assert producer.returncode == 0, producer_err
    assert code == 0, err
    total, champion_rows, missing, duplicates = coverage(db)
    assert champion_rows == total and missing == duplicates == 0
    with psycopg.connect(db) as conn:
        last_old, first_new = conn.execute(
            "select max(scored_at) filter (where model_version = %s), "
            "min(scored_at) filter (where model_version = %s) from scoring.predictions",
            (old, new)).fetchone() or (None, None)
    # Every batch of the old champion committed before the promotion, and every batch of
    # the new one began after it.
    assert last_old is not None and first_new is not None and last_old < first_new


def _scored_by(url: str, version: int) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from scoring.predictions where model_version = %s",
                           (version,)).fetchone()
    return int(row[0]) if row else 0


def test_produce_while_scoring_leaves_one_champion_prediction_each(db_url: str) -> None:
    produce(db_url, days=1, cards=300)
    quick_model(db_url, status="champion")
    scorer = start_scorer(url=db_url)
    try:
        result = pgfraud("produce", "--rate", "500", "--duration", "10", "--cards", "300",
                         url=db_url)
        assert result.returncode == 0, result.stderr
        wait_until(lambda: pending(db_url) == 0, 60, "the scorer to catch up")
    finally:
        code, err = stop(scorer)
    assert code == 0, err
    total, champion_rows, missing, duplicates = coverage(db_url)
    assert total > 4000 and champion_rows == total and missing == duplicates == 0
