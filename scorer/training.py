"""Train a LightGBM fraud model on stored features and labels known at a cutoff.

The training set is ``features.model_input_v1`` (the rows the scorer reads) joined to
each transaction's label as it stood at the cutoff, from the append-only label history.
Nothing is recomputed, so there is no training/serving skew, and a label that arrived
after the cutoff is invisible, as it was to the system at that moment.

The split is by event time, never random::

    |<------------- train ------------->|<- gap ->|<---- validation ---->|
                          |<- early stop ->|

The newest labelled stretch is the validation window. A gap the length of the label
delay separates it from training, as it would in production, where the newest labels
have not arrived. Early stopping uses the last fifth of the training window; the model
is then refit on the whole training window with that many trees. Every reported metric
is computed on validation scores from the exported ONNX model, which is what the
scorer runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import psycopg

from scorer import metrics, queries
from scorer.errors import PgfraudError
from scorer.onnx_model import OnnxModel, to_onnx
from scorer.onnx_model import parity as onnx_parity

DAY = 86_400.0
DEFAULT_GAP = dt.timedelta(days=7)
MIN_TRAIN_POSITIVES = 10
MIN_VALIDATION_POSITIVES = 5
REFERENCE_BINS = 10
REFERENCE_SAMPLE = 200_000
#: Open bounds for load_dataset's event-time window.
FAR_PAST = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
FAR_FUTURE = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


class TrainingError(PgfraudError):
    """Training cannot proceed (too few labels, an unreachable precision target, ...)."""


@dataclasses.dataclass
class Dataset:
    """Model input rows in event-time order; ``labels`` is 1, 0 or NaN (unlabelled)."""

    transaction_ids: npt.NDArray[np.int64]
    trans_nums: list[str]
    times: npt.NDArray[np.float64]          # event time, seconds since the epoch (UTC)
    cards: npt.NDArray[Any]
    labels: npt.NDArray[np.float64]
    features: npt.NDArray[np.float32]
    feature_names: list[str]

    def __len__(self) -> int:
        return len(self.transaction_ids)

    @property
    def labelled(self) -> npt.NDArray[np.bool_]:
        return ~np.isnan(self.labels)

    def subset(self, mask: npt.NDArray[np.bool_]) -> Dataset:
        return Dataset(self.transaction_ids[mask],
                       [n for n, keep in zip(self.trans_nums, mask, strict=True) if keep],
                       self.times[mask], self.cards[mask], self.labels[mask],
                       self.features[mask], self.feature_names)


def feature_columns(conn: psycopg.Connection[Any]) -> list[str]:
    """The feature columns of the model input view, in order."""
    rows = conn.execute(queries.load("models")["model_input_columns"]).fetchall()
    return [name for (name,) in rows]


def default_cutoff(conn: psycopg.Connection[Any]) -> dt.datetime:
    (cutoff,) = conn.execute(queries.load("models")["default_cutoff"]).fetchone() or (None,)
    assert isinstance(cutoff, dt.datetime)
    return cutoff


def load_dataset(conn: psycopg.Connection[Any], *, cutoff: dt.datetime,
                 start: dt.datetime, end: dt.datetime,
                 feature_names: Sequence[str] | None = None,
                 on_rows: Callable[[int], None] = lambda n: None,
                 chunk: int = 50_000) -> Dataset:
    """Model input with event time in [start, end], each with its label as of ``cutoff``."""
    names = list(feature_names) if feature_names is not None else feature_columns(conn)
    statement = queries.with_columns(queries.load("models")["model_input_with_labels"],
                                     names, "m")
    ids: list[int] = []
    trans_nums: list[str] = []
    times: list[float] = []
    cards: list[str] = []
    labels: list[float] = []
    blocks: list[npt.NDArray[np.float32]] = []
    with conn.transaction(), conn.cursor(name="pgfraud_training_rows", binary=True) as cur:
        # This query reads whole windows, so hash joins are always right. Right after a
        # bulk load, before autovacuum has analysed the tables, the planner picks nested
        # loops over label_events instead (measured on 35k rows: 122 s instead of 0.6 s).
        conn.execute("set local enable_nestloop = off")
        cur.execute(statement, {"cutoff": cutoff, "from": start, "to": end})
        while rows := cur.fetchmany(chunk):
            for row in rows:
                ids.append(row[0])
                trans_nums.append(row[1])
                times.append(row[2])
                cards.append(row[3])
                labels.append(math.nan if row[4] is None else float(row[4]))
            blocks.append(np.array([row[5:] for row in rows], dtype=np.float64)
                          .reshape(len(rows), len(names)).astype(np.float32))
            on_rows(len(ids))
    matrix = np.vstack(blocks) if blocks else np.empty((0, len(names)), dtype=np.float32)
    return Dataset(np.array(ids, dtype=np.int64), trans_nums, np.array(times, dtype=np.float64),
                   np.array(cards, dtype=object), np.array(labels, dtype=np.float64),
                   matrix, names)


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    validation: dt.timedelta | None = None   # default: the newest quarter of labelled time
    gap: dt.timedelta | None = None          # default: 7 days, at most a tenth of the span
    alert_rate: float | None = 0.01          # threshold rule: alert on this share ...
    target_precision: float | None = None    # ... or reach this precision (replaces it)
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 50
    max_rounds: int = 2000
    early_stopping_rounds: int = 50
    seed: int = 0
    threads: int = 2

    def lightgbm_params(self, negatives: int, positives: int) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            # Class imbalance: positives weigh as much, in total, as negatives.
            "scale_pos_weight": negatives / max(positives, 1),
            "metric": "average_precision",
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.threads,
            "verbose": -1,
        }


@dataclasses.dataclass(frozen=True)
class Split:
    train_from: float
    train_to: float
    validation_from: float
    validation_to: float

    @property
    def gap_s(self) -> float:
        return self.validation_from - self.train_to

    def describe(self) -> dict[str, str]:
        return {name: _iso(getattr(self, name)) for name in
                ("train_from", "train_to", "validation_from", "validation_to")}


def plan_split(times: npt.NDArray[np.float64], options: TrainOptions) -> Split:
    """Train / gap / validation boundaries over the labelled rows' event times."""
    first, last = float(times.min()), float(times.max())
    span = last - first
    if span <= 0:
        raise TrainingError("all labelled transactions have the same event time; "
                            "a time-ordered split needs a span")
    validation = (options.validation.total_seconds() if options.validation is not None
                  else span / 4)
    gap = (options.gap.total_seconds() if options.gap is not None
           else min(DEFAULT_GAP.total_seconds(), span / 10))
    if validation + gap >= span:
        raise TrainingError(
            f"validation ({_days(validation)}) plus gap ({_days(gap)}) leave no training "
            f"window in {_days(span)} of labelled history")
    validation_from = last - validation
    return Split(first, validation_from - gap, validation_from, last)


@dataclasses.dataclass
class TrainedModel:
    booster: lgb.Booster
    onnx_bytes: bytes
    feature_names: list[str]
    threshold: float
    split: Split
    metrics: dict[str, Any]
    reference_distributions: dict[str, Any]
    feature_importance: dict[str, float]
    params: dict[str, Any]
    parity_ok: bool

    @property
    def onnx_sha256(self) -> str:
        return hashlib.sha256(self.onnx_bytes).hexdigest()


def train(data: Dataset, options: TrainOptions = TrainOptions(),
          on_stage: Callable[[str], None] = lambda stage: None) -> TrainedModel:
    """Fit, export to ONNX, check parity, evaluate and describe a model on ``data``.

    ``data`` may hold unlabelled rows: they are not trained on, but they count for the
    alert-rate threshold and the reference distributions (drift compares against the
    whole population, not the labelled share).
    """
    labelled = data.labelled
    if not labelled.any():
        raise TrainingError("no labelled transactions in the window (labels are "
                            "true_value set in scoring.predictions, known by the cutoff)")
    split = plan_split(data.times[labelled], options)
    in_train = data.times <= split.train_to
    in_validation = data.times >= split.validation_from
    train_rows = data.subset(in_train & labelled)
    validation_rows = data.subset(in_validation & labelled)
    _require_positives(train_rows, validation_rows, split)

    on_stage("training")
    positives = int(train_rows.labels.sum())
    params = options.lightgbm_params(len(train_rows) - positives, positives)
    rounds = _early_stopping_rounds(train_rows, params, options)
    booster = lgb.train(params, lgb.Dataset(train_rows.features, train_rows.labels,
                                            feature_name=data.feature_names,
                                            free_raw_data=False),
                        num_boost_round=rounds)

    on_stage("exporting to ONNX")
    onnx_bytes = to_onnx(booster)
    validation_window = data.subset(in_validation)
    model = OnnxModel(onnx_bytes)
    window_scores = model.predict(validation_window.features)
    parity = onnx_parity(booster, validation_window.features, window_scores)

    on_stage("evaluating")
    threshold, rule = _threshold(validation_window, window_scores, options)
    evaluation = evaluate(validation_window, window_scores, threshold)
    train_scores = model.predict(train_rows.features)
    evaluation.update({
        "train": {
            "rows": len(train_rows),
            "positives": positives,
            "roc_auc": metrics.finite(metrics.roc_auc(train_rows.labels, train_scores)),
            "average_precision": metrics.finite(metrics.average_precision(train_rows.labels,
                                                                   train_scores)),
        },
        "threshold_rule": rule,
        "trees": rounds,
        "parity": dataclasses.asdict(parity),
        "window": split.describe(),
    })
    reference = reference_distributions(data.subset(in_train), window_scores)
    gains = booster.feature_importance(importance_type="gain")
    total = float(gains.sum()) or 1.0
    importance = {name: round(float(gain) / total, 6) for name, gain in
                  sorted(zip(data.feature_names, gains, strict=True), key=lambda p: -p[1])}
    return TrainedModel(booster, onnx_bytes, list(data.feature_names), threshold, split,
                        evaluation, reference, importance, params, parity.ok)


def _require_positives(train_rows: Dataset, validation_rows: Dataset, split: Split) -> None:
    train_pos = int(train_rows.labels.sum())
    validation_pos = int(validation_rows.labels.sum())
    if train_pos < MIN_TRAIN_POSITIVES or validation_pos < MIN_VALIDATION_POSITIVES:
        raise TrainingError(
            f"too few labelled frauds: {train_pos} in the training window "
            f"({_iso(split.train_from)} .. {_iso(split.train_to)}; need "
            f"{MIN_TRAIN_POSITIVES}) and {validation_pos} in validation "
            f"({_iso(split.validation_from)} .. {_iso(split.validation_to)}; need "
            f"{MIN_VALIDATION_POSITIVES}). Label more transactions, widen the window, or "
            f"start from `pgfraud train --bootstrap`.")


def _early_stopping_rounds(train_rows: Dataset, params: dict[str, Any],
                           options: TrainOptions) -> int:
    """Trees to use: early stopping on the last fifth (by event time) of the training rows.

    Falls back to all of ``max_rounds`` / 10 when that fifth holds no fraud.
    """
    cut = float(np.quantile(train_rows.times, 0.8))
    fit, stop = train_rows.times <= cut, train_rows.times > cut
    if not train_rows.labels[stop].any() or not train_rows.labels[fit].any():
        return max(options.max_rounds // 10, 1)
    names = train_rows.feature_names
    fit_set = lgb.Dataset(train_rows.features[fit], train_rows.labels[fit], feature_name=names)
    stop_set = lgb.Dataset(train_rows.features[stop], train_rows.labels[stop],
                           feature_name=names, reference=fit_set)
    booster = lgb.train(params, fit_set, num_boost_round=options.max_rounds,
                        valid_sets=[stop_set],
                        callbacks=[lgb.early_stopping(options.early_stopping_rounds,
                                                      verbose=False)])
    return max(int(booster.best_iteration or options.max_rounds), 1)


def _threshold(window: Dataset, scores: npt.NDArray[np.float64],
               options: TrainOptions) -> tuple[float, dict[str, float]]:
    if options.target_precision is not None:
        labelled = window.labelled
        threshold = metrics.threshold_for_precision(window.labels[labelled],
                                                    scores[labelled], options.target_precision)
        if threshold is None:
            raise TrainingError(
                f"no threshold reaches precision {options.target_precision:g} on the "
                f"validation window; lower --target-precision or use --alert-rate")
        return threshold, {"target_precision": options.target_precision}
    rate = options.alert_rate if options.alert_rate is not None else 0.01
    return metrics.threshold_for_alert_rate(scores, rate), {"alert_rate": rate}


def evaluate(window: Dataset, scores: npt.NDArray[np.float64],
             threshold: float) -> dict[str, Any]:
    """Validation metrics over the labelled rows of ``window`` (scores for every row)."""
    labelled = window.labelled
    y, s = window.labels[labelled], scores[labelled]
    decision = metrics.at_threshold(y, s, threshold)
    days = np.floor(window.times[labelled] / DAY).astype(np.int64)
    cp, cp_days = metrics.card_precision_at_k(days, window.cards[labelled], y, s, k=100)
    positives = int(y.sum())
    return {
        "validation": {
            "rows": len(window),
            "labelled": int(labelled.sum()),
            "positives": positives,
            "roc_auc": metrics.finite(metrics.roc_auc(y, s)),
            "average_precision": metrics.finite(metrics.average_precision(y, s)),
            "random_average_precision": positives / len(y) if len(y) else None,
            "threshold": threshold,
            "alerts": decision.alerts,
            "alert_rate": float((scores >= threshold).mean()) if len(scores) else None,
            "precision": metrics.finite(decision.precision),
            "recall": metrics.finite(decision.recall),
            "f1": metrics.finite(decision.f1),
            "card_precision_at_100": metrics.finite(cp),
            "card_precision_days": cp_days,
        },
    }


def reference_distributions(population: Dataset,
                            scores: npt.NDArray[np.float64]) -> dict[str, Any]:
    """Decile bins of every feature (over the training window) and of the score (over
    the validation window), for drift.

    A bin is ``edges``: ascending inner cut points, so bin i holds values v with
    i = number of edges <= v (PostgreSQL's ``width_bucket(v, edges)``); ``fractions``
    has one more entry than ``edges``; NULL / NaN values are counted in
    ``null_fraction`` and left out of ``fractions``.
    """
    rows = population.features
    if len(rows) > REFERENCE_SAMPLE:
        rows = rows[np.linspace(0, len(rows) - 1, REFERENCE_SAMPLE).astype(np.int64)]
    result: dict[str, Any] = {"bins": REFERENCE_BINS, "features": {}}
    for i, name in enumerate(population.feature_names):
        result["features"][name] = decile_bins(rows[:, i].astype(np.float64))
    result["score"] = decile_bins(np.asarray(scores, dtype=np.float64))
    return result


def decile_bins(values: npt.NDArray[np.float64]) -> dict[str, Any]:
    """One reference distribution: ``edges``, ``fractions`` and ``null_fraction``."""
    present = values[~np.isnan(values)]
    null_fraction = 1 - len(present) / len(values) if len(values) else 0.0
    if len(present) == 0:
        return {"edges": [], "fractions": [], "null_fraction": null_fraction}
    quantiles = np.quantile(present, np.linspace(0, 1, REFERENCE_BINS + 1)[1:-1])
    edges = np.unique(quantiles)
    counts = np.bincount(np.searchsorted(edges, present, side="right"),
                         minlength=len(edges) + 1)
    return {"edges": [float(e) for e in edges],
            "fractions": [float(c) / len(present) for c in counts],
            "null_fraction": float(null_fraction)}


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def _days(seconds: float) -> str:
    return f"{seconds / DAY:.2f} days"
