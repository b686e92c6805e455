"""Backtest: replay a historical Kaggle-layout file through the whole system.

Rows are sorted by event time and fed day by day (event time) through the real path:
ingest (features by trigger) → the scorer (champion and shadows) → labels revealed as an
analyst would, ``label_delay`` after each transaction → a retraining decision every
``retrain_every`` on the labels known at that moment (``pgfraud.lifecycle.retrain``: challenger in
shadow, promoted only if it beats the champion on matured labels). Before the first day,
a bootstrap model trained on simulated history (ending where the file begins) is the
champion, so every row is scored.

The analysts' labels of a day are written in a thread while the day's rows are scored:
the labels due are of rows scored days before (``label_delay`` of a day or more), each
side has its own connection, and the day's labels are written before anything reads
them (the next day's features, a retraining round). Scoring stays in the main thread:
LightGBM (the alerts' reason codes) used from a second thread made each later training
about twice as slow (measured: 1.9 -> 4.4 s for the same model). The next day's rows
are prepared (checked, tokenized, encoded) while a day is stored, and held until that
day's labels are written (``Ingestor.hold``). When a bootstrap model is trained first,
the first days (before any label is due or a retraining round) are stored in the helper
thread meanwhile and scored when it is done: their features need no model, and a row's
score does not depend on the batch it is scored in (``scorer.onnx_model``).

The report measures the champion's decisions as they were made: each transaction's
champion prediction against the file's ``is_fraud``, in ranking metrics and in money
(value detected: the fraud amount the alerts caught over all fraud amount).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

from pgfraud.kernel import queries
from pgfraud.kernel.db import connect
from pgfraud.kernel.names import PRODUCER_ROLE, TRAINER_ROLE
from pgfraud.labels.analysts import AnalystOptions, simulate_analysts
from pgfraud.lifecycle import bootstrap, metrics, registry, retrain, training
from pgfraud.lifecycle.governance import Gates
from producer import features as feature_store
from producer import kaggle
from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.records import CardTransaction, Rejection
from scorer.scoring import Scorer

log = logging.getLogger(__name__)

DAY = dt.timedelta(days=1)

@dataclasses.dataclass(frozen=True)
class ReplayOptions:
    label_delay: dt.timedelta = dt.timedelta(days=7)
    retrain_every: dt.timedelta = dt.timedelta(days=7)
    margin: float = 0.0
    # A replayed day is drained before it is scored, so a day of the benchmark's file
    # (~2,200 rows) is one batch, not a full one and a remainder: each batch reads every
    # batch merchant's label history once (ingest 14.7 -> 12.8 s on the 131k-row file).
    batch_size: int = 5000
    gates: Gates | None = None        # None: Gates(margin=margin)
    train: training.TrainOptions | None = None  # None: the defaults (window, row cap)
    # False: each step after the one before (what the tests compare with): the first days
    # stored after the bootstrap model, a day's labels after its scoring.
    overlap: bool = True


@dataclasses.dataclass
class Accounting:
    """Where every row of the file went: ``read == stored + already_stored +
    sum(quarantined.values())``, and the table deltas say the same (tested)."""

    read: int                          # data rows in the file, parsed or not
    stored: int                        # new rows in ingest.transactions
    already_stored: int                # the same trans_num and payload already stored
    quarantined: dict[str, int]        # reason -> rows (conflict, bad_amount, ...)
    new_quarantine_rows: int           # rows new to ingest.quarantine (kept once each)
    scored: int                        # replayed transactions with a champion prediction

    @property
    def accounted(self) -> int:
        return self.stored + self.already_stored + sum(self.quarantined.values())


@dataclasses.dataclass
class ReplayReport:
    """The backtest, judged model by model and week by week (:func:`evaluate`)."""

    accounting: Accounting
    seconds: float
    weeks: list[dict[str, Any]]        # each: metrics, champions, bootstrap (bool)
    models: list[dict[str, Any]]       # each champion on the traffic it scored
    steady_state: dict[str, Any] | None  # weeks scored only by the file's own models
    pooled: dict[str, Any]             # every champion's scores in one ranking: secondary
    decisions: list[retrain.Decision]
    champions: list[tuple[str, int]]   # (event time the model became champion, version)
    phases: dict[str, float] = dataclasses.field(default_factory=dict)  # seconds per phase
    trainings: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.accounting.read

    def as_json(self) -> dict[str, Any]:
        """The report as ``--report`` writes it: the same structure as the terminal's."""
        return {
            "accounting": {**dataclasses.asdict(self.accounting),
                           "accounted": self.accounting.accounted},
            "seconds": self.seconds, "phases": self.phases,
            "steady_state": self.steady_state, "weeks": self.weeks, "models": self.models,
            "pooled": {**self.pooled, "note": POOLED_NOTE},
            "champions": [{"event_time": at, "model_version": v} for at, v in self.champions],
            "trainings": self.trainings,
            "decisions": [decision_json(d) for d in self.decisions]}


#: Why the pooled figure is secondary (printed with it, and in the JSON).
POOLED_NOTE = (
    "pools the scores of every champion of the replay in one ranking; the models are not "
    "calibrated to each other, so the pooled AUC and AP mix scales and can fall below "
    "every single week. Judge by the weeks and by each model on the traffic it scored.")


def decision_json(decision: retrain.Decision) -> dict[str, Any]:
    """One decision for the JSON report: event time, rule, full detail and evidence."""
    return {"decision_id": decision.decision_id,
            "event_time": decision.at.isoformat() if decision.at else None,
            "outcome": decision.outcome, "rule": decision.rule,
            "trigger_reason": decision.trigger_reason, "new_labels": decision.new_labels,
            "champion": decision.champion, "challenger": decision.challenger,
            "detail": decision.detail, "evidence": decision.evidence}


def _load(path: Path, on_bytes: Callable[[int], None]) -> tuple[list[CardTransaction],
                                                                 list[tuple[Rejection, Any]]]:
    accepted, rejected = [], []
    for parsed, raw in kaggle.read_rows(path, on_bytes):
        if isinstance(parsed, Rejection):
            rejected.append((parsed, raw))
        else:
            accepted.append(parsed)
    accepted.sort(key=lambda tx: tx.transacted_at)  # stable: file order within a time
    return accepted, rejected


def _plausible(url: str, rows: list[CardTransaction]
               ) -> tuple[list[CardTransaction], list[CardTransaction]]:
    """Split sorted ``rows`` into those inside the database's event-time policy (earliest
    event time, at most max_ahead past the wall clock) and the rest, which the database
    will quarantine as implausible_time: a row dated 0001 or 9999 must not become the
    replay's first day or make it step through thousands of empty years."""
    with connect(url) as owner:
        row = owner.execute(queries.load("retrain")["event_time_bounds"]).fetchone()
    assert row is not None
    earliest, latest = row
    inside = [tx for tx in rows if earliest <= tx.transacted_at <= latest]
    outside = [tx for tx in rows if not earliest <= tx.transacted_at <= latest]
    return inside, outside


def replay(url: str, path: Path, options: ReplayOptions = ReplayOptions(), *,
           tokenizer: Tokenizer,
           on_progress: Callable[[str, int, int, dt.datetime | None], None] = (
               lambda stage, done, total, at: None),
           ) -> ReplayReport:
    started = time.monotonic()
    with connect(url) as owner:
        feature_store.require_computed_at_ingest(owner, "a replay")
    size = path.stat().st_size
    read = [0]

    def bytes_read(n: int) -> None:
        read[0] += n
        on_progress("reading", read[0], size, None)

    phases: dict[str, float] = {}

    def timed(phase: str, began: float) -> None:
        phases[phase] = phases.get(phase, 0.0) + time.monotonic() - began

    began = time.monotonic()
    rows, rejected = _load(path, bytes_read)
    timed("read and sort", began)
    rows, implausible = _plausible(url, rows)
    if not rows:
        raise training.TrainingError(f"{path} has no valid rows to replay")
    first = rows[0].transacted_at
    decisions: list[retrain.Decision] = []
    champions: list[tuple[str, int]] = []

    with connect(url) as owner:
        before = _table_counts(owner)
    with connect(url, role=TRAINER_ROLE, autocommit=True) as trainer:
        champion = registry.champion(trainer)
    initial_kind = "existing" if champion is not None else "bootstrap"

    analysts = AnalystOptions(delay=options.label_delay, coverage=1.0,
                              chargeback_delay=options.label_delay, labeled_by="replay")
    retrain_options = retrain.RetrainOptions(force=True, margin=options.margin,
                                             label_delay=options.label_delay,
                                             gates=options.gates,
                                             train=options.train or training.TrainOptions())
    trainings: list[dict[str, Any]] = []
    next_retrain = first + options.retrain_every
    overlap = options.overlap and options.label_delay >= DAY
    days = day_ranges(rows)
    # Days the bootstrap model is trained beside: their rows are stored while it trains
    # and scored when it is done. Exact only while nothing else could happen on those
    # days: no label due (none is before first + delay), no retraining round, and no row
    # of an earlier session in the database (its labels could be due).
    beside_bootstrap = 0
    if options.overlap and champion is None and before[0] == 0:
        settled_until = min(first + min(analysts.delay, analysts.chargeback_delay),
                            next_retrain)
        while (beside_bootstrap < len(days) - 1
               and rows[days[beside_bootstrap][1] - 1].transacted_at < settled_until):
            beside_bootstrap += 1

    def label() -> None:
        """The analysts' round, in the helper thread (beside scoring)."""
        began = time.monotonic()
        simulate_analysts(owner, analysts)
        timed("labels (in a thread, beside scoring)", began)

    with connect(url, role=PRODUCER_ROLE) as producer_conn, \
            Ingestor(producer_conn, source="replay", tokenizer=tokenizer,
                     batch_size=options.batch_size) as ingestor, \
            Scorer(url, batch_size=options.batch_size) as scorer, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-helper") as pool, \
            connect(url, autocommit=True) as owner, \
            connect(url, role=TRAINER_ROLE, autocommit=True) as trainer:

        def store(day: int, phase: str = "ingest with features") -> None:
            """Store day ``day`` (1-based; its rows were prepared and held) and prepare
            and hold the next day's."""
            began = time.monotonic()
            ingestor.release()
            if day < len(days):
                ingestor.hold()
                for row in rows[slice(*days[day])]:
                    ingestor.add(row)
            ingestor.drain()
            timed(phase, began)

        # Each day's rows are prepared (checked, tokenized, encoded) while the day before
        # is stored, and held until that day's labels are written: its features read them.
        ingestor.hold()
        for parsed, raw in rejected:
            ingestor.reject(parsed, raw, raw.get("trans_num"))
        for tx in implausible:  # quarantined by the database as implausible_time
            ingestor.add(tx)
        for row in rows[slice(*days[0])]:
            ingestor.add(row)
        first_day = 1
        if champion is None:
            on_progress("bootstrap model (simulated history)", 0, len(rows), first)
            # The first days are stored in the helper thread; LightGBM stays in this one
            # (see the module's docstring).

            def store_early_days() -> None:
                for day in range(1, beside_bootstrap + 1):
                    store(day, "ingest with features (in a thread, beside the bootstrap)")

            early = pool.submit(store_early_days)
            began = time.monotonic()
            champion = bootstrap.bootstrap_champion(url, end=first)
            timed("bootstrap model", began)
            began = time.monotonic()
            early.result()
            timed("waiting for the days stored beside the bootstrap", began)
            first_day = beside_bootstrap + 1
            if beside_bootstrap:
                began = time.monotonic()
                scorer.drain()   # the champion's scores of those days, as it gave them then
                timed("scoring", began)
        assert champion is not None
        champions.append((first.isoformat(timespec="seconds"), champion))
        for day in range(first_day, len(days) + 1):
            index = days[day - 1][1]
            store(day)
            clock = rows[index - 1].transacted_at
            # Labels due now are of rows at least label_delay old, scored days ago: the
            # analysts label while today's rows are scored (on their own connections),
            # and are done before anything reads labels (the next day's features, a
            # retraining round). A delay under a day waits for today's scores.
            labelling: Future[None] | None = pool.submit(label) if overlap else None
            began = time.monotonic()
            scorer.drain()
            timed("scoring", began)
            began = time.monotonic()
            if labelling is not None:
                labelling.result()
                timed("waiting for labels", began)
            else:
                simulate_analysts(owner, analysts)
                timed("labels", began)
            if index == len(rows) or clock >= next_retrain or day == first_day:
                began = time.monotonic()
                owner.execute(queries.load("retrain")["analyze_keys_after_bulk_load"])
                timed("analyze", began)
            if clock >= next_retrain:
                began = time.monotonic()
                decision = retrain.retrain(trainer, retrain_options, cutoff=clock)
                timed("retraining", began)
                trainings.append(_training_round(clock, time.monotonic() - began, decision))
                for each in [*decision.earlier, decision]:  # a round may decide twice
                    decisions.append(each)
                    # Promoted, or restored by a guardrail: "challenger" is the new champion.
                    if each.outcome in ("promoted", "rolled_back") and each.challenger:
                        champions.append((clock.isoformat(timespec="seconds"),
                                          each.challenger))
                next_retrain = clock + options.retrain_every
            on_progress("replaying", index, len(rows), clock)
        # The rest of the labels arrive after the file ends.
        simulate_analysts(owner, dataclasses.replace(analysts, delay=dt.timedelta(0),
                                                     chargeback_delay=dt.timedelta(0)))
        outcomes = owner.execute(queries.load("retrain")["replay_outcomes"]).fetchall()
        after = _table_counts(owner)
    stats = ingestor.stats
    accounting = Accounting(
        read=len(rows) + len(rejected) + len(implausible), stored=stats.accepted,
        already_stored=stats.duplicates, quarantined=stats.quarantined_by_reason(),
        new_quarantine_rows=stats.quarantined, scored=len(outcomes))
    if (after[0] - before[0], after[1] - before[1]) != (stats.accepted, stats.quarantined):
        log.warning("replay counts differ from the tables: stored %d (table +%d), new "
                    "quarantine rows %d (table +%d)", stats.accepted, after[0] - before[0],
                    stats.quarantined, after[1] - before[1])
    initial = champions[0][1]
    trained_here = {d.challenger for d in decisions if d.challenger} - {initial}
    evaluation = evaluate(outcomes, first, trained_here)
    for model in evaluation.models:
        model["source"] = ("trained on this file" if model["model_version"] in trained_here
                           else f"{initial_kind} model")
    return ReplayReport(accounting, time.monotonic() - started, evaluation.weeks,
                        evaluation.models, evaluation.steady_state, evaluation.pooled,
                        decisions, champions, phases, trainings)


def day_ranges(rows: list[CardTransaction]) -> list[tuple[int, int]]:
    """The replay's days: (start, end) index ranges of ``rows`` (sorted by event time),
    one per UTC day that has rows, in order, together covering every row. A gap in the
    file (days without rows) is skipped, not replayed as empty days."""
    ranges: list[tuple[int, int]] = []
    index = 0
    while index < len(rows):
        day_end = rows[index].transacted_at.replace(hour=0, minute=0, second=0,
                                                    microsecond=0) + DAY
        start = index
        while index < len(rows) and rows[index].transacted_at < day_end:
            index += 1
        ranges.append((start, index))
    return ranges


def _table_counts(owner: psycopg.Connection[Any]) -> tuple[int, int]:
    row = owner.execute(queries.load("retrain")["table_counts"]).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _training_round(clock: dt.datetime, seconds: float,
                    decision: retrain.Decision) -> dict[str, Any]:
    """One retraining round for the report: when (event time), how long, what it did;
    with the training's own time and rows when it trained (the decision's evidence)."""
    trained = next((d.evidence for d in [*decision.earlier, decision]
                    if d.evidence.get("training_seconds") is not None), {})
    return {"event_time": clock.isoformat(timespec="seconds"), "seconds": round(seconds, 2),
            "outcome": decision.outcome, "rule": decision.rule,
            "challenger": decision.challenger,
            "training_seconds": trained.get("training_seconds"),
            "dataset_rows": trained.get("dataset_rows"),
            "training_set": trained.get("training_set")}


@dataclasses.dataclass
class Evaluation:
    weeks: list[dict[str, Any]]
    models: list[dict[str, Any]]
    steady_state: dict[str, Any] | None
    pooled: dict[str, Any]


def evaluate(outcomes: list[tuple[Any, ...]], first: dt.datetime,
             trained_here: set[int] | frozenset[int] = frozenset()) -> Evaluation:
    """The champions' decisions against the file's labels, judged where they are
    comparable: per week from ``first`` and per model on the traffic it scored.

    A model's scores are comparable with each other, not with another model's (each is
    calibrated on its own validation window), so a figure pooled over several champions
    mixes scales: it is reported (``pooled``), but as a secondary line. The headline is
    ``steady_state``: the weeks scored only by models in ``trained_here`` (trained on the
    file's own labels), as the mean of their weekly figures with the range, and their
    money pooled (money adds up across models; rankings do not). None when no such week.

    Metrics: ROC AUC, AP, CP@100 (daily), precision and recall of the alerts, fraud amount,
    the part of it alerted and value detected (their ratio). Rows: (epoch, card, score,
    is_alert, is_fraud, model, amount).

    >>> day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> rows = [(day.timestamp(), "a", 0.9, True, True, 1, 30.0),
    ...         (day.timestamp() + 60, "b", 0.2, False, True, 1, 90.0),
    ...         (day.timestamp() + 120, "c", 0.8, True, False, 1, 5.0)]
    >>> result = evaluate(rows, day)
    >>> pooled = result.pooled
    >>> pooled["fraud_amount"], pooled["fraud_amount_alerted"], pooled["value_detected"]
    (120.0, 30.0, 0.25)
    >>> result.weeks[0]["bootstrap"], result.steady_state is None
    (True, True)
    """
    if not outcomes:
        return Evaluation([], [], None, {})
    times = np.array([r[0] for r in outcomes], dtype=np.float64)
    cards = np.array([r[1] for r in outcomes], dtype=object)
    scores = np.array([r[2] for r in outcomes], dtype=np.float64)
    alerts = np.array([r[3] for r in outcomes], dtype=bool)
    fraud = np.array([r[4] for r in outcomes], dtype=bool)
    models = np.array([r[5] for r in outcomes], dtype=np.int64)
    amounts = np.array([float(r[6]) for r in outcomes], dtype=np.float64)

    def summary(mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
        y, s = fraud[mask], scores[mask]
        days = np.floor(times[mask] / 86_400).astype(np.int64)
        cp, _ = metrics.card_precision_at_k(days, cards[mask], y, s, k=100)
        tp = int((alerts[mask] & y).sum())
        return {"transactions": int(mask.sum()), "frauds": int(y.sum()),
                "alerts": int(alerts[mask].sum()),
                "roc_auc": metrics.finite(metrics.roc_auc(y, s)),
                "average_precision": metrics.finite(metrics.average_precision(y, s)),
                "card_precision_at_100": metrics.finite(cp),
                "alert_precision": tp / alerts[mask].sum() if alerts[mask].any() else None,
                "alert_recall": tp / y.sum() if y.any() else None,
                "random_average_precision": float(y.mean()) if len(y) else None,
                **_money(mask)}

    def _money(mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
        fraud_amount = round(float(amounts[mask & fraud].sum()), 2)
        caught = round(float(amounts[mask & fraud & alerts].sum()), 2)
        return {"fraud_amount": fraud_amount, "fraud_amount_alerted": caught,
                "value_detected": caught / fraud_amount if fraud_amount > 0 else None}

    def day(epoch: float) -> str:
        return dt.datetime.fromtimestamp(epoch, dt.UTC).date().isoformat()

    own = np.isin(models, np.array(sorted(trained_here), dtype=np.int64))
    week = np.floor((times - first.timestamp()) / (7 * 86_400)).astype(np.int64)
    weeks = []
    in_steady = np.zeros(len(times), dtype=bool)  # rows of weeks scored only by `own`
    for w in np.unique(week):
        mask = week == w
        bootstrap = bool((~own[mask]).any())
        in_steady |= mask & (not bootstrap)
        versions, counts = np.unique(models[mask], return_counts=True)
        weeks.append({"week_start": (first + dt.timedelta(weeks=int(w))).date().isoformat(),
                      "champions": {str(v): int(n) for v, n in zip(versions, counts,
                                                                    strict=True)},
                      "bootstrap": bootstrap, **summary(mask)})
    per_model = []
    for version in np.unique(models):
        mask = models == version
        per_model.append({"model_version": int(version),
                          "trained_on_this_file": int(version) in trained_here,
                          "first_event": day(times[mask].min()),
                          "last_event": day(times[mask].max()),
                          "weeks": int(np.unique(week[mask]).size), **summary(mask)})
    steady = [w for w in weeks if not w["bootstrap"]]
    steady_state = None
    if steady:
        steady_state = {"weeks": len(steady), "first_week": steady[0]["week_start"],
                        "last_week": steady[-1]["week_start"],
                        "transactions": int(in_steady.sum()),
                        "frauds": int(fraud[in_steady].sum()), **_money(in_steady)}
        for name in ("roc_auc", "average_precision", "card_precision_at_100",
                     "alert_precision", "alert_recall"):
            values = [w[name] for w in steady if w[name] is not None]
            steady_state[name] = ({"mean": float(np.mean(values)), "min": min(values),
                                   "max": max(values), "weeks": len(values)}
                                  if values else None)
    pooled = summary(np.ones(len(times), dtype=bool))
    pooled["models"] = len(per_model)
    return Evaluation(weeks, per_model, steady_state, pooled)
