"""The replay report's money: value detected per week and overall, by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from scorer.replay import evaluate

FIRST = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


def _row(days: float, amount: float, is_alert: bool, is_fraud: bool,
         score: float) -> tuple[object, ...]:
    at = (FIRST + dt.timedelta(days=days)).timestamp()
    return (at, f"card{days}", score, is_alert, is_fraud, 1, amount)


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
    overall, weeks = evaluate(rows, FIRST)
    assert [w["week_start"] for w in weeks] == ["2026-02-01", "2026-02-08", "2026-02-15"]
    assert [w["fraud_amount"] for w in weeks] == [400.0, 50.0, 0.0]
    assert [w["fraud_amount_alerted"] for w in weeks] == [100.0, 50.0, 0.0]
    assert weeks[0]["value_detected"] == pytest.approx(0.25)
    assert weeks[1]["value_detected"] == pytest.approx(1.0)
    assert weeks[2]["value_detected"] is None
    assert overall["value_detected"] == pytest.approx(150 / 450)
    assert overall["alert_recall"] == pytest.approx(2 / 3)  # by count, not by money
