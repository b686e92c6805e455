"""Decisions in money and calibration on a tiny hand-made data set: five transactions,
two models, figures worked out by hand (docs/dashboards.md has the same example)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from pgfraud.monitoring import dbt_runner as analytics
from tests.conftest import Databases

DAY = dt.datetime(2026, 9, 1, 12, tzinfo=dt.UTC)
MODELS_SQL = """
insert into ml.models (status, onnx_model, onnx_sha256, feature_names, feature_set_version,
                       threshold, note)
values ('retired', '\\x00', repeat('0', 64), '{amount}', 1, 0.5, 'hand-made')
returning model_version
"""
#: (amount, label: True fraud / False genuine / None unlabelled,
#:  champion (score, alert), shadow (score, alert))
TRANSACTIONS: list[tuple[str, bool | None, tuple[float, bool], tuple[float, bool]]] = [
    ("100.00", True, (0.95, True), (0.30, False)),
    ("50.00", True, (0.15, False), (0.60, True)),
    ("20.00", False, (0.55, True), (0.10, False)),
    ("10.00", True, (0.05, False), (0.90, True)),
    ("5.00", None, (0.70, True), (0.20, False)),
]
SELECT = ("+fct_daily_decision_value +fct_model_calibration +fct_model_reliability "
          "+fct_daily_champions +dim_models")


def _insert_transactions(conn: psycopg.Connection[Any]) -> list[int]:
    ids = []
    for n, (amount, *_) in enumerate(TRANSACTIONS):
        row = conn.execute(
            """insert into ingest.transactions (trans_num, transacted_at, card_token,
                   card_last4, amount, merchant, category, merchant_lat, merchant_long,
                   payload_sha256, source)
               values (%s, %s, %s, '1234', %s, 'shop', 'misc_net', 40, -74, %s, 'csv')
               returning transaction_id""",
            (f"hand-{n}", DAY + dt.timedelta(minutes=n),
             hashlib.sha256(f"card{n}".encode()).hexdigest(), amount,
             hashlib.sha256(f"row{n}".encode()).hexdigest())).fetchone()
        assert row is not None
        ids.append(int(row[0]))
    return ids


@pytest.fixture(scope="module")
def hand_made(databases: Databases, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[str, int, int]]:
    url = databases.create()
    with psycopg.connect(url) as conn:
        ids = _insert_transactions(conn)
        versions = []
        for _ in range(2):
            row = conn.execute(MODELS_SQL).fetchone()
            assert row is not None
            versions.append(int(row[0]))
        champion, shadow = versions
        for tid, (_, _, (cs, ca), (ss, sa)) in zip(ids, TRANSACTIONS, strict=True):
            for version, is_shadow, score, alert in ((champion, False, cs, ca),
                                                     (shadow, True, ss, sa)):
                conn.execute(
                    """insert into scoring.scores (transaction_id, model_version,
                           feature_set_version, is_shadow, score, threshold, is_alert,
                           latency_ms)
                       values (%s, %s, 1, %s, %s, 0.5, %s, 1)""",
                    (tid, version, is_shadow, score, alert))
        for tid, (_, label, _, _) in zip(ids, TRANSACTIONS, strict=True):
            if label is not None:
                conn.execute("update scoring.predictions set true_value = %s "
                             "where transaction_id = %s", (label, tid))
    done = analytics.run_dbt(["build", "--indirect-selection", "cautious", "--select",
                              *SELECT.split()], url,
                             state_dir=tmp_path_factory.mktemp("dbt"), capture=True)
    assert done.returncode == 0, done.stdout
    yield url, champion, shadow


def _rows(url: str, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def test_value_detected_equals_the_hand_computed_figure(hand_made: tuple[str, int, int]
                                                        ) -> None:
    url, champion, shadow = hand_made
    rows = {r["role"]: r for r in _rows(url, "select * from analytics.fct_daily_decision_value")}
    assert set(rows) == {"champion", "shadow"}
    c, s = rows["champion"], rows["shadow"]
    assert (c["model_version"], s["model_version"]) == (champion, shadow)
    # Labelled fraud: 100 + 50 + 10 = 160. The champion alerted on 100 of it (and on a
    # genuine 20 and an unlabelled 5); the shadow on 50 + 10 = 60.
    assert c["fraud_amount"] == s["fraud_amount"] == pytest.approx(160)
    assert c["fraud_amount_alerted"] == pytest.approx(100)
    assert s["fraud_amount_alerted"] == pytest.approx(60)
    assert c["value_detected"] == pytest.approx(100 / 160)
    assert s["value_detected"] == pytest.approx(60 / 160)
    assert (c["transactions"], c["labelled"], c["frauds"], c["frauds_alerted"]) == (5, 4, 3, 1)
    # Workload: 3 alerts x 5 minutes = 0.25 analyst-hours; 1 fraud caught in it.
    assert c["alerts"] == 3 and c["analyst_hours"] == pytest.approx(0.25)
    assert c["alerts_per_analyst_hour"] == pytest.approx(12)
    assert c["frauds_alerted_per_analyst_hour"] == pytest.approx(4)
    assert s["alerts"] == 2 and s["analyst_hours"] == pytest.approx(10 / 60)
    assert s["frauds_alerted_per_analyst_hour"] == pytest.approx(12)


def test_brier_and_reliability_equal_the_hand_computed_figures(
        hand_made: tuple[str, int, int]) -> None:
    url, champion, _ = hand_made
    calibration = {r["model_version"]: r
                   for r in _rows(url, "select * from analytics.fct_model_calibration")}
    c = calibration[champion]
    # Labelled champion scores: 0.95 fraud, 0.15 fraud, 0.55 genuine, 0.05 fraud.
    assert c["labelled"] == 4 and c["frauds"] == 3
    assert c["brier_score"] == pytest.approx(
        (0.05 ** 2 + 0.85 ** 2 + 0.55 ** 2 + 0.95 ** 2) / 4)
    reliability = {r["bin"]: r for r in _rows(
        url, "select * from analytics.fct_model_reliability where model_version = %s",
        (champion,))}
    assert set(reliability) == {1, 2, 6, 10}
    assert reliability[10]["mean_score"] == pytest.approx(0.95)
    assert reliability[6]["observed_fraud_rate"] == 0
    assert reliability[2]["observed_fraud_rate"] == 1
    assert [reliability[b]["predictions"] for b in (1, 2, 6, 10)] == [1, 1, 1, 1]


def test_the_champion_of_the_day_comes_from_the_predictions(
        hand_made: tuple[str, int, int]) -> None:
    """Both models are 'retired' in the registry now; the day's champion is still the
    one whose predictions were not shadow."""
    url, champion, _ = hand_made
    (row,) = _rows(url, "select * from analytics.fct_daily_champions")
    assert row["day"] == DAY.date() and row["model_version"] == champion
    assert row["champion_transactions"] == 5 and row["champion_versions"] == 1
    assert row["previous_model_version"] is None and row["is_new_champion"] is False


def test_a_longer_review_time_means_more_analyst_hours(databases: Databases,
                                                       hand_made: tuple[str, int, int],
                                                       tmp_path: Path) -> None:
    url = databases.clone(hand_made[0])
    done = analytics.run_dbt(["run", "--select", "fct_daily_decision_value", "--vars",
                              '{"review_minutes_per_alert": 12}'], url, state_dir=tmp_path,
                             capture=True)
    assert done.returncode == 0, done.stdout
    rows = {r["role"]: r for r in _rows(url, "select * from analytics.fct_daily_decision_value")}
    assert rows["champion"]["analyst_hours"] == pytest.approx(3 * 12 / 60)
    assert rows["champion"]["alerts_per_analyst_hour"] == pytest.approx(5)
    assert rows["champion"]["value_detected"] == pytest.approx(100 / 160)
