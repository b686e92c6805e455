"""The replay report by hand: money per week and pooled; weeks, models and the steady
state judged where scores are comparable; the replay's days."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from pgfraud.backtest.replay import day_ranges, evaluate
from producer.records import CardTransaction

FIRST = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


def _row(days: float, amount: float, is_alert: bool, is_fraud: bool,
         score: float, model: int = 1) -> tuple[object, ...]:
    at = (FIRST + dt.timedelta(days=days)).timestamp()
    return (at, f"card{days}", score, is_alert, is_fraud, model, amount)


def test_value_detected_per_week_and_overall() -> None:
    rows = [
        # week 1: fraud 100 (alerted) + 300 (missed); a genuine alert of 40
        _row(0.5, 100.0, True, True, 0.9), _row(1, 300.0, False, True, 0.2),
        _row(2, 40.0, True, False, 0.8), _row(3, 10.0, False, False, 0.1),
        # week 2: fraud 50 (alerted); no other fraud
        _row(8, 50.0, True, True, 0.95), _row(9, 20.0, False, False, 0.05),
        # week 3: no fraud at all
        _row(15, 70.0, True, False, 0.7), _row(16, 30.0, False, False, 0.3),
    ]
    result = evaluate(rows, FIRST)
    overall, weeks = result.pooled, result.weeks
    assert [w["week_start"] for w in weeks] == ["2026-02-01", "2026-02-08", "2026-02-15"]
    assert [w["fraud_amount"] for w in weeks] == [400.0, 50.0, 0.0]
    assert [w["fraud_amount_alerted"] for w in weeks] == [100.0, 50.0, 0.0]
    assert weeks[0]["value_detected"] == pytest.approx(0.25)
    assert weeks[1]["value_detected"] == pytest.approx(1.0)
    assert weeks[2]["value_detected"] is None
    assert overall["value_detected"] == pytest.approx(150 / 450)
    assert overall["alert_recall"] == pytest.approx(2 / 3)  # by count, not by money


def _week(start: float, model: int, scores: list[tuple[bool, float]]) -> list[tuple[object, ...]]:
    return [_row(start + i * 0.01, 10.0, s > 0.5, y, s, model) for i, (y, s) in
            enumerate(scores)]


def test_steady_state_is_the_mean_of_weeks_scored_only_by_the_files_models() -> None:
    perfect = [(True, 0.9), (False, 0.1), (False, 0.2)]   # AP 1
    half = [(True, 0.3), (False, 0.6), (False, 0.2)]      # AP 0.5
    # Model 1 (bootstrap) scores week 1 and the start of week 2; model 7 (trained on the
    # file) the rest of week 2 and weeks 3-4; model 9 week 4's end.
    rows = (_week(0, 1, perfect) + _week(7, 1, perfect) + _week(8, 7, half)
            + _week(14, 7, perfect) + _week(21, 7, half) + _week(22, 9, perfect))
    result = evaluate(rows, FIRST, {7, 9})
    assert [w["bootstrap"] for w in result.weeks] == [True, True, False, False]
    assert result.weeks[1]["champions"] == {"1": 3, "7": 3}
    steady = result.steady_state
    assert steady is not None
    assert (steady["weeks"], steady["first_week"], steady["transactions"]) == (2, "2026-02-15", 9)
    expected = [w["average_precision"] for w in result.weeks[2:]]
    assert steady["average_precision"]["mean"] == pytest.approx(sum(expected) / 2)
    assert steady["average_precision"]["min"] == min(expected)
    assert steady["average_precision"]["max"] == max(expected) == 1.0
    models = {m["model_version"]: m for m in result.models}
    assert set(models) == {1, 7, 9}
    assert [models[v]["trained_on_this_file"] for v in (1, 7, 9)] == [False, True, True]
    assert models[1]["transactions"] == 6 and models[1]["average_precision"] == 1.0
    assert models[7]["transactions"] == 9
    assert (models[7]["first_event"], models[7]["last_event"]) == ("2026-02-09", "2026-02-22")
    assert result.pooled["models"] == 3
    assert sum(m["transactions"] for m in result.models) == result.pooled["transactions"]


def test_pooling_two_calibrations_can_be_worse_than_every_week() -> None:
    """The issue's case: each model ranks its own week perfectly, on different scales;
    pooled, one model's legitimate scores outrank the other's frauds."""
    rows = (_week(0, 1, [(True, 0.9), (False, 0.8), (False, 0.7)])
            + _week(7, 2, [(True, 0.3), (False, 0.1), (False, 0.05)]))
    result = evaluate(rows, FIRST, {2})
    assert [w["average_precision"] for w in result.weeks] == [1.0, 1.0]
    assert result.pooled["average_precision"] < 1.0
    assert result.steady_state is not None
    assert result.steady_state["average_precision"]["mean"] == 1.0


def test_no_steady_state_when_no_model_of_the_file_scored_a_whole_week() -> None:
    rows = _week(0, 1, [(True, 0.9), (False, 0.1)]) + _week(7, 1, [(True, 0.9)])
    result = evaluate(rows, FIRST, {5})
    assert result.steady_state is None
    assert all(w["bootstrap"] for w in result.weeks)


def test_replay_days_cover_every_row_once_and_skip_gaps() -> None:
    """One range per UTC day with rows, in order: midnight starts a day, and days
    without rows (a gap in the file) are skipped, not replayed empty."""
    at = [dt.datetime(2026, 1, 1, 0, 0), dt.datetime(2026, 1, 1, 23, 59, 59, 999_999),
          dt.datetime(2026, 1, 2, 0, 0), dt.datetime(2026, 1, 2, 5), dt.datetime(2026, 1, 2, 5),
          dt.datetime(2026, 1, 9, 12), dt.datetime(2026, 1, 10, 0, 0, 1)]
    rows = [CardTransaction(f"t{i}", t.replace(tzinfo=dt.UTC), "4111111111111111",
                            Decimal("1.00"), "shop", "misc_pos", 0.0, 0.0)
            for i, t in enumerate(at)]
    assert day_ranges(rows) == [(0, 2), (2, 5), (5, 6), (6, 7)]
    assert day_ranges(rows[:1]) == [(0, 1)]
    assert day_ranges([]) == []
