"""Panels follow history: the monitored database's shadow is promoted after day 10 and
two more days are scored, so days 0-9 had one champion and days 10-11 another. Every
panel about "the champion" must show, for each day, the model that was champion then
(not the one whose status is champion now), with rows before and after the promotion."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from pgfraud.kernel.db import connect
from pgfraud.kernel.names import READER_ROLE
from pgfraud.monitoring import dbt_runner as analytics
from pgfraud.monitoring import panels
from pgfraud.monitoring.report import write_report
from tests.conftest import Databases
from tests.history import START
from tests.monitoring import DAYS, VARS, Monitored, advance

EVERYTHING = (dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
PROMOTED_ON = (START + dt.timedelta(days=DAYS)).date()
AFTER = 2  # days scored by the promoted model


@pytest.fixture(scope="module")
def promoted(databases: Databases, monitored: Monitored,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, int]]:
    """(url, old champion, new champion)."""
    url = databases.clone(monitored.url)
    with psycopg.connect(url) as conn:
        conn.execute("select ml.promote(%s)", (monitored.shadow,))
    advance(url, DAYS, AFTER)
    analytics.build(url, state_dir=tmp_path_factory.mktemp("dbt"), variables=VARS)
    yield url, monitored.champion, monitored.shadow


def champion_on(day: dt.date, old: int, new: int) -> int:
    return old if day < PROMOTED_ON else new


def reader_rows(url: str, query: str) -> list[dict[str, Any]]:
    """``query`` (panel SQL) over all time, as the read-only role Grafana uses."""
    with connect(url, role=READER_ROLE, row_factory=dict_row) as conn:
        return conn.execute(*panels.expand(query, *EVERYTHING)).fetchall()


def panel_rows(url: str, panel: panels.Panel) -> list[dict[str, Any]]:
    return reader_rows(url, panel.sql)


def mart(url: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def test_the_registry_says_only_the_new_champion(promoted: tuple[str, int, int]) -> None:
    """The premise: filtering on the current status would attribute every day to new."""
    url, old, new = promoted
    status = {r["model_version"]: r["status"]
              for r in mart(url, "select model_version, status from analytics.dim_models")}
    assert status[new] == "champion" and status[old] != "champion"


def test_each_day_has_the_champion_of_that_day(promoted: tuple[str, int, int]) -> None:
    url, old, new = promoted
    days = mart(url, "select * from analytics.fct_daily_champions order by day")
    assert len(days) == DAYS + AFTER
    for row in days:
        assert row["model_version"] == champion_on(row["day"], old, new), row["day"]
        # The promotion day may open with a few transactions the old champion scored
        # before the promotion (a handover day); every other day has one champion.
        assert row["champion_versions"] == 1 or (
            row["day"] == PROMOTED_ON and row["champion_versions"] == 2), row
        assert row["is_new_champion"] is (row["day"] == PROMOTED_ON)
    (change,) = reader_rows(url, panels.CHAMPION_CHANGES.sql)  # the Grafana annotation
    assert change["time"].date() == PROMOTED_ON
    assert change["text"] == f"v{new} champion (was v{old})"


def test_drift_panel_shows_each_days_champion(promoted: tuple[str, int, int]) -> None:
    url, old, new = promoted
    rows = panel_rows(url, panels.DRIFT)
    drift = {(r["day"], r["model_version"], r["feature"]): r["psi"] for r in mart(
        url, "select day, model_version, feature, psi from analytics.fct_daily_feature_drift")}
    seen = [(r["time"].date(), r["metric"]) for r in rows]
    assert len(seen) == len(set(seen)), "one value per day and feature"
    days = {day for day, _ in seen}
    assert any(d < PROMOTED_ON for d in days) and any(d >= PROMOTED_ON for d in days)
    for row in rows:
        day = row["time"].date()
        assert row["value"] == drift[(day, champion_on(day, old, new), row["metric"])]
    # The score's drift tells the two models apart: before the promotion the panel shows
    # the old champion's, not the new one's.
    before = max(d for d in days if d < PROMOTED_ON)
    shown = next(r["value"] for r in rows
                 if r["time"].date() == before and r["metric"] == "score")
    assert shown == drift[(before, old, "score")] != drift[(before, new, "score")]


def test_score_distribution_and_decisions_show_each_days_champion(
        promoted: tuple[str, int, int]) -> None:
    url, old, new = promoted
    shares = {(r["day"], r["model_version"], r["bucket_label"]): r["share"] for r in mart(
        url, "select day, model_version, bucket_label, share "
             "from analytics.fct_daily_score_distribution where role = 'champion'")}
    rows = panel_rows(url, panels.SCORE_DISTRIBUTION)
    per_day: dict[dt.date, int] = {}
    for row in rows:
        day = row["time"].date()
        per_day[day] = per_day.get(day, 0) + 1
        assert row["value"] == shares[(day, champion_on(day, old, new), row["metric"])]
    assert set(per_day.values()) == {10} and len(per_day) == DAYS + AFTER

    performance = {(r["day"], r["model_version"]): r for r in mart(
        url, "select * from analytics.fct_daily_model_performance where role = 'champion'")}
    decisions = panel_rows(url, panels.CHAMPION_DECISIONS)
    days = {r["time"].date() for r in decisions}
    assert any(d < PROMOTED_ON for d in days) and any(d >= PROMOTED_ON for d in days)
    for row in decisions:
        day = row["time"].date()
        if row["metric"] == "precision":
            assert row["value"] == performance[(day, champion_on(day, old, new))]["precision"]


def test_per_version_series_follow_the_role_each_version_had(
        promoted: tuple[str, int, int]) -> None:
    url, old, new = promoted
    for panel in (panels.AVERAGE_PRECISION, panels.VALUE_DETECTED):
        series: dict[str, set[dt.date]] = {}
        for row in panel_rows(url, panel):
            series.setdefault(row["metric"], set()).add(row["time"].date())
        assert series[f"v{new} shadow"] and max(series[f"v{new} shadow"]) < PROMOTED_ON
        assert series[f"v{new} champion"] and min(series[f"v{new} champion"]) >= PROMOTED_ON
        assert max(series[f"v{old} champion"]) < PROMOTED_ON, panel.key


def test_the_report_draws_drift_before_and_after(promoted: tuple[str, int, int],
                                                 tmp_path: Path) -> None:
    url, _, new = promoted
    page = write_report(url, tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="panel-feature_drift" class="empty"' not in page
    assert 'id="panel-score_distribution" class="empty"' not in page
    assert 'id="stale-banner"' not in page
    assert f"<td class=\"num\">{new}</td>" in page  # the champion changes table
