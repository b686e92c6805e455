"""pgfraud.lifecycle.metrics against scikit-learn, scipy and plain definitions."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from pgfraud.lifecycle import metrics

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


@st.composite
def costed_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, s = draw(labelled_scores())
    amount = draw(st.lists(st.sampled_from([0.0, 1.0, 4.99, 5.0, 20.0, 250.0]),
                           min_size=len(s), max_size=len(s)))
    return y, s, np.array(amount)


@settings(max_examples=300, deadline=None)
@given(costed_scores(), st.sampled_from([0.0, 1.0, 5.0, 30.0]))
# Found by Hypothesis: 45 at 0.1 and at 0.0, but the sums made 45.000000000000004 of one.
@example((np.array([1, 0, 0, 0, 1, 0, 1, 1, 0]),
          np.array([0.1, 0.0, 0.0, 0.0, 0.0, 0.1, 0.1, 0.1, 0.1]),
          np.array([4.99, 0.0, 0.0, 0.0, 20.0, 0.0, 20.0, 20.0, 0.0])), 5.0)
def test_cost_threshold_is_the_cheapest_distinct_score(
        data: tuple[np.ndarray, np.ndarray, np.ndarray], review_cost: float) -> None:
    y, s, amount = data
    threshold = metrics.threshold_for_cost(y, s, amount, review_cost)

    def cost(t: float) -> float:  # the definition, directly
        alert = s >= t
        return review_cost * alert.sum() + amount[(y == 1) & ~alert].sum()

    candidates = sorted(set(s)) + [float(np.nextafter(s.max(), np.inf))]
    best = min(cost(t) for t in candidates)
    assert threshold in candidates
    assert cost(threshold) == pytest.approx(best)
    # Among the cheapest, the fewest alerts.
    assert threshold == max(t for t in candidates if cost(t) == pytest.approx(best))
    at = metrics.cost_at(y, s, amount, threshold, review_cost)
    assert at.expected_cost == pytest.approx(best)
    assert at.alerts == int((s >= threshold).sum())


def test_cost_threshold_weighs_review_cost_against_fraud_amounts() -> None:
    y = np.array([0, 1, 0, 1, 0, 0])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.85, 0.9])
    amount = np.array([10.0, 40.0, 5.0, 100.0, 7.0, 3.0])
    # At 5 a review: alerting down to 0.8 costs 15 and misses 40 (55); down to 0.2 costs
    # 25 and misses nothing (25): catching the 40 fraud is worth two more reviews.
    assert metrics.threshold_for_cost(y, s, amount, 5.0) == 0.2
    # At 30 a review the 40 fraud is not worth two reviews (60): stop at 0.8.
    assert metrics.threshold_for_cost(y, s, amount, 30.0) == 0.8
    # At 200 a review nothing is worth reviewing.
    assert metrics.threshold_for_cost(y, s, amount, 200.0) > s.max()


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
@settings(max_examples=300, deadline=None)
@given(labelled_scores())
def test_spearman_matches_scipy(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    other = s + 0.3 * y  # ties within each, different orders between them
    expected = spearmanr(s, other).statistic
    if np.isnan(expected):
        assert math.isnan(metrics.spearman(s, other))
    else:
        assert metrics.spearman(s, other) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(labelled_scores())
def test_brier_and_reliability_follow_their_definitions(
        data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    assert metrics.brier(y, s) == pytest.approx(brier_score_loss(y, s), abs=1e-12)
    curve = metrics.reliability(y, s)
    assert len(curve) == 10 and sum(b["count"] for b in curve) == len(s)
    for b in curve:
        inside = ((s >= b["from"]) & (s < b["to"])) | ((b["to"] == 1.0) & (s == 1.0))
        assert b["count"] == inside.sum()
        if b["count"]:
            assert b["mean_score"] == pytest.approx(s[inside].mean())
            assert b["fraud_rate"] == pytest.approx(y[inside].mean())


def test_platt_fit_satisfies_its_optimality_conditions() -> None:
    # The fitted (a, b) zero the log loss's gradient for Platt's smoothed targets.
    rng = np.random.default_rng(1)
    p = rng.beta(0.5, 2.0, 5000)
    y = rng.random(5000) < p ** 2
    a, b = metrics.fit_platt(y, p)
    x = metrics.logit(p)
    fitted = metrics.platt(p, a, b)
    target = np.where(y, (y.sum() + 1) / (y.sum() + 2), 1 / ((~y).sum() + 2))
    assert abs(((fitted - target) * x).mean()) < 1e-9
    assert abs((fitted - target).mean()) < 1e-9


def test_platt_scaling_calibrates_a_badly_calibrated_score() -> None:
    # Scores four times the true fraud probability, compressed: the shape scale_pos_weight
    # gives. After Platt scaling the mean score is the observed rate, the Brier score is
    # lower, and the order is unchanged.
    rng = np.random.default_rng(2)
    truth = rng.beta(0.3, 12.0, 50_000)
    y = rng.random(50_000) < truth
    raw = np.clip(4 * truth, 0, 1) ** 0.7
    a, b = metrics.fit_platt(y, raw)
    calibrated = metrics.platt(raw, a, b)
    assert raw.mean() > 3 * y.mean()
    assert calibrated.mean() == pytest.approx(y.mean(), rel=0.02)
    assert metrics.brier(y, calibrated) < 0.95 * metrics.brier(y, raw)
    assert a > 0 and metrics.spearman(raw, calibrated) == pytest.approx(1.0)
    # Distinct scores stay distinct (but those the logit clips to [eps, 1 - eps]).
    clipped = np.clip(raw, metrics.PLATT_EPS, 1 - metrics.PLATT_EPS)
    assert metrics.distinct(calibrated) == metrics.distinct(clipped)
    # Well calibrated: in every well-populated bin, mean score ≈ fraud rate.
    for b_ in metrics.reliability(y, calibrated):
        if b_["count"] >= 2000:
            assert b_["mean_score"] == pytest.approx(b_["fraud_rate"], abs=0.02)


def test_platt_fit_refuses_constant_scores() -> None:
    with pytest.raises(ValueError, match="two different scores"):
        metrics.fit_platt(np.array([0, 1, 0]), np.array([0.3, 0.3, 0.3]))
