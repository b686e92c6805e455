"""Retraining: train a challenger when enough new labels arrived or the champion's inputs
drifted, put it in shadow, and promote it only if it beats the champion on matured
labels by a margin.

Drift is the largest population stability index (``ml.feature_drift``, SQL) of the
champion's features and score over the last ``drift_window`` of event time, against
the reference distributions stored with the model.

"Matured" labels belong to transactions at least ``label_delay`` older than the cutoff:
by then most labels (chargebacks included) have arrived, so the comparison is not
flattered by the early, alert-heavy labels. Both models are scored on the same rows of
the challenger's validation window, which neither model was trained on, with their ONNX
bytes on the stored features. Every decision, including "not triggered", is recorded in
``ml.retrain_decisions`` with its numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from scorer import metrics, queries, registry, training
from scorer.names import DRIFT_PSI_THRESHOLD
from scorer.onnx_model import OnnxModel

MIN_MATURED_POSITIVES = 5


def _q(name: str) -> str:
    return queries.load("retrain")[name]


@dataclasses.dataclass(frozen=True)
class RetrainOptions:
    min_new_labels: int = 500
    margin: float = 0.0                       # average-precision points to gain
    drift_threshold: float = DRIFT_PSI_THRESHOLD  # max PSI that triggers retraining
    drift_window: dt.timedelta = dt.timedelta(days=7)  # whole weeks: day_of_week
    label_delay: dt.timedelta = dt.timedelta(days=7)
    force: bool = False
    train: training.TrainOptions = dataclasses.field(default_factory=training.TrainOptions)


@dataclasses.dataclass
class Decision:
    decision_id: int
    outcome: str                     # promoted | kept_champion | skipped
    trigger_reason: str
    new_labels: int
    champion: int | None
    challenger: int | None
    champion_ap: float | None = None
    challenger_ap: float | None = None
    evaluated_rows: int = 0
    detail: str = ""


def retrain(conn: psycopg.Connection[Any], options: RetrainOptions = RetrainOptions(), *,
            cutoff: dt.datetime | None = None,
            on_stage: Callable[[str], None] = lambda s: None) -> Decision:
    """One retraining decision. ``conn``: autocommit, as the trainer (or the owner)."""
    started = time.monotonic()
    cutoff = cutoff or training.default_cutoff(conn)
    row = conn.execute(_q("new_labels"), {"cutoff": cutoff}).fetchone()
    new_labels = int(row[0]) if row else 0
    champion = registry.champion(conn)
    record: dict[str, Any] = {
        "new_labels": new_labels, "min_new_labels": options.min_new_labels,
        "champion_version": champion, "challenger_version": None, "evaluated_from": None,
        "evaluated_to": None, "evaluated_rows": None, "evaluated_positives": None,
        "champion_metrics": None, "challenger_metrics": None, "margin": options.margin,
        "max_psi": None, "max_psi_feature": None}
    if champion is not None:
        drift = conn.execute(_q("largest_drift"), {
            "model": champion, "from": cutoff - options.drift_window, "to": cutoff}).fetchone()
        if drift is not None and drift[1] is not None:
            record["max_psi_feature"], record["max_psi"] = drift[0], float(drift[1])
    drifted = record["max_psi"] is not None and record["max_psi"] > options.drift_threshold
    if options.force:
        reason = "forced"
    elif new_labels >= options.min_new_labels:
        reason = "new_labels"
    elif drifted:
        reason = "drift"
    else:
        psi = ("no drift measured" if record["max_psi"] is None else
               f"largest PSI {record['max_psi']:.3f} ({record['max_psi_feature']}) <= "
               f"{options.drift_threshold:g}")
        return _record(conn, record, "not_triggered", "skipped",
                       f"{new_labels} new labels since the last training, fewer than "
                       f"{options.min_new_labels}; {psi}")

    on_stage("loading features and labels")
    data = training.load_dataset(conn, cutoff=cutoff, start=training.FAR_PAST, end=cutoff)
    try:
        trained = training.train(data, options.train, on_stage=on_stage)
    except training.TrainingError as exc:
        return _record(conn, record, reason, "skipped", f"training refused: {exc}")
    previous_challengers = [v for (v,) in conn.execute(_q("previous_challengers")).fetchall()]
    challenger, _ = registry.register(conn, trained, mode="labels", cutoff=cutoff,
                                      deploy="shadow", seconds=time.monotonic() - started)
    if challenger is None:
        return _record(conn, record, reason, "skipped",
                       "the challenger failed its ONNX parity check")
    for version in previous_challengers:  # one auto challenger in shadow at a time
        registry.retire(conn, version)
    record["challenger_version"] = challenger

    on_stage("comparing challenger and champion on matured labels")
    matured_to = min(trained.split.validation_to, cutoff.timestamp()
                     - options.label_delay.total_seconds())
    window = data.labelled & (data.times >= trained.split.validation_from)
    matured = window & (data.times <= matured_to)
    note = ""
    if np.nansum(data.labels[matured]) < MIN_MATURED_POSITIVES:
        matured, matured_to = window, trained.split.validation_to
        note = (f" (fewer than {MIN_MATURED_POSITIVES} frauds had matured labels; "
                f"compared on the whole validation window)")
    rows = data.subset(matured)
    scores = {"challenger": OnnxModel(trained.onnx_bytes).predict(rows.features)}
    if champion is not None:
        stored = registry.load(conn, champion)
        columns = [data.feature_names.index(n) for n in stored.feature_names]
        scores["champion"] = OnnxModel(stored.onnx_bytes).predict(rows.features[:, columns])
    evaluated = {name: {
        "average_precision": metrics.finite(metrics.average_precision(rows.labels, s)),
        "roc_auc": metrics.finite(metrics.roc_auc(rows.labels, s))} for name, s in scores.items()}
    record.update({
        "evaluated_from": _utc(trained.split.validation_from), "evaluated_to": _utc(matured_to),
        "evaluated_rows": len(rows), "evaluated_positives": int(np.nansum(rows.labels)),
        "challenger_metrics": Jsonb(evaluated["challenger"]),
        "champion_metrics": Jsonb(evaluated["champion"]) if champion is not None else None})
    challenger_ap = evaluated["challenger"]["average_precision"] or 0.0
    champion_ap = (evaluated["champion"]["average_precision"] or 0.0
                   if champion is not None else None)
    if champion_ap is None or challenger_ap >= champion_ap + options.margin:
        registry.promote(conn, challenger)
        outcome = "promoted"
        detail = (f"challenger AP {challenger_ap:.4f} vs champion "
                  f"{'none' if champion_ap is None else f'{champion_ap:.4f}'}"
                  f" (margin {options.margin:g}){note}")
    else:
        outcome = "kept_champion"
        detail = (f"challenger AP {challenger_ap:.4f} < champion {champion_ap:.4f} + margin "
                  f"{options.margin:g}; challenger stays in shadow{note}")
    decision = _record(conn, record, reason, outcome, detail)
    decision.champion_ap, decision.challenger_ap = champion_ap, challenger_ap
    decision.evaluated_rows = len(rows)
    return decision


def _record(conn: psycopg.Connection[Any], record: dict[str, Any], reason: str,
            outcome: str, detail: str) -> Decision:
    row = conn.execute(_q("record_decision"), {**record, "trigger_reason": reason,
                                               "outcome": outcome, "detail": detail}).fetchone()
    assert row is not None
    return Decision(int(row[0]), outcome, reason, record["new_labels"],
                    record["champion_version"], record["challenger_version"], detail=detail)


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)
