"""Panel SQL outside Grafana (pgfraud/monitoring/panels.py ``expand``): the time range travels as
parameters, never as text, and the text is ready for psycopg's parameter syntax."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from pgfraud.monitoring.panels import BOARDS, expand

START = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
END = dt.datetime(2026, 4, 5, 6, 7, 8, tzinfo=dt.UTC)
QUERIES = [(f"{board.uid}:{panel.key}", panel.sql) for board in BOARDS for panel in board.panels
           ] + [(f"{board.uid}:{a.name}", a.sql) for board in BOARDS for a in board.annotations]
PLACEHOLDER = re.compile(r"%\((time_from|time_to)\)s|%%")


@pytest.mark.parametrize(("key", "sql"), QUERIES, ids=[key for key, _ in QUERIES])
def test_the_range_is_two_parameters_and_no_text(key: str, sql: str) -> None:
    query, params = expand(sql, START, END)
    assert params == {"time_from": START, "time_to": END}
    assert "$__" not in query, f"{key}: a Grafana macro expand does not know"
    assert "2026" not in query, f"{key}: a value in the SQL text"
    # Every % is a placeholder or an escaped literal %.
    assert "%" not in PLACEHOLDER.sub("", query), key
    ranges = sql.count("$__timeFilter(")
    assert query.count("%(time_from)s") == query.count("%(time_to)s") == ranges, key


def test_a_literal_percent_is_escaped_for_the_parameters() -> None:
    query, _ = expand("select 'v%' as metric, 7 % 2 as value where $__timeFilter(day)",
                      START, END)
    assert query == ("select 'v%%' as metric, 7 %% 2 as value where day between "
                     "%(time_from)s::timestamptz and %(time_to)s::timestamptz")


@pytest.mark.parametrize("bad", ["2026-01-01", "now() or true", 0])
def test_the_range_must_be_datetimes(bad: object) -> None:
    with pytest.raises(TypeError, match="datetimes"):
        expand("select 1 where $__timeFilter(day)", bad, END)  # type: ignore[arg-type]
