"""The dbt marts on a real database (tests/monitoring.py): ``dbt build`` with its data
tests, incremental runs equal a full refresh, the read-only role sees marts only, and
every metric equals an independent sklearn / numpy computation on the same rows —
including tied scores and relabelled transactions."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from sklearn.metrics import average_precision_score, roc_auc_score

from pgfraud.kernel.db import connect
from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.names import READER_ROLE
from pgfraud.lifecycle.metrics import card_precision_at_k
from pgfraud.monitoring import dbt_runner as analytics
from tests.conftest import Databases
from tests.history import START, produce, quick_model
from tests.monitoring import (
    DAYS,
    SEEDED_INVALID,
    VARS,
    Monitored,
    advance,
    decide_by_api,
    score_and_label,
)
from tests.reference_metrics import psi

MARTS = ("fct_daily_model_performance", "fct_daily_feature_drift",
         "fct_daily_feature_histograms", "fct_daily_score_distribution",
         "fct_scoring_minutes", "fct_daily_label_backlog", "fct_hourly_quarantine",
         "dim_models", "fct_daily_champions", "fct_daily_decision_value",
         "fct_model_calibration", "fct_model_reliability", "fct_api_minutes")
#: Marts whose rows depend on when they were built (not compared across builds).
BUILD_MARTS = ("fct_mart_freshness",)
MATURITY = dt.timedelta(days=VARS["label_maturity_days"])
TOLERANCE = 1e-6


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {mart: conn.execute(sql.SQL("select * from analytics.{} order by 1").format(
            sql.Identifier(mart))).fetchall() for mart in MARTS}


def same_rows(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> bool:
    """Equal rows, floats to 1e-12 relative (a float sum's order is not fixed in SQL)."""
    def close(x: Any, y: Any) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-15)
        return bool(x == y)
    return len(a) == len(b) and all(
        len(r) == len(q) and all(close(x, y) for x, y in zip(r, q, strict=True))
        for r, q in zip(a, b, strict=True))


def performance(url: str) -> dict[tuple[dt.date, int, str], dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute("select * from analytics.fct_daily_model_performance").fetchall()
    return {(r["day"], r["model_version"], r["role"]): r for r in rows}


def expected_performance(url: str) -> dict[tuple[dt.date, int, str], dict[str, Any]]:
    """The performance mart's metrics, from the raw tables, in plain Python + sklearn."""
    with psycopg.connect(url) as conn:
        predictions = conn.execute(
            "select p.transaction_id, p.model_version, p.is_shadow, p.score, p.is_alert,"
            "       t.transacted_at, t.card_token"
            "  from scoring.predictions p join ingest.transactions t using (transaction_id)"
        ).fetchall()
        events = conn.execute("select transaction_id, new_value, labeled_at, transacted_at "
                              "from scoring.label_events order by label_event_id").fetchall()
        ((clock,),) = conn.execute("select max_transacted_at from ingest.event_clock")
    current: dict[int, bool | None] = {}
    matured: dict[int, bool | None] = {}
    for transaction_id, value, labeled_at, transacted_at in events:
        current[transaction_id] = value
        if labeled_at <= transacted_at + MATURITY:
            matured[transaction_id] = value
    groups: dict[tuple[dt.date, int, str], list[tuple[Any, ...]]] = defaultdict(list)
    for tid, version, is_shadow, score, is_alert, at, card in predictions:
        day = at.astimezone(dt.UTC).date()
        groups[(day, version, "shadow" if is_shadow else "champion")].append(
            (tid, score, is_alert, card))
    expected = {}
    for (day, version, role), items in groups.items():
        day_start = dt.datetime.combine(day, dt.time(), dt.UTC)
        is_matured = day_start + dt.timedelta(days=1) + MATURITY <= clock
        labelled = [(s, current[t], a, c) for t, s, a, c in items
                    if current.get(t) is not None]
        row = {"transactions": len(items), "alerts": sum(a for _, _, a, _ in items),
               "labelled": len(labelled), "is_matured": is_matured,
               **_metrics(day, labelled, "")}
        if is_matured:
            row |= _metrics(day, [(s, bool(matured.get(t)), a, c) for t, s, a, c in items],
                            "matured_")
        expected[(day, version, role)] = row
    return expected


def _metrics(day: dt.date, rows: list[tuple[Any, ...]],
             prefix: str) -> dict[str, Any]:
    if not rows:
        return {}
    score = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows], dtype=bool)
    alert = np.array([r[2] for r in rows], dtype=bool)
    tp, fp, fn = (y & alert).sum(), (~y & alert).sum(), (y & ~alert).sum()
    both = 0 < y.sum() < len(y)
    return {
        f"{prefix}precision": tp / (tp + fp) if tp + fp else None,
        f"{prefix}recall": tp / (tp + fn) if tp + fn else None,
        f"{prefix}f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        f"{prefix}roc_auc": roc_auc_score(y, score) if both else None,
        f"{prefix}average_precision": average_precision_score(y, score) if y.any() else None,
        f"{prefix}card_precision_at_100": card_precision_at_k(
            [day] * len(rows), [r[3] for r in rows], y, score, k=100)[0],
    }


def assert_performance_matches(url: str) -> int:
    """Every mart row equals the Python computation; returns how many metrics compared."""
    actual, expected = performance(url), expected_performance(url)
    assert set(actual) == set(expected)
    compared = 0
    for key, want in expected.items():
        got = actual[key]
        for name, value in want.items():
            if value is None:
                assert got[name] is None, (key, name)
            elif isinstance(value, bool):
                assert got[name] is value, (key, name)
            else:
                assert got[name] == pytest.approx(float(value), abs=TOLERANCE), (key, name)
                compared += 1
        if not want["is_matured"]:
            assert got["matured_average_precision"] is None, key
    return compared


def test_dbt_build_runs_every_model_and_data_test(monitored: Monitored) -> None:
    output = analytics.build(monitored.url, state_dir=monitored.dbt_state, variables=VARS)
    assert "ERROR=0" in output and "WARN=0" in output
    done = analytics.run_dbt(["source", "freshness"], monitored.url,
                             state_dir=monitored.dbt_state, capture=True)
    assert done.returncode == 0, done.stdout
    assert "PASS freshness of ingest.transactions" in done.stdout
    with psycopg.connect(monitored.url) as conn:
        for mart in MARTS + BUILD_MARTS:
            ((rows,),) = conn.execute(sql.SQL("select count(*) from analytics.{}").format(
                sql.Identifier(mart)))
            assert rows > 0, mart
        ((marts_at, clock),) = conn.execute(
            "select f.event_clock_at, c.max_transacted_at "
            "from analytics.fct_mart_freshness f cross join ingest.event_clock c")
    assert marts_at == clock


def test_data_tests_catch_bad_rows(databases: Databases, monitored: Monitored,
                                   tmp_path: Path) -> None:
    """A score out of range needs its check constraint gone first: the catalog test
    (dbt/tests/source_constraints.sql) fails on that, and the marts are not built."""
    url = databases.clone(monitored.url)
    with psycopg.connect(url) as conn:
        conn.execute("alter table scoring.scores drop constraint scores_score_check")
        conn.execute("update scoring.scores set score = 1.5 "
                     "where prediction_id = (select min(prediction_id) from scoring.scores)")
    with pytest.raises(PgfraudError, match="source_constraints"):
        analytics.build(url, state_dir=tmp_path, variables=VARS)


@pytest.mark.parametrize("change", [
    "alter table scoring.label_events drop constraint label_events_transaction_id_fkey",
    "alter table scoring.scores alter column model_version drop not null",
    "alter table scoring.labels drop constraint labels_pkey cascade",
    "alter table ingest.transactions drop constraint transactions_pkey cascade",
    "alter table api.decisions drop constraint decisions_decision_check",
    "alter table api.decisions drop constraint decisions_fallback_check",
    "alter table api.decisions alter column decided_at drop not null",
])
def test_the_catalog_test_fails_without_a_source_constraint(
        databases: Databases, monitored: Monitored, change: str) -> None:
    """Each constraint staging no longer tests row by row is looked up in the catalog."""
    url = databases.clone(monitored.url)
    compiled = next((monitored.dbt_state / "target" / "compiled").rglob(
        "source_constraints.sql"))
    with psycopg.connect(url) as conn:
        assert conn.execute(compiled.read_text()).fetchall() == []
        conn.execute(change)
        assert conn.execute(compiled.read_text()).fetchall() != []


def test_performance_metrics_equal_sklearn(monitored: Monitored) -> None:
    compared = assert_performance_matches(monitored.url)
    actual = performance(monitored.url)
    matured = [r for r in actual.values() if r["is_matured"]]
    assert len({day for day, _, _ in actual}) >= DAYS
    assert {role for _, _, role in actual} == {"champion", "shadow"}
    assert 0 < len(matured) < len(actual)
    assert all(r["matured_average_precision"] is not None for r in matured)
    assert compared > 200
    champion = [r for r in actual.values() if r["role"] == "champion"
                and r["average_precision"] is not None]
    shadow = [r for r in actual.values() if r["role"] == "shadow"
              and r["average_precision"] is not None]
    # The 30-tree champion ranks far better than the 3-tree shadow.
    assert np.mean([r["average_precision"] for r in champion]) > np.mean(
        [r["average_precision"] for r in shadow])


def test_metrics_with_ties_and_relabels_equal_sklearn(databases: Databases,
                                                      monitored: Monitored,
                                                      tmp_path: Path) -> None:
    url = databases.clone(monitored.url)
    with psycopg.connect(url) as conn:
        # Coarse scores: many ties within every day and model.
        conn.execute("update scoring.scores set score = round(score::numeric, 2)")
        # Relabels: flip some labels, then withdraw a few; each adds a label event, out
        # of order with the transactions' times.
        conn.execute("update scoring.predictions set true_value = not true_value "
                     "where true_value is not null and transaction_id % 13 = 0")
        conn.execute("update scoring.predictions set true_value = null "
                     "where true_value is not null and transaction_id % 29 = 0")
        ((ties,),) = conn.execute(
            "select count(*) - count(distinct (model_version, score)) "
            "from scoring.predictions")
        ((relabelled,),) = conn.execute(
            "select count(*) from (select transaction_id from scoring.label_events "
            "group by 1 having count(*) > 1) as t")
    assert ties > 10_000 and relabelled > 50
    analytics.build(url, state_dir=tmp_path, full_refresh=True, variables=VARS)
    assert assert_performance_matches(url) > 200


def test_feature_and_score_drift_equal_numpy(monitored: Monitored) -> None:
    """Every day's PSI of every feature and of the score, for the champion and the
    shadow, from the week's raw rows with numpy."""
    window = dt.timedelta(days=7)
    checked = 0
    with psycopg.connect(monitored.url) as conn:
        for version in (monitored.champion, monitored.shadow):
            drift = conn.execute(
                "select day, feature, psi, observations, is_drifted "
                "from analytics.fct_daily_feature_drift where model_version = %s",
                (version,)).fetchall()
            ((reference,),) = conn.execute("select reference_distributions from ml.models "
                                           "where model_version = %s", (version,))
            names = list(reference["features"])
            days = sorted({d for d, *_ in drift})
            assert len(days) >= DAYS - 3
            for day in days:
                end = dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(days=1)
                rows = conn.execute(sql.SQL(
                    "select {} from features.model_input_v1 where transacted_at >= %s "
                    "and transacted_at < %s").format(
                        sql.SQL(", ").join(map(sql.Identifier, names))),
                    (end - window, end)).fetchall()
                scores = [s for (s,) in conn.execute(
                    "select p.score from scoring.predictions p join ingest.transactions t "
                    "using (transaction_id) where p.model_version = %s "
                    "and t.transacted_at >= %s and t.transacted_at < %s",
                    (version, end - window, end))]
                mart = {f: (value, n, flag) for d, f, value, n, flag in drift if d == day}
                assert set(mart) == {*names, "score"}
                for i, name in enumerate(names):
                    expected = psi([r[i] for r in rows], reference["features"][name])
                    assert mart[name][0] == pytest.approx(expected, abs=TOLERANCE), (
                        version, day, name)
                    assert mart[name][1] == len(rows)
                    assert mart[name][2] is (mart[name][0] > 0.2)
                    checked += 1
                assert mart["score"][0] == pytest.approx(psi(scores, reference["score"]),
                                                         abs=TOLERANCE), (version, day)
                assert mart["score"][1] == len(scores)
    assert checked >= 2 * (DAYS - 3) * len(names)


def drift_from_the_function(url: str) -> dict[tuple[Any, ...], tuple[float, int]]:
    """ml.feature_drift (what the retraining trigger runs) over the window of every
    (day, model) of the drift mart: {(day, model, feature): (psi, observations)}."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select m.day, m.model_version, d.feature, d.psi, d.observations"
            "  from (select distinct day, model_version"
            "          from analytics.fct_daily_feature_drift) as m"
            "  cross join lateral ml.feature_drift(m.model_version,"
            "      (m.day - 6)::timestamp at time zone 'UTC',"
            "      (m.day + 1)::timestamp at time zone 'UTC') as d").fetchall()
    return {(day, version, feature): (value, n) for day, version, feature, value, n in rows}


def assert_drift_equals_the_function(url: str) -> int:
    with psycopg.connect(url) as conn:
        mart = {(day, version, feature): (value, n) for day, version, feature, value, n
                in conn.execute("select day, model_version, feature, psi, observations "
                                "from analytics.fct_daily_feature_drift")}
    expected = drift_from_the_function(url)
    assert set(mart) == set(expected)
    for key, (value, n) in expected.items():
        assert mart[key][0] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        assert mart[key][1] == n, key
    return len(expected)


def test_drift_mart_equals_ml_feature_drift(monitored: Monitored) -> None:
    """The mart's PSI (summed daily counts) is ml.feature_drift's on every row."""
    assert assert_drift_equals_the_function(monitored.url) > 20 * 2 * DAYS


def test_drift_mart_counts_null_nan_and_infinite_values_as_ml_feature_drift(
        databases: Databases, monitored: Monitored, tmp_path: Path) -> None:
    """NULL, NaN and ±Infinity feature values fall in the NULL bin, as in the function
    (to_jsonb turns NaN and infinities into strings there, not numbers)."""
    url = databases.clone(monitored.url)
    with psycopg.connect(url) as conn:
        conn.execute("update features.transaction_features set"
                     " amount_zscore_30d = case transaction_id % 3 when 0 then 'NaN'::float8"
                     "   when 1 then 'Infinity' else '-Infinity' end,"
                     " km_from_previous = null"
                     " where transaction_id % 7 = 0")
    analytics.build(url, state_dir=tmp_path, full_refresh=True, variables=VARS)
    with psycopg.connect(url) as conn:
        ((null_bin,),) = conn.execute(
            "select sum(observations) from analytics.fct_daily_feature_histograms "
            "where feature = 'amount_zscore_30d' and bin = -1")
    assert null_bin > 100
    assert assert_drift_equals_the_function(url) > 20 * 2 * DAYS


def _labelled_predictions(url: str) -> list[tuple[Any, ...]]:
    """(day, model_version, is_shadow, score, is_alert, label, amount) of every labelled
    prediction, straight from the raw tables."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select (t.transacted_at at time zone 'UTC')::date, p.model_version,"
            "       p.is_shadow, p.score, p.is_alert, p.true_value, t.amount"
            "  from scoring.predictions p join ingest.transactions t using (transaction_id)"
            " where p.true_value is not null").fetchall()


def test_brier_and_reliability_equal_numpy(monitored: Monitored) -> None:
    rows = _labelled_predictions(monitored.url)
    with psycopg.connect(monitored.url, row_factory=dict_row) as conn:
        calibration = {r["model_version"]: r for r in conn.execute(
            "select * from analytics.fct_model_calibration")}
        reliability = {(r["model_version"], r["bin"]): r for r in conn.execute(
            "select * from analytics.fct_model_reliability")}
    versions = sorted({r[1] for r in rows})
    assert sorted(calibration) == versions and len(versions) >= 2
    bins_checked = 0
    for version in versions:
        score = np.array([r[3] for r in rows if r[1] == version])
        y = np.array([r[5] for r in rows if r[1] == version], dtype=float)
        got = calibration[version]
        assert got["labelled"] == len(y) and got["frauds"] == int(y.sum())
        assert got["brier_score"] == pytest.approx(np.mean((score - y) ** 2), abs=1e-12)
        assert got["mean_score"] == pytest.approx(score.mean(), abs=1e-12)
        assert got["fraud_rate"] == pytest.approx(y.mean(), abs=1e-12)
        bins = np.minimum(np.floor(score * 10).astype(int) + 1, 10)
        assert {b for v, b in reliability if v == version} == set(bins.tolist())
        for b in np.unique(bins):
            in_bin = bins == b
            point = reliability[(version, int(b))]
            assert point["predictions"] == in_bin.sum()
            assert point["mean_score"] == pytest.approx(score[in_bin].mean(), abs=1e-12)
            assert point["observed_fraud_rate"] == pytest.approx(y[in_bin].mean(), abs=1e-12)
            bins_checked += 1
    assert bins_checked > 2 * len(versions)  # the curves have more than one point


def test_value_detected_equals_python(monitored: Monitored) -> None:
    rows = _labelled_predictions(monitored.url)
    expected: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for day, version, is_shadow, _, is_alert, label, amount in rows:
        key = (day, version, "shadow" if is_shadow else "champion")
        if label:
            expected[key][0] += float(amount)
            if is_alert:
                expected[key][1] += float(amount)
    with psycopg.connect(monitored.url, row_factory=dict_row) as conn:
        mart = {(r["day"], r["model_version"], r["role"]): r for r in conn.execute(
            "select * from analytics.fct_daily_decision_value")}
    caught = 0
    for key, (fraud, alerted) in expected.items():
        got = mart[key]
        assert float(got["fraud_amount"]) == pytest.approx(fraud, abs=0.005), key
        assert float(got["fraud_amount_alerted"]) == pytest.approx(alerted, abs=0.005), key
        if fraud:
            assert got["value_detected"] == pytest.approx(alerted / fraud, abs=1e-9), key
            caught += alerted > 0
        else:
            assert got["value_detected"] is None, key
        assert got["analyst_hours"] == pytest.approx(got["alerts"] * 5 / 60)
    assert caught > 5
    assert all(r["fraud_amount"] == 0 for k, r in mart.items() if k not in expected)


def test_latency_percentiles_and_throughput_equal_numpy(monitored: Monitored) -> None:
    with psycopg.connect(monitored.url) as conn:
        minutes = conn.execute("select minute_at, transactions_scored, alerts, latency_p50_ms,"
                               " latency_p95_ms, latency_p99_ms from analytics.fct_scoring_minutes"
                               ).fetchall()
        predictions = conn.execute("select scored_at, latency_ms, is_alert from "
                                   "scoring.predictions where not is_shadow").fetchall()
    by_minute: dict[dt.datetime, list[tuple[float, bool]]] = defaultdict(list)
    for scored_at, latency, is_alert in predictions:
        by_minute[scored_at.astimezone(dt.UTC).replace(second=0, microsecond=0)].append(
            (latency, is_alert))
    assert {m for m, *_ in minutes} == set(by_minute)
    for minute, scored, alerts, p50, p95, p99 in minutes:
        latencies = np.array([lat for lat, _ in by_minute[minute]])
        assert scored == len(latencies)
        assert alerts == sum(a for _, a in by_minute[minute])
        for value, q in ((p50, 50), (p95, 95), (p99, 99)):
            assert value == pytest.approx(np.percentile(latencies, q), abs=TOLERANCE)


def test_api_minutes_equal_numpy(monitored: Monitored) -> None:
    """Counts by decision and fallback reason, and latency percentiles, per minute of
    decided_at, from api.decisions."""
    with psycopg.connect(monitored.url, row_factory=dict_row) as conn:
        minutes = conn.execute("select * from analytics.fct_api_minutes").fetchall()
        decisions = conn.execute("select decision, fallback_reason, latency_ms, decided_at "
                                 "from api.decisions").fetchall()
    by_minute: dict[dt.datetime, list[dict[str, Any]]] = defaultdict(list)
    for row in decisions:
        by_minute[row["decided_at"].astimezone(dt.UTC).replace(second=0, microsecond=0)
                  ].append(row)
    assert minutes and {m["minute_at"] for m in minutes} == set(by_minute)
    for m in minutes:
        rows = by_minute[m["minute_at"]]
        assert m["decisions"] == len(rows)
        for column, decision in (("approvals", "approve"), ("reviews", "review"),
                                 ("declines", "decline")):
            assert m[column] == sum(r["decision"] == decision for r in rows), column
        assert m["fallbacks"] == sum(r["fallback_reason"] is not None for r in rows)
        for reason in ("deadline", "no_champion", "error"):
            assert m[f"fallbacks_{reason}"] == sum(r["fallback_reason"] == reason
                                                   for r in rows), reason
        latencies = np.array([r["latency_ms"] for r in rows])
        for q in (50, 95, 99):
            assert m[f"latency_p{q}_ms"] == pytest.approx(np.percentile(latencies, q),
                                                         abs=TOLERANCE)
        assert m["latency_max_ms"] == latencies.max()
    totals = {column: sum(m[column] for m in minutes)
              for column in ("approvals", "reviews", "declines", "fallbacks_deadline",
                             "fallbacks_no_champion", "fallbacks_error")}
    assert all(totals.values()), totals  # the fixture answers every way


def test_label_backlog_and_quarantine(monitored: Monitored) -> None:
    with psycopg.connect(monitored.url, row_factory=dict_row) as conn:
        backlog = conn.execute("select * from analytics.fct_daily_label_backlog").fetchall()
        unreviewed = conn.execute(
            "select count(*) as n from scoring.predictions "
            "where not is_shadow and is_alert and true_value is null").fetchall()[0]["n"]
        quarantine = conn.execute("select reason, sum(quarantined)::int as n "
                                  "from analytics.fct_hourly_quarantine group by 1").fetchall()
        delays = conn.execute(
            "select (t.transacted_at at time zone 'UTC')::date as day,"
            "       extract(epoch from min(e.labeled_at) - t.transacted_at) / 3600 as hours"
            "  from scoring.label_events e join ingest.transactions t using (transaction_id)"
            " where e.new_value is not null group by t.transaction_id").fetchall()
    assert sum(r["unreviewed_alerts"] for r in backlog) == unreviewed
    by_day: dict[dt.date, list[float]] = defaultdict(list)
    for row in delays:
        by_day[row["day"]].append(float(row["hours"]))
    for row in backlog:
        hours = by_day.get(row["day"])
        if hours:
            assert row["label_delay_p50_hours"] == pytest.approx(np.percentile(hours, 50),
                                                                 abs=TOLERANCE)
            assert row["label_delay_p90_hours"] == pytest.approx(np.percentile(hours, 90),
                                                                 abs=TOLERANCE)
    # Simulated analysts review alerts a day later: the newest day with alerts still has
    # a backlog, the oldest day has none.
    ordered = sorted(backlog, key=lambda r: r["day"])
    newest = [r for r in ordered if r["alerts"]][-1]
    assert ordered[0]["unreviewed_alerts"] == 0 and newest["unreviewed_alerts"] > 0
    # 12 rejected rows, a third each way, and the card-number file's invalid rows.
    assert {r["reason"]: r["n"] for r in quarantine} == {
        "bad_amount": 4 + SEEDED_INVALID, "missing_field": 4, "bad_coordinates": 4}


def test_a_build_with_nothing_new_changes_no_mart(databases: Databases,
                                                  monitored: Monitored,
                                                  tmp_path: Path) -> None:
    url = databases.clone(monitored.url)
    before = snapshot(url)
    analytics.build(url, state_dir=tmp_path, variables=VARS)
    after = snapshot(url)
    for mart in MARTS:
        assert same_rows(before[mart], after[mart]), mart


def test_incremental_builds_equal_a_full_refresh(databases: Databases, monitored: Monitored,
                                                 tmp_path: Path) -> None:
    url = databases.clone(monitored.url)
    analytics.build(url, state_dir=tmp_path, variables=VARS)  # incremental, nothing new
    before = snapshot(url)
    # Two more days: new transactions, predictions by both models, new labels, and
    # the API's decisions of some of them.
    advance(url, DAYS, 2)
    decide_by_api(url)
    analytics.build(url, state_dir=tmp_path, variables=VARS)
    incremental = snapshot(url)
    analytics.build(url, state_dir=tmp_path, full_refresh=True, variables=VARS)
    full = snapshot(url)
    for mart in MARTS:
        assert same_rows(incremental[mart], full[mart]), mart
    assert len(full["fct_daily_feature_drift"]) > len(before["fct_daily_feature_drift"])
    assert sum(r[1] for r in full["fct_api_minutes"]) > sum(
        r[1] for r in before["fct_api_minutes"])  # decisions
    assert max(r[1] for r in full["fct_daily_feature_drift"]) == (
        START + dt.timedelta(days=DAYS + 1)).date()


def test_late_rows_and_a_new_model_rebuild_the_days_they_touch(
        databases: Databases, monitored: Monitored, tmp_path: Path) -> None:
    """Rows that arrive for an old day (newer predictions than the last build) and a
    model that starts scoring (its first days need the week before them, which no
    model of its own scored) reach the histograms and the drift incrementally."""
    url = databases.clone(monitored.url)
    with psycopg.connect(url) as conn:
        ((watermark,),) = conn.execute("select max(prediction_id) from scoring.predictions")
    old_day = START + dt.timedelta(days=4)
    produce(url, days=0.5, cards=40, seed=77, start=old_day)
    newcomer = quick_model(url, status="shadow", seed=2, trees=3)
    score_and_label(url)
    advance(url, DAYS, 1)
    analytics.build(url, state_dir=tmp_path, variables=VARS)
    incremental = snapshot(url)
    analytics.build(url, state_dir=tmp_path, full_refresh=True, variables=VARS)
    full = snapshot(url)
    for mart in MARTS:
        assert same_rows(incremental[mart], full[mart]), mart
    with psycopg.connect(url) as conn:
        ((newcomer_days,),) = conn.execute(
            "select count(distinct day) from analytics.fct_daily_feature_histograms "
            "where model_version = %s", (newcomer,))
        ((late_versions,),) = conn.execute(
            "select count(distinct model_version) from analytics.fct_daily_feature_drift "
            "where day = %s and max_prediction_id > %s", (old_day.date(), watermark))
    assert newcomer_days >= 7  # the days it scored and the six before each
    assert late_versions >= 2  # the champion and the newcomer scored the late rows
    assert_drift_equals_the_function(url)


def test_a_build_before_anything_is_scored_does_not_stall_the_incremental_marts(
        databases: Databases, tmp_path: Path) -> None:
    """The compose stack's dbt service builds once at start, before the first score; the
    incremental marts must still fill on later builds (the first `docker compose up`
    left fct_scoring_minutes empty for good: max() of an empty table is null)."""
    url = databases.create()
    analytics.build(url, state_dir=tmp_path, variables=VARS)
    produce(url, days=1, cards=300, seed=11)
    quick_model(url, status="champion", seed=0, trees=30)
    score_and_label(url)
    decide_by_api(url)
    analytics.build(url, state_dir=tmp_path, variables=VARS)
    incremental = snapshot(url)
    analytics.build(url, state_dir=tmp_path, full_refresh=True, variables=VARS)
    full = snapshot(url)
    assert full["fct_scoring_minutes"] and full["fct_api_minutes"]
    for mart in MARTS:
        assert same_rows(incremental[mart], full[mart]), mart


@pytest.fixture
def reader(monitored: Monitored) -> Iterator[psycopg.Connection[Any]]:
    with connect(monitored.url, role=READER_ROLE, autocommit=True) as conn:
        yield conn


def test_the_reader_role_sees_marts_but_not_staging(reader: psycopg.Connection[Any]) -> None:
    for mart in MARTS:
        reader.execute(sql.SQL("select * from analytics.{} limit 1").format(
            sql.Identifier(mart)))
    for relation in ("analytics_staging.stg_transactions", "scoring.predictions"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute(sql.SQL("select * from {} limit 1").format(
                sql.Identifier(*relation.split("."))))


def test_marts_hold_no_card_number(monitored: Monitored) -> None:
    from pgfraud.kernel.card_numbers import find_card_numbers

    with psycopg.connect(monitored.url) as conn:
        for mart in MARTS:
            text = "\n".join(str(r) for r in conn.execute(sql.SQL(
                "select * from analytics.{}").format(sql.Identifier(mart))))
            assert not find_card_numbers(text), mart
