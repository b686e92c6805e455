"""Ranking and decision metrics for fraud models, in numpy (cross-checked with sklearn in
the tests, and again in SQL by the dbt marts).

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
