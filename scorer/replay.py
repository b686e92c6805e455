"""Backtest: replay a historical Kaggle-layout file through the whole system.

Rows are sorted by event time and fed day by day (event time) through the real path:
ingest (features by trigger) → the scorer (champion and shadows) → labels revealed as an
analyst would, ``label_delay`` after each transaction → a retraining decision every
``retrain_every`` on the labels known at that moment (``scorer.retrain``: challenger in
shadow, promoted only if it beats the champion on matured labels). Before the first day,
a bootstrap model trained on simulated history (ending where the file begins) is the
champion, so every row is scored.

The report measures the champion's decisions as they were made: each transaction's
champion prediction against the file's ``is_fraud``, in ranking metrics and in money
(value detected: the fraud amount the alerts caught over all fraud amount).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from producer import kaggle
from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.records import CardTransaction, Rejection
from scorer import bootstrap, metrics, queries, registry, retrain, training
from scorer.db import connect
from scorer.labels import AnalystOptions, simulate_analysts
from scorer.names import PRODUCER_ROLE, TRAINER_ROLE
from scorer.scoring import Scorer

DAY = dt.timedelta(days=1)

@dataclasses.dataclass(frozen=True)
class ReplayOptions:
    label_delay: dt.timedelta = dt.timedelta(days=7)
    retrain_every: dt.timedelta = dt.timedelta(days=7)
    margin: float = 0.0
    batch_size: int = 2000


@dataclasses.dataclass
class ReplayReport:
    rows: int
    rejected: int
    seconds: float
    overall: dict[str, Any]
    weeks: list[dict[str, Any]]
    decisions: list[retrain.Decision]
    champions: list[tuple[str, int]]   # (event time the model became champion, version)
    phases: dict[str, float] = dataclasses.field(default_factory=dict)  # seconds per phase


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
    with psycopg.connect(url) as owner:
        row = owner.execute(queries.load("retrain")["event_time_bounds"]).fetchone()
    assert row is not None
    earliest, latest = row
    inside = [tx for tx in rows if earliest <= tx.transacted_at <= latest]
    outside = [tx for tx in rows if not earliest <= tx.transacted_at <= latest]
    return inside, outside


def replay(url: str, path: Path, options: ReplayOptions = ReplayOptions(), *,
           tokenizer: Tokenizer,
           on_progress: Callable[[str, int, int], None] = lambda stage, done, total: None,
           ) -> ReplayReport:
    started = time.monotonic()
    size = path.stat().st_size
    read = [0]

    def bytes_read(n: int) -> None:
        read[0] += n
        on_progress("reading", read[0], size)

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

    with connect(url, role=TRAINER_ROLE, autocommit=True) as trainer:
        champion = registry.champion(trainer)
    if champion is None:
        on_progress("bootstrap model (simulated history)", 0, len(rows))
        began = time.monotonic()
        champion = bootstrap.bootstrap_champion(url, end=first)
        timed("bootstrap model", began)
    assert champion is not None
    champions.append((first.isoformat(timespec="seconds"), champion))

    analysts = AnalystOptions(delay=options.label_delay, coverage=1.0,
                              chargeback_delay=options.label_delay, labeled_by="replay")
    retrain_options = retrain.RetrainOptions(force=True, margin=options.margin,
                                             label_delay=options.label_delay)
    next_retrain = first + options.retrain_every
    done = 0
    with connect(url, role=PRODUCER_ROLE) as producer_conn, \
            Ingestor(producer_conn, source="replay", tokenizer=tokenizer,
                     batch_size=options.batch_size) as ingestor, \
            Scorer(url, batch_size=options.batch_size) as scorer, \
            psycopg.connect(url, autocommit=True) as owner, \
            connect(url, role=TRAINER_ROLE, autocommit=True) as trainer:
        for parsed, raw in rejected:
            ingestor.reject(parsed, raw, raw.get("trans_num"))
        for tx in implausible:  # quarantined by the database as implausible_time
            ingestor.add(tx)
        day_end = first.replace(hour=0, minute=0, second=0, microsecond=0) + DAY
        index = 0
        days = 1
        while index < len(rows):
            began = time.monotonic()
            while index < len(rows) and rows[index].transacted_at < day_end:
                ingestor.add(rows[index])
                index += 1
            ingestor.drain()
            timed("ingest with features", began)
            began = time.monotonic()
            scorer.drain()
            timed("scoring", began)
            done = index
            clock = rows[index - 1].transacted_at
            began = time.monotonic()
            simulate_analysts(owner, analysts)
            timed("labels", began)
            if index == len(rows) or clock >= next_retrain or days == 1:
                began = time.monotonic()
                owner.execute(queries.load("retrain")["analyze_after_bulk_load"])
                timed("analyze", began)
            days += 1
            if clock >= next_retrain:
                began = time.monotonic()
                decision = retrain.retrain(trainer, retrain_options, cutoff=clock)
                timed("retraining", began)
                for each in [*decision.earlier, decision]:  # a round may decide twice
                    decisions.append(each)
                    # Promoted, or restored by a guardrail: "challenger" is the new champion.
                    if each.outcome in ("promoted", "rolled_back") and each.challenger:
                        champions.append((clock.isoformat(timespec="seconds"),
                                          each.challenger))
                next_retrain = clock + options.retrain_every
            on_progress(f"replaying, event time {clock:%Y-%m-%d}", done, len(rows))
            day_end += DAY
            if index < len(rows) and rows[index].transacted_at >= day_end:  # a gap in the file
                day_end = rows[index].transacted_at.replace(
                    hour=0, minute=0, second=0, microsecond=0) + DAY
        # The rest of the labels arrive after the file ends.
        simulate_analysts(owner, dataclasses.replace(analysts, delay=dt.timedelta(0),
                                                     chargeback_delay=dt.timedelta(0)))
        outcomes = owner.execute(queries.load("retrain")["replay_outcomes"]).fetchall()
    overall, weeks = evaluate(outcomes, first)
    return ReplayReport(len(rows), len(rejected) + len(implausible),
                        time.monotonic() - started, overall, weeks,
                        decisions, champions, phases)


def evaluate(outcomes: list[tuple[Any, ...]], first: dt.datetime
             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """ROC AUC, AP, CP@100 (daily), precision and recall of the alerts, and the money:
    fraud amount, the part of it alerted and value detected (their ratio); overall and
    per week from ``first``. Rows: (epoch, card, score, is_alert, is_fraud, model,
    amount).

    >>> day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> rows = [(day.timestamp(), "a", 0.9, True, True, 1, 30.0),
    ...         (day.timestamp() + 60, "b", 0.2, False, True, 1, 90.0),
    ...         (day.timestamp() + 120, "c", 0.8, True, False, 1, 5.0)]
    >>> overall, weeks = evaluate(rows, day)
    >>> overall["fraud_amount"], overall["fraud_amount_alerted"], overall["value_detected"]
    (120.0, 30.0, 0.25)
    """
    if not outcomes:
        return {}, []
    times = np.array([r[0] for r in outcomes])
    cards = np.array([r[1] for r in outcomes], dtype=object)
    scores = np.array([r[2] for r in outcomes])
    alerts = np.array([r[3] for r in outcomes], dtype=bool)
    fraud = np.array([r[4] for r in outcomes], dtype=bool)
    amounts = np.array([float(r[6]) for r in outcomes], dtype=np.float64)

    def summary(mask: np.ndarray) -> dict[str, Any]:
        y, s = fraud[mask], scores[mask]
        days = np.floor(times[mask] / 86_400).astype(np.int64)
        cp, _ = metrics.card_precision_at_k(days, cards[mask], y, s, k=100)
        tp = int((alerts[mask] & y).sum())
        fraud_amount = round(float(amounts[mask & fraud].sum()), 2)
        caught = round(float(amounts[mask & fraud & alerts].sum()), 2)
        return {"transactions": int(mask.sum()), "frauds": int(y.sum()),
                "alerts": int(alerts[mask].sum()),
                "roc_auc": metrics.finite(metrics.roc_auc(y, s)),
                "average_precision": metrics.finite(metrics.average_precision(y, s)),
                "card_precision_at_100": metrics.finite(cp),
                "alert_precision": tp / alerts[mask].sum() if alerts[mask].any() else None,
                "alert_recall": tp / y.sum() if y.any() else None,
                "random_average_precision": float(y.mean()) if len(y) else None,
                "fraud_amount": fraud_amount, "fraud_amount_alerted": caught,
                "value_detected": caught / fraud_amount if fraud_amount > 0 else None}

    overall = summary(np.ones(len(times), dtype=bool))
    week = np.floor((times - first.timestamp()) / (7 * 86_400)).astype(np.int64)
    weeks = []
    for w in np.unique(week):
        entry = summary(week == w)
        entry["week_start"] = (first + dt.timedelta(weeks=int(w))).date().isoformat()
        weeks.append(entry)
    return overall, weeks
