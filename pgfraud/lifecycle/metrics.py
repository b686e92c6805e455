"""Ranking, decision, cost and calibration metrics for fraud models, in numpy
(cross-checked with sklearn and scipy in the tests, and again in SQL by the dbt marts),
and Platt scaling, the calibration the trainer exports into the ONNX graph.

Every function takes labels as 0/1 and scores as floats of the same length.

>>> import numpy as np
>>> y = np.array([0, 0, 1, 1]); s = np.array([0.1, 0.4, 0.35, 0.8])
>>> roc_auc(y, s)
0.75
>>> round(average_precision(y, s), 4)
0.8333
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]


def finite(value: float | None) -> float | None:
    """``value`` as a float, or None for NaN: for JSON, which has no NaN."""
    return None if value is None or math.isnan(value) else float(value)


def roc_auc(y: Array, score: Array) -> float:
    """Area under the ROC curve: the Mann-Whitney rank statistic, ties counted as half.

    NaN when only one class is present.
    """
    y = np.asarray(y, dtype=bool)
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = _average_ranks(np.asarray(score, dtype=np.float64))
    rank_sum = float(ranks[y].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _average_ranks(values: Array) -> Array:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    # Start index of each run of equal values.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    mean_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def average_precision(y: Array, score: Array) -> float:
    """Average precision: sum over thresholds of (recall gain) x precision.

    Thresholds are the distinct scores, highest first, so tied scores enter together
    (the step-wise definition sklearn uses, without interpolation). NaN without
    positives.
    """
    y = np.asarray(y, dtype=bool)
    positives = int(y.sum())
    if positives == 0:
        return math.nan
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(-score, kind="mergesort")
    sorted_score = score[order]
    true_positives = np.cumsum(y[order])
    # Last index of each run of equal scores: the cut points.
    last = np.flatnonzero(np.r_[sorted_score[1:] != sorted_score[:-1], True])
    tp = true_positives[last].astype(np.float64)
    precision = tp / (last + 1)
    recall_gain = np.diff(np.r_[0.0, tp]) / positives
    return float((recall_gain * precision).sum())


@dataclasses.dataclass(frozen=True)
class AtThreshold:
    threshold: float
    alerts: int
    true_positives: int
    precision: float
    recall: float
    f1: float


def at_threshold(y: Array, score: Array, threshold: float) -> AtThreshold:
    """Decision metrics when everything scoring >= threshold is an alert.

    Precision is NaN with no alerts, recall NaN with no positives, F1 NaN when either is.
    """
    y = np.asarray(y, dtype=bool)
    alert = np.asarray(score, dtype=np.float64) >= threshold
    alerts = int(alert.sum())
    tp = int((alert & y).sum())
    positives = int(y.sum())
    precision = tp / alerts if alerts else math.nan
    recall = tp / positives if positives else math.nan
    if math.isnan(precision) or math.isnan(recall):
        f1 = math.nan
    else:
        f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return AtThreshold(threshold, alerts, tp, precision, recall, f1)


def card_precision_at_k(days: Sequence[Any] | Array, cards: Sequence[Any] | Array,
                        y: Array, score: Array, k: int = 100) -> tuple[float, int]:
    """Mean over days of the share of the day's k highest-scored cards that are compromised.

    A card's score for a day is its highest transaction score that day; a card is
    compromised on a day when any of its transactions that day is fraud. Days with fewer
    than k cards rank all of them (the share is over the cards ranked). Ties at the
    cut-off are broken by card id, so the result is deterministic. Returns the mean and
    the number of days.
    """
    per_day: dict[Any, dict[Any, list[float]]] = {}
    for day, card, label, value in zip(days, cards, np.asarray(y, dtype=bool),
                                       np.asarray(score, dtype=np.float64), strict=True):
        entry = per_day.setdefault(day, {}).setdefault(card, [-math.inf, 0.0])
        entry[0] = max(entry[0], value)
        entry[1] = max(entry[1], float(label))
    if not per_day:
        return math.nan, 0
    shares = []
    for by_card in per_day.values():
        ranked = sorted(by_card.items(), key=lambda item: (-item[1][0], str(item[0])))[:k]
        shares.append(sum(compromised for _, (_, compromised) in ranked) / len(ranked))
    return float(np.mean(shares)), len(shares)


def threshold_for_alert_rate(score: Array, alert_rate: float) -> float:
    """The threshold alerting on as many of these scores as possible, but at most
    ``alert_rate`` of them (ties at the cut-off stay below it).

    >>> threshold_for_alert_rate(np.array([0.1, 0.2, 0.3, 0.4]), 0.5)
    0.3
    >>> threshold_for_alert_rate(np.array([0.1, 0.3, 0.3, 0.4]), 0.5) > 0.3
    True
    """
    desc = np.sort(np.asarray(score, dtype=np.float64))[::-1]
    if len(desc) == 0:
        return 1.0
    budget = min(int(math.floor(alert_rate * len(desc))), len(desc))
    if budget <= 0:
        return float(np.nextafter(desc[0], np.inf))
    cut = desc[budget - 1]
    if int((desc >= cut).sum()) > budget:
        return float(np.nextafter(cut, np.inf))
    return float(cut)


def threshold_for_precision(y: Array, score: Array, target: float) -> float | None:
    """The lowest threshold whose precision reaches ``target`` (so recall is highest).

    None when no threshold reaches it.
    """
    y = np.asarray(y, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(-score, kind="mergesort")
    sorted_score = score[order]
    tp = np.cumsum(y[order])
    last = np.flatnonzero(np.r_[sorted_score[1:] != sorted_score[:-1], True])
    precision = tp[last] / (last + 1)
    reaching = np.flatnonzero(precision >= target)
    if len(reaching) == 0:
        return None
    return float(sorted_score[last[reaching[-1]]])


def threshold_for_cost(y: Array, score: Array, amount: Array, review_cost: float) -> float:
    """The threshold with the lowest expected cost: ``review_cost`` per alert plus the
    amount of every fraud left below the threshold (the loss it causes).

    Thresholds are the distinct scores (everything at or above one alerts, so tied scores
    alert together), plus "no alert at all" (just above the highest score). Among equal
    costs the highest threshold wins: the same money for less review work. NaN amounts
    count as 0.

    >>> y = np.array([0, 1, 0, 1]); s = np.array([0.1, 0.4, 0.6, 0.9])
    >>> threshold_for_cost(y, s, np.array([10.0, 3.0, 50.0, 200.0]), review_cost=5.0)
    0.9
    >>> # 45 either way (5 alerts and 20 missed, or 9 alerts): the fewer alerts.
    >>> y = np.array([1, 1, 1, 0, 0, 1, 0, 0, 0])
    >>> s = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0, 0.0])
    >>> amount = np.array([4.99, 20.0, 20.0, 0.0, 0.0, 20.0, 0.0, 0.0, 0.0])
    >>> threshold_for_cost(y, s, amount, review_cost=5.0)
    0.1
    """
    y = np.asarray(y, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    if len(score) == 0:
        return 1.0
    fraud_amount = np.where(y, np.nan_to_num(np.asarray(amount, dtype=np.float64)), 0.0)
    order = np.argsort(-score, kind="mergesort")
    sorted_score = score[order]
    caught = np.cumsum(fraud_amount[order])
    last = np.flatnonzero(np.r_[sorted_score[1:] != sorted_score[:-1], True])
    total = float(fraud_amount.sum())
    # cost[0]: alert on nothing; cost[k]: alert on the k highest distinct scores.
    cost = np.r_[total, review_cost * (last + 1) + (total - caught[last])]
    # Costs that differ only by the sums' rounding (64.99 - 44.99 is 20.000000000000004)
    # are ties: the first of them, the fewest alerts, wins.
    lowest = float(cost.min())
    best = int(np.flatnonzero(cost <= lowest + 1e-9 * max(abs(lowest), 1.0))[0])
    if best == 0:
        return float(np.nextafter(sorted_score[0], np.inf))
    return float(sorted_score[last[best - 1]])


@dataclasses.dataclass(frozen=True)
class Cost:
    expected_cost: float
    alerts: int
    missed_fraud_amount: float


def cost_at(y: Array, score: Array, amount: Array, threshold: float,
            review_cost: float) -> Cost:
    """Review cost of the alerts at ``threshold`` plus the amount of the frauds missed."""
    y = np.asarray(y, dtype=bool)
    alert = np.asarray(score, dtype=np.float64) >= threshold
    missed = float(np.nan_to_num(np.asarray(amount, dtype=np.float64))[y & ~alert].sum())
    alerts = int(alert.sum())
    return Cost(review_cost * alerts + missed, alerts, missed)


def spearman(x: Array, y: Array) -> float:
    """Spearman rank correlation: the Pearson correlation of the average ranks.

    NaN when either vector is constant (and has more than one value) or they are empty.

    >>> spearman(np.array([1.0, 2.0, 3.0, 4.0]), np.array([10.0, 20.0, 20.0, 40.0]))
    0.9486832980505138
    """
    if len(x) == 0:
        return math.nan
    rx = _average_ranks(np.asarray(x, dtype=np.float64))
    ry = _average_ranks(np.asarray(y, dtype=np.float64))
    dx, dy = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
    return float((dx * dy).sum()) / denominator if denominator else math.nan


def distinct(score: Array) -> int:
    """The number of distinct scores: how finely a model can rank."""
    return len(np.unique(np.asarray(score, dtype=np.float64)))


def brier(y: Array, score: Array) -> float:
    """Brier score: mean squared difference between score and label (lower is better)."""
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean((np.asarray(score, dtype=np.float64) - y) ** 2)) if len(y) else math.nan


def reliability(y: Array, score: Array, bins: int = 10) -> list[dict[str, Any]]:
    """Reliability curve: equal-width score bins over [0, 1], each with its mean score,
    observed fraud rate and row count (means are None for an empty bin).

    For calibrated scores the mean score and the fraud rate agree in every bin.
    """
    y = np.asarray(y, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    index = np.clip((score * bins).astype(np.int64), 0, bins - 1)
    curve = []
    for i in range(bins):
        inside = index == i
        n = int(inside.sum())
        curve.append({"from": i / bins, "to": (i + 1) / bins, "count": n,
                      "mean_score": float(score[inside].mean()) if n else None,
                      "fraud_rate": float(y[inside].mean()) if n else None})
    return curve


#: Scores are clipped to [PLATT_EPS, 1 - PLATT_EPS] before the logit. 2**-24 is the gap
#: between 1 and the float32 just below it, so only scores float32 rounds to 0 or 1 clip.
PLATT_EPS = 2.0**-24


def logit(p: Array) -> Array:
    """log(p / (1 - p)) of ``p`` clipped to [PLATT_EPS, 1 - PLATT_EPS]."""
    clipped = np.clip(np.asarray(p, dtype=np.float64), PLATT_EPS, 1 - PLATT_EPS)
    return np.asarray(np.log(clipped / (1 - clipped)))


def platt(p: Array, a: float, b: float) -> Array:
    """Platt scaling of the scores ``p``: sigmoid(a * logit(p) + b).

    >>> platt(np.array([0.5, 0.9]), a=1.0, b=0.0).round(6).tolist()
    [0.5, 0.9]
    """
    return np.asarray(1.0 / (1.0 + np.exp(-(a * logit(p) + b))))


def fit_platt(y: Array, p: Array, iterations: int = 50) -> tuple[float, float]:
    """(a, b) of the logistic regression of the labels on logit(p) (Platt 1999).

    As Platt does, the targets are smoothed to (positives + 1) / (positives + 2) and
    1 / (negatives + 2), so separable data still gives finite parameters. Newton's method
    on the mean log loss (convex; a step is halved until the loss falls), starting from
    the identity map (a, b) = (1, 0). Raises ValueError when logit(p) is constant.

    >>> rng = np.random.default_rng(0)
    >>> raw = rng.uniform(0.01, 0.99, 20_000)
    >>> y = rng.random(20_000) < platt(raw, a=0.5, b=-2.0)
    >>> [round(v, 1) for v in fit_platt(y, raw)]
    [0.5, -2.0]
    """
    y = np.asarray(y, dtype=bool)
    x = logit(p)
    if len(x) < 2 or float(x.std()) == 0.0:
        raise ValueError("Platt scaling needs at least two different scores")
    positives = int(y.sum())
    negatives = len(y) - positives
    target = np.where(y, (positives + 1) / (positives + 2), 1 / (negatives + 2))

    def loss(a: float, b: float) -> float:
        z = a * x + b  # mean of -t log s(z) - (1 - t) log(1 - s(z)), written stably
        return float(np.mean(np.logaddexp(0.0, z) - target * z))

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(iterations):
        s = 1.0 / (1.0 + np.exp(-(a * x + b)))
        residual, weight = s - target, s * (1 - s)
        gradient = np.array([(residual * x).mean(), residual.mean()])
        hessian = np.array([[(weight * x * x).mean(), (weight * x).mean()],
                            [(weight * x).mean(), weight.mean()]])
        step = np.linalg.solve(hessian + 1e-12 * np.eye(2), gradient)
        scale = 1.0
        while scale > 1e-10:
            candidate = loss(a - scale * step[0], b - scale * step[1])
            if candidate <= current:
                break
            scale /= 2
        else:
            break
        a, b = a - scale * float(step[0]), b - scale * float(step[1])
        improvement, current = current - candidate, candidate
        if improvement < 1e-12:
            break
    return a, b
