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
is then refit on the whole training window with that many trees (at least
``min_rounds``). The export is checked against LightGBM (``pgfraud.lifecycle.onnx_export.parity``),
then Platt-scaled on the labelled validation rows, in the ONNX graph itself. Every
reported metric, the threshold and the score reference distribution come from the
exported, calibrated ONNX model's validation scores: what the scorer will output.

Retraining must not grow with the history, so by default the data is the last
``window`` (120 days) of labelled event time (:func:`load_training_data`), and above
``max_rows`` (100,000) training rows the legitimate ones are sampled at random, every
fraud kept, each sampled row weighted by the inverse of the sampling rate
(:func:`sample_negatives`): the loss, ``scale_pos_weight`` and so the scores are those
of the whole window. Only the training part is sampled; validation stays complete.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import psycopg

from pgfraud.kernel import queries
from pgfraud.kernel.errors import PgfraudError
from pgfraud.lifecycle import metrics
from pgfraud.lifecycle.onnx_export import calibrate, largest_leaves, to_onnx
from pgfraud.lifecycle.onnx_export import parity as onnx_parity
from scorer.onnx_model import OnnxModel

log = logging.getLogger(__name__)

DAY = 86_400.0
DEFAULT_GAP = dt.timedelta(days=7)
#: The default validation window is a quarter of the labelled span, at most this long.
MAX_DEFAULT_VALIDATION = dt.timedelta(days=14)
#: Rows of the fitted sample the ``metrics.train`` figures are computed on, at most.
TRAIN_METRIC_ROWS = 25_000
MIN_TRAIN_POSITIVES = 10
MIN_VALIDATION_POSITIVES = 5
REFERENCE_BINS = 10
REFERENCE_SAMPLE = 200_000
THRESHOLD_RULES = ("alert-rate", "precision", "cost")
#: Labelled event time a model trains on by default (docs/models.md, "Training window").
DEFAULT_WINDOW = dt.timedelta(days=120)
#: Training rows (train + early stop) above which legitimate rows are sampled.
DEFAULT_MAX_ROWS = 100_000
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
    start: float | None = None   # first event time loaded (epoch s); None: all history

    def __len__(self) -> int:
        return len(self.transaction_ids)

    @property
    def labelled(self) -> npt.NDArray[np.bool_]:
        return ~np.isnan(self.labels)

    def subset(self, mask: npt.NDArray[np.bool_]) -> Dataset:
        return Dataset(self.transaction_ids[mask],
                       [n for n, keep in zip(self.trans_nums, mask, strict=True) if keep],
                       self.times[mask], self.cards[mask], self.labels[mask],
                       self.features[mask], self.feature_names, self.start)


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
    # The features come packed, a row's float8 values in one bytea (NULL as NaN, as
    # numpy would read None): one frombuffer per chunk instead of a conversion per value.
    statement = queries.with_packed_float8(
        queries.load("models")["model_input_with_labels"], names, "m")
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
        conn.execute(queries.load("models")["no_nested_loops"])
        cur.execute(statement, {"cutoff": cutoff, "from": start, "to": end})
        while rows := cur.fetchmany(chunk):
            packed = []
            for row in rows:
                ids.append(row[0])
                trans_nums.append(row[1])
                times.append(row[2])
                cards.append(row[3])
                labels.append(math.nan if row[4] is None else float(row[4]))
                packed.append(row[5])
            blocks.append(queries.unpack_float8(packed, len(names)))
            on_rows(len(ids))
    matrix = np.vstack(blocks) if blocks else np.empty((0, len(names)), dtype=np.float32)
    return Dataset(np.array(ids, dtype=np.int64), trans_nums, np.array(times, dtype=np.float64),
                   np.array(cards, dtype=object), np.array(labels, dtype=np.float64),
                   matrix, names, start.timestamp() if start > FAR_PAST else None)


def window_start(conn: psycopg.Connection[Any], *, cutoff: dt.datetime, end: dt.datetime,
                 window: dt.timedelta | None) -> dt.datetime:
    """First event time of a training window: ``window`` before the newest transaction
    (at most ``end``) labelled by ``cutoff``; FAR_PAST without a window or a label.

    Anchored on the newest label, not on the cutoff: labels lag their transactions (by
    days, or years for a file imported long after it happened), and the window counts
    labelled time.
    """
    if window is None:
        return FAR_PAST
    row = conn.execute(queries.load("models")["newest_labelled_at"],
                       {"cutoff": cutoff, "to": end}).fetchone()
    newest = row[0] if row else None
    return FAR_PAST if newest is None else max(newest - window, FAR_PAST)


def load_training_data(conn: psycopg.Connection[Any], options: TrainOptions, *,
                       cutoff: dt.datetime, start: dt.datetime | None = None,
                       end: dt.datetime | None = None,
                       on_rows: Callable[[int], None] = lambda n: None) -> Dataset:
    """The rows to train on as of ``cutoff``: event time from ``start`` (default: the
    training window, :func:`window_start`) to ``end`` (default and at most: the cutoff)."""
    end = min(end or cutoff, cutoff)
    if start is None:
        start = window_start(conn, cutoff=cutoff, end=end, window=options.window)
    return load_dataset(conn, cutoff=cutoff, start=start, end=end, on_rows=on_rows)


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    validation: dt.timedelta | None = None   # default: a quarter of labelled time, <= 14 d
    gap: dt.timedelta | None = None          # default: 7 days, at most a tenth of the span
    alert_rate: float | None = 0.01          # threshold rule: alert on this share ...
    target_precision: float | None = None    # ... or reach this precision (replaces it)
    threshold_rule: str | None = None        # THRESHOLD_RULES; None: as the two above say
    review_cost: float = 5.0                 # cost rule: money per reviewed alert
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 50
    max_rounds: int = 2000
    min_rounds: int = 50                     # early stopping never leaves fewer trees
    early_stopping_rounds: int = 50
    seed: int = 0                            # LightGBM's, and which legitimate rows
    threads: int = 2
    window: dt.timedelta | None = DEFAULT_WINDOW  # labelled event time; None: all of it
    max_rows: int | None = DEFAULT_MAX_ROWS  # training rows before sampling; None: no cap

    def lightgbm_params(self, negatives: float, positives: float) -> dict[str, Any]:
        """LightGBM's parameters; ``negatives`` and ``positives`` are the (weighted) class
        totals of the training rows."""
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
                  else min(span / 4, MAX_DEFAULT_VALIDATION.total_seconds()))
    gap = (options.gap.total_seconds() if options.gap is not None
           else min(DEFAULT_GAP.total_seconds(), span / 10))
    if validation + gap >= span:
        raise TrainingError(
            f"validation ({_days(validation)}) plus gap ({_days(gap)}) leave no training "
            f"window in {_days(span)} of labelled history")
    validation_from = last - validation
    return Split(first, validation_from - gap, validation_from, last)


@dataclasses.dataclass(frozen=True)
class Sample:
    """The rows a model is fitted on: ``rows`` with ``weights``, and what was done."""

    rows: Dataset
    weights: npt.NDArray[np.float64] | None   # None: every row, weight 1
    record: dict[str, Any]


def sample_negatives(rows: Dataset, max_rows: int | None, seed: int) -> Sample:
    """Every fraud of the labelled ``rows``, and legitimate rows drawn uniformly at random
    without replacement (deterministic for ``seed``) so that at most ``max_rows`` remain,
    but never fewer legitimate rows than frauds.

    Each drawn legitimate row weighs negatives / drawn, so the weighted class totals are
    those of ``rows``: the loss and ``scale_pos_weight`` see the whole window, and the
    scores stay calibrated. ``rows`` keep their order.

    >>> n = 1000
    >>> data = Dataset(np.arange(n), [str(i) for i in range(n)], np.arange(n, dtype=float),
    ...                np.zeros(n, dtype=object), (np.arange(n) % 100 == 0).astype(float),
    ...                np.zeros((n, 1), dtype=np.float32), ["x"])
    >>> sample = sample_negatives(data, 210, seed=0)
    >>> len(sample.rows), int(sample.rows.labels.sum()), sample.record["negative_weight"]
    (210, 10, 4.95)
    """
    positive = rows.labels == 1
    positives = int(positive.sum())
    negatives = len(rows) - positives
    keep = negatives if max_rows is None else min(negatives,
                                                  max(max_rows - positives, positives))
    record: dict[str, Any] = {
        "max_rows": max_rows, "seed": seed, "rows": len(rows), "positives": positives,
        "negatives": negatives, "sampled": keep < negatives, "sampled_rows": positives + keep,
        "sampled_negatives": keep, "negative_rate": keep / negatives if negatives else 1.0,
        "negative_weight": negatives / keep if keep else 1.0}
    if keep == negatives:
        return Sample(rows, None, record)
    chosen = np.random.default_rng(seed).choice(np.flatnonzero(~positive), size=keep,
                                                replace=False)
    mask = positive.copy()
    mask[chosen] = True
    sampled = rows.subset(mask)
    weights = np.where(sampled.labels == 1, 1.0, negatives / keep)
    return Sample(sampled, weights, record)


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
    parity_ok: bool   # the raw export and the calibrated graph both match LightGBM

    @property
    def onnx_sha256(self) -> str:
        return hashlib.sha256(self.onnx_bytes).hexdigest()


def train(data: Dataset, options: TrainOptions = TrainOptions(),
          on_stage: Callable[[str], None] = lambda stage: None) -> TrainedModel:
    """Fit, export to ONNX, check parity, evaluate and describe a model on ``data``.

    ``data`` may hold unlabelled rows: they are not trained on, but they count for the
    alert-rate threshold and the reference distributions (drift compares against the
    whole population, not the labelled share). Above ``options.max_rows`` labelled
    training rows the legitimate ones are sampled (:func:`sample_negatives`); the
    validation window is never sampled.
    """
    started = time.monotonic()
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

    sample = sample_negatives(train_rows, options.max_rows, options.seed)
    on_stage(f"training on {len(sample.rows):,} rows" + (
        f" (every fraud, 1 in {sample.record['negative_weight']:.1f} legitimate)"
        if sample.weights is not None else ""))
    positives = int(train_rows.labels.sum())
    # The weighted totals of the sample are the window's: scale_pos_weight is unchanged.
    params = options.lightgbm_params(len(train_rows) - positives, positives)
    cut = float(np.quantile(train_rows.times, 0.8))  # the window's, not the sample's
    rounds = _early_stopping_rounds(sample, cut, params, options)
    booster = lgb.train(params, lgb.Dataset(sample.rows.features, sample.rows.labels,
                                            weight=sample.weights,
                                            feature_name=data.feature_names,
                                            free_raw_data=False),
                        num_boost_round=rounds)
    fit_seconds = time.monotonic() - started

    on_stage("exporting to ONNX")
    validation_window = data.subset(in_validation)
    # One dump for the export and both parity tolerances (their leaves); the export
    # rounds its split thresholds, which the leaves do not read, so they are taken first.
    dump = booster.dump_model()
    leaves = largest_leaves(dump)
    raw_onnx = to_onnx(booster, dump)
    raw_scores = OnnxModel(raw_onnx).predict(validation_window.features,
                                             workers=options.threads)
    # LightGBM's own scores of the window, for both parity checks (raw and calibrated).
    expected = np.asarray(booster.predict(validation_window.features.astype(np.float64)),
                          dtype=np.float64)
    raw_parity = onnx_parity(booster, validation_window.features, raw_scores,
                             lightgbm_scores=expected, leaves=leaves)

    on_stage("calibrating")
    onnx_bytes, window_scores, calibration = _calibrate(raw_onnx, raw_scores,
                                                        validation_window, options.threads)
    model = OnnxModel(onnx_bytes)

    on_stage("evaluating")
    threshold, rule = _threshold(validation_window, window_scores, options)
    platt = ((calibration["a"], calibration["b"]) if calibration["method"] == "platt"
             else None)
    # The ranking was judged on the raw graph; Platt in float32 can only tie scores
    # (Parity.ranking_judged), and the calibration keeps 99 % of distinct scores.
    parity = onnx_parity(booster, validation_window.features, window_scores,
                         threshold=threshold, calibration=platt,
                         judge_ranking=platt is None, lightgbm_scores=expected,
                         leaves=leaves)
    parity_ok = raw_parity.ok and parity.ok
    if not parity_ok:
        log.error("ONNX parity failed on %d validation rows, the model will not be "
                  "registered: %s", parity.rows,
                  "; ".join([f"raw export: {p}" for p in raw_parity.problems()]
                            + [f"calibrated graph: {p}" for p in parity.problems()]))
    evaluation = evaluate(validation_window, window_scores, threshold)
    can_rank = _can_rank(evaluation["validation"]["distinct_scores"], len(validation_window),
                         rounds)
    if not can_rank["ok"]:
        log.warning("the model cannot rank: %d distinct scores on %d validation rows "
                    "(%d required), %d trees", can_rank["distinct_scores"],
                    len(validation_window), can_rank["required"], rounds)
    # On the rows fitted (weighted when sampled, so they stand for the whole window),
    # evenly spaced in event time when there are more than TRAIN_METRIC_ROWS.
    fitted = _evenly_spaced(len(sample.rows), TRAIN_METRIC_ROWS)
    train_auc, train_ap = weighted_ranking(
        sample.rows.labels[fitted],
        model.predict(sample.rows.features[fitted], workers=options.threads),
        None if sample.weights is None else sample.weights[fitted])
    evaluation.update({
        "train": {
            "rows": len(train_rows),
            "positives": positives,
            "roc_auc": metrics.finite(train_auc),
            "average_precision": metrics.finite(train_ap),
        },
        "threshold_rule": rule,
        "trees": rounds,
        "can_rank": can_rank,
        "calibration": calibration,
        # Top level: the registered (calibrated) graph; "raw": the export before Platt.
        "parity": {**parity.describe(), "ok": parity_ok, "raw": raw_parity.describe()},
        "window": split.describe(),
        # What the model was fitted on: the window it was loaded from and the sample.
        "training_set": {"window_from": None if data.start is None else _iso(data.start),
                         **sample.record},
    })
    reference = reference_distributions(data.subset(in_train), window_scores)
    gains = booster.feature_importance(importance_type="gain")
    total = float(gains.sum()) or 1.0
    importance = {name: round(float(gain) / total, 6) for name, gain in
                  sorted(zip(data.feature_names, gains, strict=True), key=lambda p: -p[1])}
    evaluation["seconds"] = {"fit": round(fit_seconds, 3),
                             "total": round(time.monotonic() - started, 3)}
    return TrainedModel(booster, onnx_bytes, list(data.feature_names), threshold, split,
                        evaluation, reference, importance, params, parity_ok)


def weighted_ranking(y: npt.NDArray[np.float64], score: npt.NDArray[np.float64],
                     weights: npt.NDArray[np.float64] | None) -> tuple[float, float]:
    """(ROC AUC, average precision) of ``score`` with row weights; without weights,
    :func:`pgfraud.lifecycle.metrics.roc_auc` and
    :func:`pgfraud.lifecycle.metrics.average_precision`.

    Weighted, a row counts ``weights[i]`` times: ties enter together, AUC counts them as
    half (the trapezoid), AP is Σ (recall gain) × precision (scikit-learn's definitions
    with ``sample_weight``). NaN when a class is missing.
    """
    if weights is None:
        return metrics.roc_auc(y, score), metrics.average_precision(y, score)
    order = np.argsort(-np.asarray(score, dtype=np.float64), kind="mergesort")
    ordered = np.asarray(score, dtype=np.float64)[order]
    ends = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True])
    w, positive = weights[order], y[order] == 1
    tp = np.r_[0.0, np.cumsum(np.where(positive, w, 0.0))[ends]]
    fp = np.r_[0.0, np.cumsum(np.where(positive, 0.0, w))[ends]]
    if tp[-1] <= 0:
        return math.nan, math.nan
    auc = (float(((fp[1:] - fp[:-1]) * (tp[1:] + tp[:-1]) / 2).sum() / (tp[-1] * fp[-1]))
           if fp[-1] > 0 else math.nan)
    ap = float(((tp[1:] - tp[:-1]) * tp[1:] / (tp[1:] + fp[1:])).sum() / tp[-1])
    return auc, ap


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


def _early_stopping_rounds(sample: Sample, cut: float, params: dict[str, Any],
                           options: TrainOptions) -> int:
    """Trees to use: early stopping on the training rows after ``cut``, the last fifth of
    the training window by event time (weighted rows: the stop metric is the window's).

    Falls back to ``max_rounds`` / 10 when that fifth holds no fraud. Never fewer than
    ``min_rounds`` (nor more than ``max_rounds``): on a noisy stop slice early stopping can
    pick a handful of trees, and a few trees give a few hundred distinct scores, too
    coarse to rank tens of thousands of transactions.
    """
    def bounded(rounds: int) -> int:
        return max(min(max(rounds, options.min_rounds), options.max_rounds), 1)

    rows, weights = sample.rows, sample.weights
    fit, stop = rows.times <= cut, rows.times > cut
    if not rows.labels[stop].any() or not rows.labels[fit].any():
        return bounded(options.max_rounds // 10)
    names = rows.feature_names
    fit_set = lgb.Dataset(rows.features[fit], rows.labels[fit], feature_name=names,
                          weight=None if weights is None else weights[fit])
    stop_set = lgb.Dataset(rows.features[stop], rows.labels[stop], feature_name=names,
                           weight=None if weights is None else weights[stop],
                           reference=fit_set)
    booster = lgb.train(params, fit_set, num_boost_round=options.max_rounds,
                        valid_sets=[stop_set],
                        callbacks=[lgb.early_stopping(options.early_stopping_rounds,
                                                      verbose=False)])
    return bounded(int(booster.best_iteration or options.max_rounds))


def _threshold(window: Dataset, scores: npt.NDArray[np.float64],
               options: TrainOptions) -> tuple[float, dict[str, Any]]:
    rule = options.threshold_rule or ("precision" if options.target_precision is not None
                                      else "alert-rate")
    labelled = window.labelled
    if rule == "cost":
        amount = _amounts(window)
        if amount is None:
            raise TrainingError("the cost threshold rule needs the feature 'amount'")
        y, s, money = window.labels[labelled], scores[labelled], amount[labelled]
        threshold = metrics.threshold_for_cost(y, s, money, options.review_cost)
        cost = metrics.cost_at(y, s, money, threshold, options.review_cost)
        return threshold, {"rule": "cost", "review_cost": options.review_cost,
                           "expected_cost": cost.expected_cost, "alerts": cost.alerts,
                           "missed_fraud_amount": cost.missed_fraud_amount,
                           "labelled_rows": int(labelled.sum())}
    if rule == "precision":
        if options.target_precision is None:
            raise TrainingError("the precision threshold rule needs a target precision")
        threshold_or_none = metrics.threshold_for_precision(
            window.labels[labelled], scores[labelled], options.target_precision)
        if threshold_or_none is None:
            raise TrainingError(
                f"no threshold reaches precision {options.target_precision:g} on the "
                f"validation window; lower --target-precision or use --alert-rate")
        return threshold_or_none, {"rule": "precision",
                                   "target_precision": options.target_precision}
    if rule != "alert-rate":
        raise TrainingError(f"unknown threshold rule {rule!r} (one of "
                            f"{', '.join(THRESHOLD_RULES)})")
    rate = options.alert_rate if options.alert_rate is not None else 0.01
    return metrics.threshold_for_alert_rate(scores, rate), {"rule": "alert-rate",
                                                            "alert_rate": rate}


def _calibrate(raw_onnx: bytes, raw_scores: npt.NDArray[np.float64], window: Dataset,
               workers: int = 1) -> tuple[bytes, npt.NDArray[np.float64], dict[str, Any]]:
    """Platt scaling fitted on the labelled rows of ``window``, appended to the graph.

    Used when it lowers the Brier score on those rows and keeps (to float32 rounding,
    99%) the distinct scores; otherwise the raw export stays, recorded as method "none"
    with the reason. Two parameters fitted on thousands of rows: the in-sample Brier
    score is a fair estimate. Returns the graph, its scores on ``window`` and the record.
    """
    labelled = window.labelled
    y = window.labels[labelled]
    brier_raw = metrics.brier(y, raw_scores[labelled])
    onnx_bytes, scores = raw_onnx, raw_scores
    record: dict[str, Any] = {"method": "none", "a": None, "b": None}
    try:
        a, b = metrics.fit_platt(y, raw_scores[labelled])
    except ValueError as exc:
        record["reason"] = str(exc)
    else:
        candidate = calibrate(raw_onnx, a, b)
        calibrated = OnnxModel(candidate).predict(window.features, workers=workers)
        if not a > 0:
            record["reason"] = f"the fitted slope a = {a:.4g} would not keep the ranking"
        elif not metrics.brier(y, calibrated[labelled]) < brier_raw:
            record["reason"] = "Platt scaling did not lower the Brier score"
        elif metrics.distinct(calibrated) < 0.99 * metrics.distinct(raw_scores):
            record["reason"] = "Platt scaling in float32 merged distinct scores"
        else:
            onnx_bytes, scores = candidate, calibrated
            record = {"method": "platt", "a": a, "b": b}
        if record["method"] == "none":
            record["fitted"] = {"a": a, "b": b}
    record.update({"rows": int(labelled.sum()), "brier_raw": metrics.finite(brier_raw),
                   "brier": metrics.finite(metrics.brier(y, scores[labelled])),
                   "reliability": metrics.reliability(y, scores[labelled])})
    return onnx_bytes, scores, record


def _can_rank(distinct_scores: int, rows: int, trees: int) -> dict[str, Any]:
    """Whether the validation scores are fine enough to rank.

    Required: a hundredth of the validation rows, at least 10 and at most 100. Below
    rows / 100 distinct scores, the average tie holds more than 1% of the window, the
    default alert budget: a threshold rule could not place its cut within a tie. 100
    levels (percentiles) rank well enough anywhere; 10 keeps small windows testable.
    """
    required = min(100, max(10, rows // 100))
    return {"ok": distinct_scores >= required, "distinct_scores": distinct_scores,
            "required": required, "trees": trees}


def _amounts(window: Dataset) -> npt.NDArray[np.float64] | None:
    """The transactions' ``amount`` feature, or None when the model does not read it."""
    if "amount" not in window.feature_names:
        return None
    return window.features[:, window.feature_names.index("amount")].astype(np.float64)


def evaluate(window: Dataset, scores: npt.NDArray[np.float64],
             threshold: float) -> dict[str, Any]:
    """Validation metrics over the labelled rows of ``window`` (scores for every row).

    Money, from the ``amount`` feature: ``fraud_amount`` of the labelled frauds, the
    part alerted at ``threshold``, and their ratio ``value_detected``. ``distinct_scores``
    and the alert rate count every row.
    """
    labelled = window.labelled
    y, s = window.labels[labelled], scores[labelled]
    decision = metrics.at_threshold(y, s, threshold)
    days = np.floor(window.times[labelled] / DAY).astype(np.int64)
    cp, cp_days = metrics.card_precision_at_k(days, window.cards[labelled], y, s, k=100)
    positives = int(y.sum())
    amount = _amounts(window)
    fraud_amount = alerted_amount = None
    if amount is not None:
        fraud_money = np.where(y == 1, np.nan_to_num(amount[labelled]), 0.0)
        fraud_amount = float(fraud_money.sum())
        alerted_amount = float(fraud_money[s >= threshold].sum())
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
            "distinct_scores": metrics.distinct(scores),
            "fraud_amount": fraud_amount,
            "fraud_amount_alerted": alerted_amount,
            "value_detected": (alerted_amount / fraud_amount
                               if fraud_amount and alerted_amount is not None else None),
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
    rows = population.features[_evenly_spaced(len(population), REFERENCE_SAMPLE)]
    result: dict[str, Any] = {"bins": REFERENCE_BINS, "features": {}}
    for i, name in enumerate(population.feature_names):
        result["features"][name] = decile_bins(rows[:, i].astype(np.float64))
    result["score"] = decile_bins(np.asarray(scores, dtype=np.float64))
    return result


def _evenly_spaced(rows: int, at_most: int) -> npt.NDArray[np.int64]:
    """Indices of at most ``at_most`` of ``rows`` rows, evenly spaced (all when fewer).

    >>> _evenly_spaced(5, 10).tolist(), _evenly_spaced(10, 4).tolist()
    ([0, 1, 2, 3, 4], [0, 3, 6, 9])
    """
    if rows <= at_most:
        return np.arange(rows, dtype=np.int64)
    return np.linspace(0, rows - 1, at_most).astype(np.int64)


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
