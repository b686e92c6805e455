"""Every dashboard panel's SQL (pgfraud/monitoring/panels.py), run as the read-only Grafana role
against the populated marts: it must return rows with the columns the panel draws."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgfraud.kernel.db import connect
from pgfraud.kernel.names import READER_ROLE
from pgfraud.monitoring import panels
from tests.monitoring import Monitored

EVERYTHING = (dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
ALL_PANELS = [(board.uid, panel) for board in panels.BOARDS for panel in board.panels]


@pytest.fixture(scope="module")
def reader(monitored: Monitored) -> Iterator[psycopg.Connection[Any]]:
    with connect(monitored.url, role=READER_ROLE, autocommit=True) as conn:
        yield conn


@pytest.mark.parametrize(("board", "panel"), ALL_PANELS,
                         ids=[f"{b}:{p.key}" for b, p in ALL_PANELS])
def test_panel_query_returns_the_columns_it_draws(reader: psycopg.Connection[Any],
                                                   board: str, panel: panels.Panel) -> None:
    cursor = reader.execute(*panels.expand(panel.sql, *EVERYTHING))
    rows = cursor.fetchall()
    assert cursor.description is not None
    assert tuple(c.name for c in cursor.description) == panel.expected_columns
    assert rows, f"{board}:{panel.key} returned no rows"
    if panel.kind == "stat":
        assert len(rows) == 1 and rows[0][0] is not None and rows[0][0] > 0
    elif panel.kind == "curve":
        assert all(r[0] for r in rows)
        assert all(0 <= r[1] <= 1 and 0 <= r[2] <= 1 and r[3] > 0 for r in rows)
    elif panel.kind != "table":
        assert all(isinstance(r[0], dt.datetime) for r in rows)
        assert all(r[1] for r in rows) and all(r[2] is not None for r in rows)


def test_the_time_filter_applies(reader: psycopg.Connection[Any]) -> None:
    """A range before any data: time-filtered panels return nothing (stats return 0);
    tables and curves without a time filter (the registry, calibration) do not change."""
    empty = (dt.datetime(2001, 1, 1, tzinfo=dt.UTC), dt.datetime(2001, 1, 2, tzinfo=dt.UTC))
    for _, panel in ALL_PANELS:
        rows = reader.execute(*panels.expand(panel.sql, *empty)).fetchall()
        if "$__timeFilter" not in panel.sql:
            assert panel.kind in ("table", "curve"), panel.key
            continue
        if panel.kind == "table":
            assert rows == [], panel.key
            continue
        if panel.kind == "stat":
            assert rows[0][0] in (0, None), panel.key
        else:
            assert rows == [], panel.key


def test_a_literal_percent_and_the_range_reach_the_server_intact(
        reader: psycopg.Connection[Any]) -> None:
    query = ("select 'v%' || 7 % 4 as value from (select now() as at) as s "
             "where $__timeFilter(s.at)")
    assert reader.execute(*panels.expand(query, *EVERYTHING)).fetchall() == [("v%3",)]
    empty = (dt.datetime(2001, 1, 1, tzinfo=dt.UTC), dt.datetime(2001, 1, 2, tzinfo=dt.UTC))
    assert reader.execute(*panels.expand(query, *empty)).fetchall() == []


def test_panel_keys_are_unique() -> None:
    keys = [p.key for _, p in ALL_PANELS]
    assert len(keys) == len(set(keys))
