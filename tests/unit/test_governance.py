"""Promotion gates on hand-made score sets whose right decision is known, and the paired
bootstrap against scipy's reference implementation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pgfraud.lifecycle import governance, metrics
from pgfraud.lifecycle.governance import Gates, Health, paired_bootstrap_ap

DAY = dt.timedelta(days=1)


def _scores(n: int, frauds: int, separation: float, seed: int) -> tuple[np.ndarray, ...]:
    """Labels, and a score that ranks frauds higher by ``separation`` standard deviations."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    y[rng.choice(n, frauds, replace=False)] = 1
    return y, rng.normal(size=n) + separation * y


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 6), st.integers(0, 3)),
                min_size=1, max_size=40))
def test_weighted_average_precision_is_the_average_precision_of_the_repeated_rows(
        rows: list[tuple[bool, int, int]]) -> None:
    y = np.array([r[0] for r in rows], dtype=np.float64)
    score = np.array([r[1] / 6 for r in rows])       # few distinct values: many ties
    weights = np.array([r[2] for r in rows], dtype=np.float64)
    got = governance._SortedScores(score).average_precision(y, weights)
    expanded_y, expanded_s = np.repeat(y, weights.astype(int)), np.repeat(score,
                                                                          weights.astype(int))
    expected = metrics.average_precision(expanded_y, expanded_s)
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5), st.integers(0, 3)),
                min_size=1, max_size=60),
       st.lists(st.integers(0, 10**6), min_size=1, max_size=120))
def test_a_resample_counted_per_fraud_group_has_the_ap_of_the_drawn_rows(
        rows: list[tuple[bool, int, int]], draws: list[int]) -> None:
    # What the gate computes per resample (counts per fraud-holding tie group) against
    # the sorted rows weighted by how often each was drawn: the same value, also for
    # ties, frauds sharing a group with legitimate rows, rows below every fraud, draws
    # without a fraud (NaN) and no fraud at all.
    y = np.array([r[0] for r in rows], dtype=np.float64)
    score = np.array([r[1] / 5 for r in rows])       # few distinct values: many ties
    ranking = governance._SortedScores(score)
    drawn = np.array(draws) % len(y)
    got = governance._FraudGroups(ranking, y).average_precision(drawn)
    weights = np.bincount(drawn, minlength=len(y)).astype(np.float64)
    expected = ranking.average_precision(y, weights)
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_paired_bootstrap_matches_scipy_percentile_interval() -> None:
    y, champion = _scores(600, 60, 1.0, seed=1)
    challenger = champion + 0.8 * y + np.random.default_rng(2).normal(scale=0.5, size=600)
    ours = paired_bootstrap_ap(y, challenger, champion, resamples=4000, confidence=0.95,
                               seed=3)

    def difference(labels: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return metrics.average_precision(labels, a) - metrics.average_precision(labels, b)

    reference = stats.bootstrap((y, challenger, champion), difference, paired=True,
                                vectorized=False, n_resamples=4000, confidence_level=0.90,
                                method="percentile", random_state=4)
    # A two-sided 90 % percentile interval is the pair of one-sided 95 % bounds.
    assert ours.difference == pytest.approx(difference(y, challenger, champion), abs=1e-12)
    assert ours.lower == pytest.approx(reference.confidence_interval.low, abs=0.01)
    assert ours.upper == pytest.approx(reference.confidence_interval.high, abs=0.01)
    assert ours.lower > 0 and ours.resamples == 4000


def test_identical_models_tie_and_the_champion_stays() -> None:
    y, score = _scores(2000, 80, 1.5, seed=5)
    comparison = paired_bootstrap_ap(y, score, score.copy(), resamples=300)
    verdict = governance.judge_evidence(comparison, 3 * DAY, Gates(), challenger=2)
    assert (verdict.promote, verdict.rule) == (False, "tie")
    assert comparison.lower == comparison.upper == comparison.difference == 0
    assert verdict.detail.startswith("kept champion: a tie")


def test_two_perfect_rankers_on_few_frauds_do_not_promote() -> None:
    # The demo: both models AP 1.0 on 36 rows with 5 frauds. A tie, and too few.
    y = np.r_[np.ones(5), np.zeros(31)]
    perfect_a, perfect_b = y + np.linspace(0, 0.1, 36), y * 2 + np.linspace(0, 0.5, 36)
    comparison = paired_bootstrap_ap(y, perfect_a, perfect_b, resamples=300)
    verdict = governance.judge_evidence(comparison, 3 * DAY, Gates(), challenger=2)
    assert comparison.challenger_ap == comparison.champion_ap == 1.0
    assert (verdict.promote, verdict.rule) == (False, "too_few_frauds")
    assert verdict.detail.startswith("kept champion: 5 matured frauds < 50 required")


def test_a_clearly_better_challenger_is_promoted_with_its_numbers() -> None:
    y, weak = _scores(5000, 120, 0.3, seed=6)
    strong = weak + 2.5 * y
    comparison = paired_bootstrap_ap(y, strong, weak, resamples=500)
    verdict = governance.judge_evidence(comparison, 3 * DAY, Gates(margin=0.05),
                                        challenger=9)
    assert (verdict.promote, verdict.rule) == (True, "evidence")
    assert comparison.lower > 0.05
    assert "promoted challenger 9" in verdict.detail and "120 matured frauds" in verdict.detail
    assert verdict.evidence["comparison"]["frauds"] == 120


def test_a_challenger_better_only_by_chance_is_not_promoted() -> None:
    y, champion = _scores(3000, 60, 1.0, seed=7)
    # Another model of the same quality: the champion's ranking, reshuffled by noise.
    challenger = champion + np.random.default_rng(8).normal(scale=0.3, size=3000)
    comparison = paired_bootstrap_ap(y, challenger, champion, resamples=500)
    verdict = governance.judge_evidence(comparison, 3 * DAY, Gates(), challenger=2)
    assert comparison.lower <= 0 < comparison.difference < comparison.upper
    assert (verdict.promote, verdict.rule) == (False, "not_better")
    assert "not better by more than chance" in verdict.detail


def test_a_worse_challenger_is_not_promoted() -> None:
    y, good = _scores(3000, 90, 2.0, seed=9)
    worse = good - 1.5 * y
    comparison = paired_bootstrap_ap(y, worse, good, resamples=300)
    verdict = governance.judge_evidence(comparison, 3 * DAY, Gates(), challenger=2)
    assert comparison.upper < 0 and verdict.rule == "not_better" and not verdict.promote


def test_shadow_period_comes_before_any_comparison() -> None:
    y, weak = _scores(5000, 120, 0.3, seed=6)
    comparison = paired_bootstrap_ap(y, weak + 3 * y, weak, resamples=100)
    verdict = governance.judge_evidence(comparison, dt.timedelta(hours=12), Gates(),
                                        challenger=4)
    assert (verdict.promote, verdict.rule) == (False, "shadow_period")
    assert verdict.gathering
    assert "0.50 days of shadow scores < 2 required" in verdict.detail
    assert governance.judge_evidence(None, 3 * DAY, Gates(), challenger=4).rule == \
        "too_few_frauds"


def _card(*, distinct: int = 500, required: int = 100, frauds: int = 200,
          ap: float | None = 0.8) -> dict[str, object]:
    return {"can_rank": {"ok": distinct >= required, "distinct_scores": distinct,
                         "required": required, "trees": 12},
            "train": {"positives": frauds}, "validation": {"average_precision": ap}}


@pytest.mark.parametrize(("card", "champion", "rule", "words"), [
    (_card(distinct=31), _card(), "cannot_rank", "31 distinct scores"),
    (_card(frauds=43), _card(), "too_few_training_frauds", "trained on 43 frauds < 50"),
    (_card(ap=0.357), _card(ap=0.921), "weak_validation", "AP 0.3570 < 0.5 x the champion's"),
    (_card(ap=0.6), _card(ap=0.921), None, ""),
    (_card(ap=0.1), None, None, ""),
])
def test_candidate_gates(card: dict[str, object], champion: dict[str, object] | None,
                         rule: str | None, words: str) -> None:
    verdict = governance.judge_candidate(card, champion, Gates())
    if rule is None:
        assert verdict is None
    else:
        assert verdict is not None and verdict.rule == rule and not verdict.promote
        assert words in verdict.detail and verdict.detail.startswith("kept champion")


@pytest.mark.parametrize(("health", "rule"), [
    (Health(3, 10_000, 0.05, 0.011, 0.01), None),
    (Health(3, 10_000, 0.41, 0.011, 0.01), "guardrail_score_psi"),
    (Health(3, 10_000, 0.05, 0.35, 0.01), "guardrail_alert_rate"),
    (Health(3, 499, 5.0, 0.9, 0.01), None),       # too few scores to tell
    (Health(3, 10_000, None, None, None), None),
])
def test_guardrails(health: Health, rule: str | None) -> None:
    verdict = governance.judge_health(health, Gates())
    assert (verdict.rule if verdict else None) == rule
    if verdict is not None:
        assert "10,000 scores" in verdict.detail and verdict.evidence["health"]["predictions"]
