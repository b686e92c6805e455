"""``pgfraud report``: the monitoring panels as one self-contained HTML page.

The same panel SQL as the Grafana boards (:mod:`pgfraud.monitoring.panels`), run as the read-only
Grafana role, drawn with plotly; plotly.js is inlined once, so the file opens offline.

>>> format_value(12345, "short"), format_value(0.8734, "percentunit")
('12,345', '87.3%')
>>> format_value(87.26, "ms"), format_value(1234.5, "ms"), format_value(5.24, "h")
('87.3 ms', '1.23 s', '5.2 h')
>>> behind(dt.timedelta(minutes=90)), behind(dt.timedelta(hours=5)), behind(dt.timedelta(days=3))
('90 minutes', '5 hours', '3 days')
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import html
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import psycopg
from plotly.offline import get_plotlyjs
from psycopg.rows import dict_row

from pgfraud.kernel import queries
from pgfraud.kernel.db import connect, redact
from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.names import DRIFT_PSI_THRESHOLD, READER_ROLE
from pgfraud.monitoring.panels import Board, Panel, expand

Rows = list[dict[str, Any]]
Results = dict[str, Rows]

#: The range used when none is given: everything.
ALL_TIME = (dt.datetime(1, 1, 1, tzinfo=dt.UTC), dt.datetime(9999, 12, 31, tzinfo=dt.UTC))
TITLE = "pgfraud monitoring report"
EMPTY = "no data in range"
DRIFT_THRESHOLD = DRIFT_PSI_THRESHOLD
#: Extra caption text, by panel key.
NOTES = {"feature_drift": f"Pale: below the {DRIFT_THRESHOLD} drift threshold; orange to "
                          f"red: above it (the colour stops at {2 * DRIFT_THRESHOLD}, hover "
                          "for the value)."}
COLORS = ["#3274d9", "#e0752d", "#56a64b", "#a352cc", "#f2cc0c", "#8ab8ff", "#e02f44",
          "#37872d", "#ff9830", "#73bf69"]
CHART_HEIGHT = 320


# --- data --------------------------------------------------------------------------------

def collect(conn: psycopg.Connection[Any], boards: Iterable[Board], start: dt.datetime,
            end: dt.datetime, *, on_panel: Callable[[Panel], None] | None = None) -> Results:
    """Every panel's rows (as dicts), by panel key, for ``start``..``end``.

    Runs the panels' SQL on ``conn`` as it is; open it with ``role=READER_ROLE`` (as
    :func:`write_report` does) so the report needs no more privilege than Grafana.
    """
    results: Results = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for board in boards:
            for panel in board.panels:
                cur.execute(*expand(panel.sql, start, end))
                results[panel.key] = [dict(row) for row in cur.fetchall()]
                if on_panel:
                    on_panel(panel)
    return results


def write_report(url: str, out: Path, start: dt.datetime | None = None,
                 end: dt.datetime | None = None, *, boards: Sequence[Board] | None = None,
                 on_panel: Callable[[Panel], None] | None = None) -> Path:
    """Query every panel as the reader role and write the HTML page to ``out``.

    Without ``start``/``end`` the range is all the data.
    """
    from pgfraud.monitoring.panels import BOARDS

    boards = BOARDS if boards is None else boards
    if start and end and start >= end:
        raise PgfraudError(f"--from ({start.isoformat()}) must be before --to "
                           f"({end.isoformat()})")
    with connect(url, role=READER_ROLE) as conn:
        conn.read_only = True
        try:
            results = collect(conn, boards, start or ALL_TIME[0], end or ALL_TIME[1],
                              on_panel=on_panel)
            marts_at = _scalar(conn, "mart_freshness")
            alarms = conn.execute(queries.load("report")["decisions_needing_attention"]
                                  ).fetchall()
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
            raise PgfraudError(
                f"the monitoring marts in schema analytics are missing or out of date "
                f"({str(exc).splitlines()[0]}); build them first: `pgfraud dbt build`"
            ) from None
    page = render(boards, results, title=TITLE, generated_at=dt.datetime.now(dt.UTC),
                  database_label=redact(url), start=start, end=end,
                  freshness=Freshness(marts_at, newest_transaction_at(url)),
                  alarms=[Alarm(*row) for row in alarms])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def _scalar(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(queries.load("report")[query]).fetchone()
    return row[0] if row else None


def newest_transaction_at(url: str) -> dt.datetime | None:
    """The live event clock, read as the connecting user (the reader role may not read
    ingest); None when that user may not read it either."""
    with connect(url) as conn:
        try:
            value = _scalar(conn, "event_clock")
        except psycopg.errors.InsufficientPrivilege:
            return None
    return value if isinstance(value, dt.datetime) else None


@dataclasses.dataclass(frozen=True)
class Freshness:
    """How far the marts reach (event time of the newest transaction they include) and
    the newest transaction ingested now."""

    marts_at: dt.datetime | None
    newest_at: dt.datetime | None

    @property
    def lag(self) -> dt.timedelta | None:
        """How far the marts are behind, or None when they are not (or it is unknown)."""
        if self.newest_at is None:
            return None
        if self.marts_at is None:
            return dt.timedelta.max
        return self.newest_at - self.marts_at if self.newest_at > self.marts_at else None


def behind(lag: dt.timedelta) -> str:
    """A lag in whole minutes (under two hours), hours (under two days) or days."""
    minutes = max(1, int(lag.total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    if minutes < 48 * 60:
        return f"{minutes // 60} hours"
    return f"{minutes // (24 * 60):,} days"


@dataclasses.dataclass(frozen=True)
class Alarm:
    """A decision that needs a human: a guardrail fired or a parity check failed."""

    decision_id: int
    decided_at: dt.datetime
    outcome: str
    rule: str | None
    detail: str | None


def alarms_html(alarms: Sequence[Alarm]) -> str:
    """One banner per recent guardrail event or parity failure (newest first)."""
    return "".join(
        f'<div class="banner alarm" role="alert">{html.escape(a.outcome.replace("_", " "))}'
        f" ({html.escape(a.rule or 'no rule')}, decision {a.decision_id}, "
        f"{_when_exact(a.decided_at)} UTC): {html.escape(a.detail or '')}</div>"
        for a in alarms)


def banner_html(freshness: Freshness | None) -> str:
    """The stale-data banner, or nothing when the marts are up to date."""
    lag = freshness.lag if freshness else None
    if freshness is None or lag is None:
        return ""
    newest = freshness.newest_at
    assert newest is not None
    if freshness.marts_at is None:
        text = "the marts hold no transactions yet"
    else:
        text = (f"marts are {behind(lag)} behind the newest transaction (marts up to "
                f"{_when_exact(freshness.marts_at)}, newest {_when_exact(newest)} UTC, "
                f"event time)")
    return (f'<div id="stale-banner" class="banner" role="alert">{html.escape(text)}; run '
            f"<code>pgfraud refresh</code></div>")


# --- values ------------------------------------------------------------------------------

def plain(value: Any) -> Any:
    """A database value as plotly and the page want it: floats, naive UTC datetimes."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time())
    return value


def format_value(value: Any, unit: str) -> str:
    """A number as Grafana shows it for ``unit`` (ms, percentunit, h, short)."""
    if value is None:
        return "–"
    v = float(value)
    if unit == "percentunit":
        return f"{v * 100:.1f}%"
    if unit == "ms":
        if v >= 1000:
            return f"{v / 1000:,.2f} s"
        return f"{v:,.0f} ms" if v >= 100 else f"{v:.1f} ms"
    if unit == "h":
        return f"{v:,.1f} h"
    if v.is_integer():
        return f"{int(v):,}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"


def format_cell(value: Any) -> str:
    """A table cell: dates to the minute (UTC), floats to 4 places, decimals (money) to
    their own scale, None as a dash."""
    if isinstance(value, decimal.Decimal):
        return f"{value:,}"
    value = plain(value)
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        return _when(value)
    if isinstance(value, float):
        return f"{value:,.4f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def data_span(results: Results) -> tuple[dt.datetime, dt.datetime] | None:
    """Earliest and latest ``time`` in all the results, if any."""
    times = [plain(row["time"]) for rows in results.values() for row in rows
             if row.get("time") is not None]
    return (min(times), max(times)) if times else None


# --- figures -----------------------------------------------------------------------------

def _series(rows: Rows) -> dict[str, tuple[list[Any], list[Any]]]:
    """Long rows as {metric: (times, values)}, metrics in order of first appearance."""
    series: dict[str, tuple[list[Any], list[Any]]] = {}
    for row in rows:
        xs, ys = series.setdefault(str(row["metric"]), ([], []))
        xs.append(plain(row["time"]))
        ys.append(plain(row["value"]))
    return series


def _value_axis(unit: str) -> dict[str, Any]:
    if unit == "percentunit":
        return {"tickformat": ".2~%"}  # AUC near 1: 99.95%, not 100% twice
    if unit in ("ms", "h"):
        return {"ticksuffix": f" {unit}", "tickformat": ",~r"}
    return {"tickformat": ",~r"}


def _hover(unit: str, axis: str = "y") -> str:
    number = {"percentunit": f"%{{{axis}:.2%}}", "ms": f"%{{{axis}:,.1f}} ms",
              "h": f"%{{{axis}:,.1f}} h"}.get(unit, f"%{{{axis}:,}}")
    return f"%{{fullData.name}}<br>%{{x|%Y-%m-%d %H:%M}}<br>{number}<extra></extra>"


def _layout(panel: Panel, legend: bool, height: int = CHART_HEIGHT) -> dict[str, Any]:
    return {
        "template": "plotly_white", "height": height, "colorway": COLORS,
        "margin": {"l": 8, "r": 8, "t": 8, "b": 8, "autoexpand": True},
        "font": {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                 "size": 12, "color": "#3b4252"},
        "showlegend": legend, "hovermode": "closest",
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02,
                   "yanchor": "bottom", "font": {"size": 11}, "traceorder": "normal"},
        "xaxis": {"automargin": True, "title": {"text": ""}},
        "yaxis": {"automargin": True, **_value_axis(panel.unit),
                  "rangemode": None if panel.unit == "percentunit" else "tozero"},
    }


def step(times: Iterable[dt.datetime]) -> dt.timedelta:
    """A series' bucket: the smallest gap between its times, or, for a single time, a
    guess from the time itself (midnight: a day; on the hour: an hour; else a minute)."""
    distinct = sorted(set(times))
    gaps = [b - a for a, b in zip(distinct, distinct[1:], strict=False)]
    if gaps:
        return min(gaps)
    only = distinct[0]
    if only.time() == dt.time():
        return dt.timedelta(days=1)
    return dt.timedelta(hours=1) if only.minute == only.second == 0 else dt.timedelta(minutes=1)


def _time_axis(layout: dict[str, Any], times: list[dt.datetime]) -> dict[str, Any]:
    """A single point in time gets a few buckets either side (plotly would zoom to a
    millisecond)."""
    if len(set(times)) == 1:
        pad = 3 * step(times)
        layout["xaxis"] = {**layout["xaxis"], "range": [times[0] - pad, times[0] + pad]}
    return layout


def with_gaps(xs: Sequence[dt.datetime], ys: Sequence[Any], bucket: dt.timedelta
              ) -> tuple[list[Any], list[Any]]:
    """``xs``/``ys`` with a null point wherever consecutive times are more than
    ``bucket`` apart, so the line breaks over idle buckets instead of joining them.

    >>> t = dt.datetime(2026, 1, 1)
    >>> with_gaps([t, t + dt.timedelta(minutes=1), t + dt.timedelta(minutes=5)], [1, 2, 3],
    ...           dt.timedelta(minutes=1))[1]
    [1, 2, None, 3]
    """
    out_x: list[Any] = []
    out_y: list[Any] = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if i and x - xs[i - 1] > bucket:
            out_x.append(xs[i - 1] + bucket)
            out_y.append(None)
        out_x.append(x)
        out_y.append(y)
    return out_x, out_y


def lines(panel: Panel, rows: Rows) -> go.Figure:
    """One line per series; a gap wherever the series skips a bucket (the panel's step,
    else the smallest gap between the chart's times)."""
    series = _series(rows)
    times = [x for xs, _ in series.values() for x in xs]
    bucket = panel.step or step(times)
    traces = []
    for name, (xs, ys) in series.items():
        gx, gy = with_gaps(xs, ys, bucket)
        traces.append(go.Scatter(x=gx, y=gy, name=name, hovertemplate=_hover(panel.unit),
                                 mode="lines+markers" if len(xs) <= 60 else "lines",
                                 marker={"size": 5}, line={"width": 2}, connectgaps=False))
    return go.Figure(traces, _time_axis(_layout(panel, legend=len(series) > 1), times))


def curve(panel: Panel, rows: Rows) -> go.Figure:
    """x against y per ``metric`` on the unit square, with the diagonal for reference
    (a reliability curve: mean score against observed rate)."""
    series: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        series.setdefault(str(row["metric"]), []).append(row)
    traces = [go.Scatter(x=[0, 1], y=[0, 1], name="calibrated (diagonal)", mode="lines",
                         hoverinfo="skip", line={"color": "#9aa3b2", "dash": "dash",
                                                 "width": 1})]
    for name, points in series.items():
        traces.append(go.Scatter(
            x=[plain(p["x"]) for p in points], y=[plain(p["y"]) for p in points],
            customdata=[plain(p["count"]) for p in points], name=name,
            mode="lines+markers", marker={"size": 6}, line={"width": 2},
            hovertemplate="%{fullData.name}<br>mean score %{x:.3f}<br>fraud rate "
                          "%{y:.3f}<br>%{customdata:,} predictions<extra></extra>"))
    layout = _layout(panel, legend=True)
    axis = {"automargin": True, "range": [0, 1], "tickformat": ".1f"}
    layout["xaxis"] = {**axis, "title": {"text": "mean score"}}
    layout["yaxis"] = {**axis, "title": {"text": "observed fraud rate"}}
    return go.Figure(traces, layout)


def bars(panel: Panel, rows: Rows) -> go.Figure:
    series = _series(rows)
    times = [x for xs, _ in series.values() for x in xs]
    width_ms = 0.85 * step(times).total_seconds() * 1000  # one bucket, not the whole chart
    traces = [go.Bar(x=xs, y=ys, name=name, width=width_ms, hovertemplate=_hover(panel.unit))
              for name, (xs, ys) in series.items()]
    layout = _time_axis(_layout(panel, legend=len(series) > 1), times)
    return go.Figure(traces, {**layout, "barmode": "stack"})


def _psi_colours() -> dict[str, Any]:
    """Pale below the drift threshold, orange to red above it (saturating at twice it)."""
    top = 2 * DRIFT_THRESHOLD
    ticks = [0, DRIFT_THRESHOLD / 2, DRIFT_THRESHOLD, 1.5 * DRIFT_THRESHOLD, top]
    return {
        "zmin": 0, "zmax": top,
        "colorscale": [[0, "#fffbe6"], [0.499, "#fde49a"], [0.5, "#fd8d3c"], [1, "#a50026"]],
        "colorbar": {"thickness": 12, "title": {"text": "PSI", "side": "right"},
                     "tickvals": ticks,
                     "ticktext": [f"{v:g}" for v in ticks[:2]] + [
                         f"{DRIFT_THRESHOLD:g} drift", f"{ticks[3]:g}", f"≥ {top:g}"]},
    }


def heatmap(panel: Panel, rows: Rows) -> go.Figure:
    """x = time, y = metric, z = value; PSI on a scale split at the drift threshold,
    shares (percentunit) from 0 to the largest."""
    times = sorted({plain(row["time"]) for row in rows})
    metrics = list(dict.fromkeys(str(row["metric"]) for row in rows))
    cell = {(plain(row["time"]), str(row["metric"])): plain(row["value"]) for row in rows}
    z = [[cell.get((t, m)) for t in times] for m in metrics]
    percent = panel.unit == "percentunit"
    colours = {"zmin": 0, "colorscale": "Blues",
               "colorbar": {"thickness": 12, "tickformat": ".0%"}} if percent else _psi_colours()
    # one day alone: a category axis (a date axis would draw a 1 ms wide column)
    x = times if len(times) > 1 else [_when(t) for t in times]
    trace = go.Heatmap(
        x=x, y=metrics, z=z, xgap=1, ygap=1, hoverongaps=False, **colours,
        hovertemplate="%{y}<br>%{x" + ("|%Y-%m-%d" if len(times) > 1 else "") + "}<br>"
                      + ("%{z:.1%}" if percent else "PSI %{z:.3f}") + "<extra></extra>")
    height = max(CHART_HEIGHT, 22 * len(metrics) + 80)
    layout = _layout(panel, legend=False, height=height)
    if len(times) == 1:
        layout["xaxis"] = {**layout["xaxis"], "type": "category"}
    # features read top-down (alphabetical); score buckets bottom-up, low scores at the bottom
    layout["yaxis"] = {"automargin": True, "type": "category",
                       "autorange": True if percent else "reversed"}
    return go.Figure(trace, layout)


FIGURES: dict[str, Callable[[Panel, Rows], go.Figure]] = {
    "timeseries": lines, "bars": bars, "heatmap": heatmap, "curve": curve}


# --- HTML --------------------------------------------------------------------------------

def _chart(panel: Panel, rows: Rows) -> str:
    figure = FIGURES[panel.kind](panel, rows)
    return pio.to_html(figure, full_html=False, include_plotlyjs=False,
                       div_id=f"panel-{panel.key}", default_width="100%",
                       default_height=f"{figure.layout.height}px",
                       config={"displaylogo": False, "responsive": True,
                               "modeBarButtonsToRemove": ["select2d", "lasso2d"]})


def _stat(panel: Panel, rows: Rows) -> str:
    value = format_value(rows[0]["value"], panel.unit)
    return (f'<div id="panel-{panel.key}" class="stat">'
            f'<span class="stat-value">{html.escape(value)}</span></div>')


def _table(panel: Panel, rows: Rows) -> str:
    columns = panel.columns or tuple(rows[0])
    align = {c: "num" if any(_is_number(row.get(c)) for row in rows) else "txt"
             for c in columns}
    head = "".join(f'<th class="{align[c]}">{html.escape(c.replace("_", " "))}</th>'
                   for c in columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="{align[c]}">{html.escape(format_cell(row.get(c)))}</td>'
                         for c in columns) + "</tr>"
        for row in rows)
    return (f'<div id="panel-{panel.key}" class="table-wrap"><table>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")


def _is_number(value: Any) -> bool:
    value = plain(value)
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_empty(panel: Panel, rows: Rows) -> bool:
    return not rows or (panel.kind == "stat" and rows[0].get("value") is None)


def panel_html(panel: Panel, rows: Rows) -> str:
    """One card: title, the drawing (or the no-data placeholder), the caption."""
    if _is_empty(panel, rows):
        body = f'<div id="panel-{panel.key}" class="empty">{EMPTY}</div>'
    elif panel.kind == "stat":
        body = _stat(panel, rows)
    elif panel.kind == "table":
        body = _table(panel, rows)
    else:
        body = _chart(panel, rows)
    caption = " ".join(filter(None, [panel.description, NOTES.get(panel.key, "")]))
    span = 24 if panel.width >= 24 else (12 if panel.width > 6 else 6)
    return (f'<article class="card span-{span} kind-{panel.kind}">'
            f"<h3>{html.escape(panel.title)}</h3>"
            f'<div class="chart chart-{panel.kind}">{body}</div>'
            + (f'<p class="caption">{html.escape(caption)}</p>' if caption else "")
            + "</article>")


def board_html(board: Board, results: Results) -> str:
    cards = "\n".join(panel_html(p, results.get(p.key, [])) for p in board.panels)
    return (f'<section class="board" id="board-{html.escape(board.uid)}">'
            f"<h2>{html.escape(board.title)}</h2>"
            f'<p class="board-description">{html.escape(board.description)}</p>'
            f'<div class="grid">\n{cards}\n</div></section>')


def _when(value: dt.datetime) -> str:
    """A time to the minute; a day when it is midnight."""
    value = plain(value)
    return value.strftime("%Y-%m-%d" if value.time() == dt.time() else "%Y-%m-%d %H:%M")


def _when_exact(value: dt.datetime) -> str:
    return plain(value).strftime("%Y-%m-%d %H:%M")


def time_range_label(start: dt.datetime | None, end: dt.datetime | None,
                     results: Results) -> str:
    """``start … end`` (UTC); open ends say so, and the span of the data found."""
    span = data_span(results)
    found = f"data found {_when(span[0])} … {_when(span[1])} UTC" if span else "no data found"
    if start is None and end is None:
        return f"all data ({found})"
    first = _when(start) if start else "the beginning"
    last = _when(end) if end else "now"
    return f"{first} … {last} UTC ({found})"


def render(boards: Iterable[Board], results: Results, *, title: str,
           generated_at: dt.datetime, database_label: str, start: dt.datetime | None = None,
           end: dt.datetime | None = None, freshness: Freshness | None = None,
           alarms: Sequence[Alarm] = ()) -> str:
    """The whole page: header, the stale-data banner when the marts are behind the newest
    transaction, one section per board, plotly.js inlined once in the head."""
    boards = list(boards)
    facts = [("Database", database_label),
             ("Time range", time_range_label(start, end, results)),
             ("Generated", f"{plain(generated_at):%Y-%m-%d %H:%M} UTC"),
             ("Source", f"the Grafana boards' panel SQL over schema analytics, "
                        f"run as {READER_ROLE}")]
    header = "".join(f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>"
                     for k, v in facts)
    sections = "\n".join(board_html(b, results) for b in boards)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<header class="page-header"><h1>{html.escape(title)}</h1><dl>{header}</dl></header>
<main>
{banner_html(freshness)}
{alarms_html(alarms)}
{sections}
</main>
<footer>pgfraud · self-contained report: no network access needed to view it.</footer>
</body>
</html>
"""


CSS = """
:root { --bg: #f3f4f7; --card: #fff; --ink: #1f2430; --muted: #5c6370; --line: #e3e6ec;
        --accent: #3274d9; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue",
             Arial, sans-serif; }
.page-header { background: #1f2430; color: #f3f4f7; padding: 20px 32px 16px; }
.page-header h1 { margin: 0 0 10px; font-size: 22px; font-weight: 600; }
.page-header dl { display: flex; flex-wrap: wrap; gap: 6px 32px; margin: 0; }
.page-header dl div { display: flex; gap: 8px; }
.page-header dt { color: #9aa3b2; }
.page-header dd { margin: 0; }
main { max-width: 1600px; margin: 0 auto; padding: 8px 24px 24px; }
.banner { margin: 16px 0 0; padding: 12px 16px; border-radius: 8px; font-weight: 600;
          background: #fff4e5; border: 1px solid #f5a623; color: #7a4500; }
.banner code { font-weight: 600; }
.banner.alarm { background: #fdecea; border-color: #d93025; color: #8a1c12; }
.board h2 { margin: 24px 0 2px; font-size: 19px; font-weight: 600; }
.board-description { margin: 0 0 12px; color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(24, minmax(0, 1fr)); gap: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
        padding: 14px 16px 12px; min-width: 0; display: flex; flex-direction: column;
        box-shadow: 0 1px 2px rgba(20, 30, 50, .05); }
.span-6 { grid-column: span 6; } .span-12 { grid-column: span 12; }
.span-24 { grid-column: span 24; }
.card h3 { margin: 0 0 8px; font-size: 15px; font-weight: 600; }
.chart { flex: 1; min-height: 0; }
.kind-heatmap { align-self: start; }  /* a tall heatmap does not stretch its neighbour */
.caption { margin: 10px 0 0; color: var(--muted); font-size: 12.5px; }
.stat { display: flex; align-items: center; justify-content: center; min-height: 84px; }
.stat-value { font-size: 40px; font-weight: 600; color: var(--accent);
              font-variant-numeric: tabular-nums; letter-spacing: -0.5px; }
.empty { display: flex; align-items: center; justify-content: center; min-height: 84px;
         color: var(--muted); font-style: italic; background: repeating-linear-gradient(
         -45deg, #fafbfc, #fafbfc 10px, #f3f4f7 10px, #f3f4f7 20px); border-radius: 6px; }
.kind-timeseries .empty, .kind-bars .empty, .kind-heatmap .empty,
.kind-curve .empty { min-height: 200px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { text-align: left; color: var(--muted); font-weight: 600; background: #f8f9fb; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:hover { background: #f6f8fc; }
footer { text-align: center; color: var(--muted); font-size: 12px; padding: 8px 0 24px; }
@media (max-width: 1100px) { .span-6 { grid-column: span 12; }
                             .span-12 { grid-column: span 24; } }
@media (max-width: 640px) { .span-6 { grid-column: span 24; }
                            main { padding: 8px 10px 16px; } }
"""
