"""scorer.metrics against scikit-learn and against plain definitions."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from scorer import metrics

# Scores drawn from a small grid so ties are common: ties are where rank metrics go wrong.
scores = st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5000001, 0.75, 0.9, 1.0]),
                  min_size=2, max_size=60)


@st.composite
def labelled_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    s = draw(scores)
    y = draw(st.lists(st.booleans(), min_size=len(s), max_size=len(s)))
    return np.array(y, dtype=int), np.array(s)


@settings(max_examples=300, deadline=None)
@given(labelled_scores())
def test_roc_auc_matches_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    if len(set(y)) < 2:
        assert math.isnan(metrics.roc_auc(y, s))
    else:
        assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(labelled_scores())
def test_average_precision_matches_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    if y.sum() == 0:
        assert math.isnan(metrics.average_precision(y, s))
    else:
        expected = average_precision_score(y, s)
        assert metrics.average_precision(y, s) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(labelled_scores(), st.sampled_from([0.0, 0.3, 0.5, 0.9, 1.0, 1.5]))
def test_decision_metrics_match_sklearn(data: tuple[np.ndarray, np.ndarray],
                                        threshold: float) -> None:
    y, s = data
    decided = metrics.at_threshold(y, s, threshold)
    predicted = (s >= threshold).astype(int)
    assert decided.alerts == predicted.sum()
    if predicted.sum() and y.sum():
        assert decided.precision == pytest.approx(precision_score(y, predicted))
        assert decided.recall == pytest.approx(recall_score(y, predicted))
        assert decided.f1 == pytest.approx(f1_score(y, predicted))
    if not predicted.sum():
        assert math.isnan(decided.precision)


def _card_precision_reference(days: list[int], cards: list[str], y: list[bool],
                              s: list[float], k: int) -> float:
    """The definition, written out the slow way."""
    result = []
    for day in sorted(set(days)):
        best: dict[str, float] = defaultdict(lambda: -1.0)
        fraud: dict[str, bool] = defaultdict(bool)
        for d, c, label, score in zip(days, cards, y, s, strict=True):
            if d == day:
                best[c] = max(best[c], score)
                fraud[c] = fraud[c] or bool(label)
        ranked = sorted(best, key=lambda c: (-best[c], c))[:k]
        result.append(sum(fraud[c] for c in ranked) / len(ranked))
    return sum(result) / len(result)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from("abcdefgh"), st.booleans(),
                          st.sampled_from([0.1, 0.2, 0.5, 0.9])), min_size=1, max_size=80),
       st.integers(1, 5))
def test_card_precision_at_k_follows_its_definition(rows: list[Any], k: int) -> None:
    days, cards, y, s = (list(col) for col in zip(*rows, strict=True))
    value, n_days = metrics.card_precision_at_k(days, cards, np.array(y), np.array(s), k=k)
    assert n_days == len(set(days))
    assert value == pytest.approx(_card_precision_reference(days, cards, y, s, k))


def test_card_precision_counts_a_card_once_per_day() -> None:
    # Card a has three fraudulent transactions: still one compromised card of two.
    value, _ = metrics.card_precision_at_k(
        [0, 0, 0, 0], ["a", "a", "a", "b"], np.array([1, 1, 1, 0]),
        np.array([0.9, 0.8, 0.7, 0.6]), k=2)
    assert value == 0.5


@settings(max_examples=300, deadline=None)
@given(scores, st.floats(0.001, 1.0))
def test_alert_rate_threshold_is_the_largest_within_budget(values: list[float],
                                                          rate: float) -> None:
    s = np.array(values)
    threshold = metrics.threshold_for_alert_rate(s, rate)
    budget = math.floor(rate * len(s))
    alerts = int((s >= threshold).sum())
    assert alerts <= budget
    # Any lower threshold at an observed score would exceed the budget.
    lower = s[s < threshold]
    if len(lower):
        assert int((s >= lower.max()).sum()) > budget


@settings(max_examples=300, deadline=None)
@given(labelled_scores(), st.sampled_from([0.1, 0.5, 0.8, 1.0]))
def test_precision_threshold_reaches_target_with_most_recall(
        data: tuple[np.ndarray, np.ndarray], target: float) -> None:
    y, s = data
    threshold = metrics.threshold_for_precision(y, s, target)
    candidates = sorted(set(s))
    reaching = [t for t in candidates
                if (s >= t).sum() and y[s >= t].sum() / (s >= t).sum() >= target]
    if not reaching:
        assert threshold is None
    else:
        assert threshold == min(reaching)
