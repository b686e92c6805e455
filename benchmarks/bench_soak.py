"""Soak: a long stream through scorer kills and PostgreSQL restarts, then an audit.

One fresh cluster, migrated, with a first champion from ``pgfraud.lifecycle.bootstrap`` (a few
simulated days: seconds; the soak needs a champion, not a good one). Then the real
commands run as in production, each in its own process group, logging to a file:
``pgfraud produce --count N --rate R`` and ``pgfraud score --workers 2``. While the
producer streams, at seeded random moments, the scorer's whole process group (the
supervisor and its workers) is killed with SIGKILL and a new scorer started, and
PostgreSQL is stopped in immediate mode (to clients and to recovery, a crash) and
started again. A kill due before the scorer has committed anything waits for its first
commit, so every kill hits a scorer at work, not one still importing its libraries. The
producer is never restarted: it must ride out every restart itself, reconnecting and
sending the lost batch again.

When the producer has exited and the queue is empty, the database is audited as the
owner: the stored ``trans_num`` values are exactly the first N of the seeded stream
(regenerated in this process), each transaction has one champion prediction, no
(transaction, model) pair is scored twice, nothing is left queued or quarantined.
:func:`check` raises :class:`SoakError` on any non-zero count, so a broken invariant
never reaches BENCHMARKS.md as a number.

``tests/integration/test_soak.py`` runs the same soak, smaller, in the test suite.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from benchmarks.common import Section, fresh_cluster, table
from benchmarks.soak_audit import Audit, audit
from benchmarks.soak_fleet import Fleet, SoakError, tails
from pgfraud.kernel import migrate
from pgfraud.kernel.embedded import EmbeddedPostgres
from pgfraud.lifecycle.bootstrap import BootstrapOptions, bootstrap_champion
from producer.stream import StreamConfig

log = logging.getLogger(__name__)

#: The first champion's history: 4 simulated days of 800 cards (~6,500 rows, ~120 frauds)
#: train in ~4 s here (the 14-day default: 15 s to 2 min on this shared machine). A fixed
#: end makes it the same model every run (with ``end=now`` so small a history sometimes
#: lacks validation frauds).
BOOTSTRAP = BootstrapOptions(days=4, cards=800, merchants=160, fraud_rate=0.02)
BOOTSTRAP_END = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
RESTART_PAUSE_S = 1.0
#: How long the producer may run past its planned stream time (its own reconnect
#: timeout is 120 s per outage).
PRODUCER_GRACE_S = 180.0
STARTUP_TIMEOUT_S = 60.0
SCORER_START_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 120.0
KILL, RESTART = "SIGKILL scorer", "restart PostgreSQL"


def _midnight_days_ago(days: int) -> dt.datetime:
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=days)


@dataclass(frozen=True)
class Plan:
    """What to stream and which faults to inject; the defaults are the benchmark's."""

    transactions: int = 100_000
    #: 300/s: ~330 s of stream, room for 10 restarts and 20 scorer start-ups (a kill
    #: waits for the new scorer's first commit: 5-7 s after exec for 2 workers here).
    rate: float = 300.0
    kills: int = 20
    restarts: int = 10
    workers: int = 2
    seed: int = 2026
    cards: int = 2000
    merchants: int = 400
    fraud_rate: float = 0.01
    #: Event time from 60 days back: 100,000 transactions of 2,000 cards span ~25
    #: simulated days, so every event time is in the past, as ingest expects.
    start: dt.datetime = field(default_factory=lambda: _midnight_days_ago(60))

    @property
    def planned_stream_s(self) -> float:
        return self.transactions / self.rate

    def stream_config(self) -> StreamConfig:
        """The config ``pgfraud produce`` builds from :meth:`produce_args`."""
        return StreamConfig(seed=self.seed, start=self.start, fraud_rate=self.fraud_rate,
                            cards=self.cards, merchants=self.merchants)

    def produce_args(self) -> list[str]:
        return ["produce", "--count", str(self.transactions), "--rate", str(self.rate),
                "--seed", str(self.seed), "--start", self.start.isoformat(),
                "--cards", str(self.cards), "--merchants", str(self.merchants),
                "--fraud-rate", str(self.fraud_rate)]

    def score_args(self) -> list[str]:
        return ["score", "--workers", str(self.workers), "--poll-interval", "0.2"]

    def schedule(self) -> list[tuple[float, str]]:
        """(seconds after the producer connects, fault), seeded, spread over 5-85% of
        the planned stream time; a slower stream only leaves more room after the last."""
        rng = random.Random(self.seed)
        faults = [KILL] * self.kills + [RESTART] * self.restarts
        return sorted((rng.uniform(0.05, 0.85) * self.planned_stream_s, f) for f in faults)


@dataclass
class Faults:
    """The faults actually injected."""

    kills: int = 0
    #: Per kill, how long it waited past its moment for the scorer's first commit.
    kill_delays_s: list[float] = field(default_factory=list)
    downtimes_s: list[float] = field(default_factory=list)  # one per restart


@dataclass(frozen=True)
class ProducerSummary:
    """The counts ``pgfraud produce`` prints when it ends."""

    rows_read: int
    stored: int
    resent: int
    reconnects: int

    @classmethod
    def parse(cls, text: str) -> ProducerSummary:
        def value(label: str) -> int:
            match = re.search(rf"^{re.escape(label)}\s+([\d,]+)", text, re.MULTILINE)
            return int(match.group(1).replace(",", "")) if match else 0

        return cls(rows_read=value("rows read"), stored=value("stored (new)"),
                   resent=value("already stored (re-sent)"), reconnects=value("reconnects"))


@dataclass(frozen=True)
class Outcome:
    """What a soak did and found."""

    plan: Plan
    faults: Faults
    producer: ProducerSummary
    audit: Audit
    scorer_retries: int  # workers' "database unavailable ...; retrying" log lines
    stream_s: float
    drain_s: float
    logs: Path


def prepare(cluster: EmbeddedPostgres) -> str:
    """Start and migrate the cluster and register a bootstrap champion; its URL."""
    url = cluster.start()
    migrate.upgrade(url)
    bootstrap_champion(url, BOOTSTRAP, end=BOOTSTRAP_END)
    return url


def _restart(cluster: EmbeddedPostgres, url: str) -> float:
    """Stop PostgreSQL in immediate mode, pause, start it; seconds it was down."""
    began = time.perf_counter()
    if not cluster.stop(mode="immediate"):
        raise SoakError("PostgreSQL was not running when a restart was due")
    time.sleep(RESTART_PAUSE_S)
    if cluster.start() != url:
        raise SoakError("PostgreSQL came back on another port; the clients cannot follow")
    return time.perf_counter() - began


def _wait_until(moment: float, fleet: Fleet) -> None:
    """Sleep until ``moment`` (perf_counter), as long as the producer streams."""
    fleet.ensure_producer_running()
    while time.perf_counter() < moment:
        time.sleep(0.05)
        fleet.ensure_producer_running()


def _await_scoring(url: str, fleet: Fleet, mark: int) -> float:
    """Wait until the current scorer has committed predictions (the last one is past
    ``mark``): a kill is meant for a scorer at work, not one still importing its
    libraries. Seconds waited."""
    began, waited = time.perf_counter(), 0.0
    while _last_prediction(url) <= mark:
        fleet.ensure_producer_running()
        fleet.ensure_scorer_running()
        if waited > SCORER_START_TIMEOUT_S:
            raise fleet.failure(f"`pgfraud score` committed nothing in "
                                f"{SCORER_START_TIMEOUT_S:.0f} s")
        time.sleep(0.1)
        waited = time.perf_counter() - began
    return waited


def _inject_faults(cluster: EmbeddedPostgres, url: str, fleet: Fleet, plan: Plan,
                   began: float) -> Faults:
    """Inject the plan's faults at their moments while the producer streams."""
    faults = Faults()
    mark = 0  # the last prediction committed when the current scorer started
    for at, fault in plan.schedule():
        _wait_until(began + at, fleet)
        log.info("%5.1f s: %s", time.perf_counter() - began, fault)
        if fault == KILL:
            faults.kill_delays_s.append(_await_scoring(url, fleet, mark))
            fleet.kill_scorer()
            mark = _last_prediction(url)
            fleet.start_scorer()
            faults.kills += 1
        else:
            faults.downtimes_s.append(_restart(cluster, url))
            fleet.ensure_scorer_running()
    return faults


def _await_streaming(fleet: Fleet) -> None:
    """Wait until the producer has connected (its first line says so): the faults are
    for the stream, not for its start-up (which waits for a restarting database too)."""
    assert fleet.producer is not None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while "producing into" not in fleet.log("producer"):
        if fleet.producer.poll() is not None or time.monotonic() > deadline:
            raise fleet.failure("`pgfraud produce` did not start streaming")
        time.sleep(0.05)


def _await_producer(fleet: Fleet, plan: Plan) -> ProducerSummary:
    """Wait for the producer to exit 0; what its summary says."""
    assert fleet.producer is not None
    try:
        code = fleet.producer.wait(timeout=plan.planned_stream_s + PRODUCER_GRACE_S)
    except subprocess.TimeoutExpired:
        raise fleet.failure("`pgfraud produce` did not finish in time") from None
    if code != 0:
        raise fleet.failure(f"`pgfraud produce` exited with status {code}")
    return ProducerSummary.parse(fleet.log("producer"))


def _last_prediction(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select coalesce(max(prediction_id), 0) from scoring.scores"
                           ).fetchone()
    return int(row[0]) if row else 0


def _pending(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from scoring.pending").fetchone()
    return int(row[0]) if row else 0


def _drain(url: str, fleet: Fleet) -> None:
    """Let the running scorer empty the queue, then stop it as an operator would."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while _pending(url) > 0:
        fleet.ensure_scorer_running()
        if time.monotonic() > deadline:
            raise fleet.failure(f"scoring.pending not empty after {DRAIN_TIMEOUT_S:.0f} s")
        time.sleep(0.2)
    fleet.stop_scorer()


def soak(cluster: EmbeddedPostgres, url: str, plan: Plan, folder: Path) -> Outcome:
    """Stream ``plan`` through its faults on a prepared cluster, drain, and audit."""
    fleet = Fleet(url, folder, produce_args=plan.produce_args(),
                  score_args=plan.score_args())
    try:
        began = time.perf_counter()
        fleet.start_producer()
        fleet.start_scorer()
        _await_streaming(fleet)
        faults = _inject_faults(cluster, url, fleet, plan, time.perf_counter())
        summary = _await_producer(fleet, plan)
        streamed = time.perf_counter()
        _drain(url, fleet)
        drained = time.perf_counter()
    finally:
        fleet.close()
    return Outcome(plan=plan, faults=faults, producer=summary, audit=audit(url, plan),
                   scorer_retries=fleet.scorer_retries(),
                   stream_s=streamed - began, drain_s=drained - streamed, logs=folder)


def check(outcome: Outcome) -> None:
    """Raise :class:`SoakError` unless every invariant held and every fault happened."""
    plan, faults = outcome.plan, outcome.faults
    problems = [f"{name} = {value:,}" for name, value in outcome.audit.broken().items()]
    if (faults.kills, len(faults.downtimes_s)) != (plan.kills, plan.restarts):
        problems.append(f"injected {faults.kills} kills and {len(faults.downtimes_s)} "
                        f"restarts, planned {plan.kills} and {plan.restarts}")
    if outcome.producer.rows_read != plan.transactions:
        problems.append(f"the producer read {outcome.producer.rows_read:,} rows, "
                        f"planned {plan.transactions:,}")
    if problems:
        raise SoakError("\n".join([f"soak failed: {'; '.join(problems)}",
                                   *tails(outcome.logs, ["producer"])]))


def _section(outcome: Outcome, setup_s: float) -> Section:
    plan, faults, audit_, producer = (outcome.plan, outcome.faults, outcome.audit,
                                      outcome.producer)
    down, delays = faults.downtimes_s, faults.kill_delays_s
    rows = [
        ["transactions sent (`pgfraud produce --count`)", f"{plan.transactions:,}"],
        ["stored in ingest.transactions", f"{audit_.stored:,}"],
        ["lost (sent − stored)", f"{audit_.lost:,}"],
        ["seeded-stream trans_nums not stored / stored but not in the stream",
         f"{audit_.missing_from_stream:,} / {audit_.not_from_stream:,}"],
        ["transactions stored twice", f"{audit_.stored_twice:,}"],
        ["transactions without a champion prediction", f"{audit_.without_champion:,}"],
        ["(transaction, model) scored twice / transactions with two champion predictions",
         f"{audit_.scored_twice:,} / {audit_.two_champions:,}"],
        ["left in scoring.pending / quarantined", f"{audit_.pending:,} / {audit_.quarantined:,}"],
        [f"SIGKILLs of `pgfraud score --workers {plan.workers}` (whole process group), "
         f"each once the scorer had committed predictions", f"{faults.kills}"],
        ["kills that waited past their moment for a new scorer's first commit; longest wait",
         f"{sum(d > 0 for d in delays)}; {max(delays, default=0):.1f} s"],
        ["PostgreSQL restarts (immediate mode); down per restart, median / max",
         f"{len(down)}; {statistics.median(down):.1f} s / {max(down):.1f} s" if down else "0"],
        ["producer reconnects (batch sent again) / rows found already stored",
         f"{producer.reconnects:,} / {producer.resent:,}"],
        ["scorer retries after a lost connection (\"database unavailable\")",
         f"{outcome.scorer_retries:,}"],
        ["setup: cluster, migrations, bootstrap champion", f"{setup_s:,.1f} s"],
        ["stream: producer start to exit",
         f"{outcome.stream_s:,.1f} s ({plan.transactions / outcome.stream_s:,.0f} tx/s "
         f"of {plan.rate:,.0f} offered)"],
        ["drain: producer exit to empty queue", f"{outcome.drain_s:,.1f} s"],
        ["soak: producer start to empty queue",
         f"{outcome.stream_s + outcome.drain_s:,.1f} s"],
    ]
    body = "\n\n".join([
        f"`pgfraud produce --count {plan.transactions:,} --rate {plan.rate:,.0f}` and "
        f"`pgfraud score --workers {plan.workers}` run as subprocesses on one fresh cluster "
        f"with a bootstrap champion. While the producer streams, at seeded random moments, "
        f"the scorer's process group is killed with SIGKILL and a new scorer started "
        f"({plan.kills} times; a kill due before the new scorer has committed anything "
        f"waits for its first commit), and PostgreSQL is stopped in immediate mode and "
        f"started after {RESTART_PAUSE_S:.0f} s ({plan.restarts} times); the producer is "
        f"never restarted: it reconnects, once per outage it meets (two restarts in a row "
        f"can cost it a single reconnect). Then the last scorer drains the queue and the "
        f"database is "
        f"audited as the owner against the seeded stream regenerated in-process; the run "
        f"fails, writing nothing here, unless every count below that should be 0 is.",
        table(["", "soak"], rows),
    ])
    return Section(f"Soak: {plan.transactions:,} transactions through {plan.kills} SIGKILLs "
                   f"and {plan.restarts} PostgreSQL restarts", body)


def run() -> Section:
    plan = Plan()
    folder = Path(tempfile.mkdtemp(prefix="pgfraud-soak-"))
    with fresh_cluster() as cluster:
        began = time.perf_counter()
        url = prepare(cluster)
        setup_s = time.perf_counter() - began
        outcome = soak(cluster, url, plan, folder)
    check(outcome)
    shutil.rmtree(folder, ignore_errors=True)
    return _section(outcome, setup_s)
