"""``pgfraud report`` rendering: fabricated rows for every panel, checked as text and in
headless Chromium (no database needed)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser
from plotly.offline import get_plotlyjs

from pgfraud.kernel.db import redact
from pgfraud.monitoring import report
from pgfraud.monitoring.panels import BOARDS, Panel
from tests.browser import OpenPage, chromium, open_page

START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
PANELS = [panel for board in BOARDS for panel in board.panels]
EMPTY = {"label_delay"}  # given no rows: must show the placeholder
METRICS = {
    "latency": ["p50", "p95", "p99"],
    "quarantine_by_reason": ["bad_card_number", "conflict", "negative_amount"],
    "average_precision": ["v1 champion", "v2 shadow"],
    "matured_average_precision": ["v1 champion", "v2 shadow"],
    "roc_auc": ["v1 champion", "v2 shadow"],
    "value_detected": ["v1 champion", "v2 shadow"],
    "champion_decisions": ["precision", "recall", "matured precision", "matured recall",
                           "card precision@100"],
    "feature_drift": ["amount", "amount_vs_card_avg_30d", "category", "distance_km",
                      "hour_of_day", "score", "tx_count_card_1h", "tx_count_card_24h"],
    "score_distribution": [f"{i / 10:.1f}–{(i + 1) / 10:.1f}" for i in range(10)],
    "label_backlog": ["alerts awaiting review", "unlabelled, not alerted", "labelled"],
    "label_delay": ["p50", "p90"],
    "api_decisions_per_minute": ["approve", "review", "decline", "fallback"],
    "api_latency": ["p50", "p95", "p99"],
}
STATS = {  # key: (value, what the tile must show)
    "transactions_scored": (123456, "123,456"),
    "alerts_total": (789, "789"),
    "latency_p99_worst": (Decimal("187.4"), "187 ms"),
    "quarantined_total": (0, "0"),
    "api_decisions_total": (45678, "45,678"),
    "api_fallbacks_total": (12, "12"),
}
PER_MINUTE = {"throughput", "latency", "alerts_per_minute", "api_decisions_per_minute",
              "api_latency"}
#: Minutes of the fabricated throughput with no traffic: the line must break there.
IDLE = range(60, 90)
CHARTS = [p.key for p in PANELS if p.kind in ("timeseries", "bars", "heatmap", "curve")]
DATABASE = "postgresql://grafana:s3cret@db.example:5432/pgfraud"


def long_rows(panel: Panel) -> list[dict[str, Any]]:
    """(time, metric, value) rows: minutes for the operations board, days for the model."""
    per_minute = panel.key in PER_MINUTE
    step = dt.timedelta(minutes=1) if per_minute else dt.timedelta(days=1)
    count = 180 if per_minute else 21
    metrics = METRICS.get(panel.key, [panel.key.replace("_", " ")])
    rows = []
    for i in range(count):
        for j, metric in enumerate(metrics):
            wave = (i * 7 + j * 13) % 10 / 10
            value: Any = {"percentunit": 0.6 + 0.3 * wave + 0.02 * j,
                          "ms": 20 + 15 * j + 30 * wave}.get(panel.unit, int(5 + 40 * wave))
            if panel.key == "feature_drift":
                value = Decimal(f"{0.02 + 0.3 * wave * (j % 3 == 0):.4f}")
            if panel.key == "score_distribution":
                value = 0.5 / (j + 1)
            if panel.key == "throughput" and i in IDLE:
                continue
            rows.append({"time": START + i * step, "metric": metric, "value": value})
    return rows


def curve_rows() -> list[dict[str, Any]]:
    """Two reliability curves: one calibrated, one over-confident."""
    return [{"metric": f"v{v} (Brier 0.0{v}00)", "x": (b + 0.5) / 10,
             "y": (b + 0.5) / 10 * (1 if v == 2 else 0.5), "count": 1000 // (b + 1)}
            for v in (2, 1) for b in range(10)]


def table_rows(panel: Panel) -> list[dict[str, Any]]:
    if panel.key == "models":
        return model_rows()
    values: dict[str, Any] = {"model_version": 2, "role": "champion", "day": dt.date(2026, 3, 5),
                              "fraud_amount": Decimal("12345.60"),
                              "fraud_amount_alerted": Decimal("9876.50"),
                              "value_detected": 0.8, "brier_score": 0.0123}
    return [{c: values.get(c, 7) for c in panel.columns}]


def model_rows() -> list[dict[str, Any]]:
    return [{"model_version": v, "status": s, "threshold": Decimal("0.5123"),
             "validation_roc_auc": 0.97 + v / 1000, "validation_average_precision": 0.81,
             "trained_from": dt.date(2026, 1, 1), "trained_to": dt.date(2026, 2, 1),
             "promoted_at": START if s == "champion" else None}
            for v, s in ((3, "shadow"), (2, "champion"), (1, "retired"))]


def fabricate(panel: Panel) -> list[dict[str, Any]]:
    if panel.key in EMPTY:
        return []
    if panel.kind == "stat":
        return [{"value": STATS[panel.key][0]}]
    if panel.kind == "table":
        return table_rows(panel)
    if panel.kind == "curve":
        return curve_rows()
    return long_rows(panel)


def test_fabricated_rows_have_each_panels_columns() -> None:
    for panel in PANELS:
        for row in fabricate(panel):
            assert tuple(row) == panel.expected_columns, panel.key


@pytest.fixture(scope="module")
def page() -> str:
    results = {panel.key: fabricate(panel) for panel in PANELS}
    return report.render(BOARDS, results, title=report.TITLE, database_label=redact(DATABASE),
                         generated_at=dt.datetime(2026, 3, 22, 9, 30, tzinfo=dt.UTC))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as headless:
        yield headless


@pytest.fixture(scope="module")
def opened(page: str, browser: Browser,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenPage]:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(page, encoding="utf-8")
    with open_page(browser, path) as browser_page:
        yield browser_page


def test_loads_nothing_from_outside(page: str) -> None:
    assert "<script src" not in page.lower()
    assert "<link" not in page.lower()
    ours = page.replace(get_plotlyjs(), "")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", ours, re.IGNORECASE)


def test_inlines_plotly_once(page: str) -> None:
    assert page.count(get_plotlyjs()) == 1
    assert page.count("plotly.js v") == 1


def test_every_panel_has_one_element(page: str) -> None:
    for panel in PANELS:
        assert page.count(f'id="panel-{panel.key}"') == 1, panel.key


def test_empty_panel_shows_the_placeholder(page: str) -> None:
    assert f'<div id="panel-label_delay" class="empty">{report.EMPTY}</div>' in page
    assert page.count(report.EMPTY) == len(EMPTY)


def test_header_and_captions(page: str) -> None:
    assert "postgresql://grafana:***@db.example:5432/pgfraud" in page
    assert "s3cret" not in page
    assert "2026-03-22 09:30 UTC" in page
    assert "all data (data found 2026-03-01 … 2026-03-21 UTC)" in page
    assert "Above 0.2 is flagged as drifted" in page and "0.2 drift threshold" in page
    for board in BOARDS:
        assert board.description in page


def test_a_stat_without_a_value_is_empty() -> None:
    panel = next(p for p in PANELS if p.key == "latency_p99_worst")
    assert report.EMPTY in report.panel_html(panel, [{"value": None}])


@pytest.mark.parametrize(("value", "unit", "shown"), [
    (0, "short", "0"), (1234567, "short", "1,234,567"), (Decimal("2.5"), "short", "2.5"),
    (0.05, "percentunit", "5.0%"), (1, "percentunit", "100.0%"), (4.25, "ms", "4.2 ms"),
    (999, "ms", "999 ms"), (61234, "ms", "61.23 s"), (36, "h", "36.0 h"), (None, "ms", "–"),
])
def test_format_value(value: Any, unit: str, shown: str) -> None:
    assert report.format_value(value, unit) == shown


def test_in_chromium_without_errors_or_requests(opened: OpenPage,
                                                tmp_path_factory: pytest.TempPathFactory
                                                ) -> None:
    shot = opened.screenshot(tmp_path_factory.mktemp("screenshot") / "report.png")
    print(f"screenshot: {shot}")
    assert opened.problems == []


@pytest.mark.parametrize("key", CHARTS)
def test_in_chromium_charts_draw(opened: OpenPage, key: str) -> None:
    if key in EMPTY:
        assert opened.count(f"#panel-{key} .main-svg") == 0
        assert opened.text(f"#panel-{key}") == report.EMPTY
    else:
        assert opened.count(f"#panel-{key} .main-svg") >= 1
        assert opened.count(f".chart #panel-{key}") == 1


def test_in_chromium_stats_and_table(opened: OpenPage) -> None:
    for key, (_, shown) in STATS.items():
        assert opened.text(f"#panel-{key} .stat-value") == shown
    assert opened.count("#panel-models tbody tr") == 3
    assert "champion" in opened.text("#panel-models")
    money = opened.text("#panel-decisions_in_money")
    assert "12,345.60" in money and "9,876.50" in money  # money keeps its cents


def test_in_chromium_an_idle_stretch_is_a_gap(opened: OpenPage) -> None:
    """The throughput line is two strokes, one before the idle minutes and one after,
    while each series without idle minutes (the latency percentiles) is one."""
    strokes = opened.page.locator("#panel-throughput .scatterlayer .js-line").all()
    assert len(strokes) == 2
    assert all((s.get_attribute("d") or "").count("M") == 1 for s in strokes)
    assert opened.count("#panel-latency .scatterlayer .js-line") == len(METRICS["latency"])


def test_gaps_follow_the_panels_step() -> None:
    panel = next(p for p in PANELS if p.key == "throughput")
    rows = [{"time": START + dt.timedelta(minutes=m), "metric": "scored", "value": m}
            for m in (0, 1, 2, 10, 11)]
    (trace,) = report.lines(panel, rows).data
    assert list(trace.y) == [0, 1, 2, None, 10, 11]
    assert trace.connectgaps is False
    daily = next(p for p in PANELS if p.key == "average_precision")
    days = [{"time": START + dt.timedelta(days=d), "metric": "v1 champion", "value": 0.5}
            for d in (0, 1, 3)]
    (trace,) = report.lines(daily, days).data
    assert list(trace.y) == [0.5, 0.5, None, 0.5]


def test_the_reliability_curve_has_the_diagonal(opened: OpenPage) -> None:
    panel = next(p for p in PANELS if p.key == "reliability")
    figure = report.curve(panel, curve_rows())
    diagonal, *curves = figure.data
    assert (list(diagonal.x), list(diagonal.y)) == ([0, 1], [0, 1])
    assert [c.name for c in curves] == ["v2 (Brier 0.0200)", "v1 (Brier 0.0100)"]
    assert opened.count("#panel-reliability .scatterlayer .trace") == 3
    assert "Brier 0.0200" in opened.text("#panel-reliability")


@pytest.mark.parametrize(("marts_at", "newest_at", "shown"), [
    (START, START + dt.timedelta(minutes=42), "marts are 42 minutes behind"),
    (START, START + dt.timedelta(hours=5, minutes=59), "marts are 5 hours behind"),
    (START, START + dt.timedelta(days=3), "marts are 3 days behind"),
    (START, START, None),
    (START + dt.timedelta(hours=1), START, None),
    (START, None, None),
])
def test_stale_banner(marts_at: dt.datetime, newest_at: dt.datetime | None,
                      shown: str | None) -> None:
    page = report.render(BOARDS, {}, title="t", database_label="db", generated_at=START,
                         freshness=report.Freshness(marts_at, newest_at))
    if shown is None:
        assert 'id="stale-banner"' not in page
    else:
        banner = re.search(r'<div id="stale-banner"[^>]*>(.*?)</div>', page)
        assert banner is not None
        assert banner.group(1).startswith(shown + " the newest transaction")
        assert banner.group(1).endswith("run <code>pgfraud refresh</code>")
        assert page.index('id="stale-banner"') < page.index('class="board"')


def test_one_point_in_time_spans_a_few_buckets() -> None:
    minute = dt.datetime(2026, 3, 1, 20, 52)
    panel = next(p for p in PANELS if p.key == "alerts_per_minute")
    figure = report.bars(panel, [{"time": minute, "metric": "alerts", "value": 121}])
    low, high = figure.layout.xaxis.range
    assert (low, high) == (minute - dt.timedelta(minutes=3), minute + dt.timedelta(minutes=3))
    assert figure.data[0].width == pytest.approx(0.85 * 60_000)
    assert report.step([START]) == dt.timedelta(days=1)
    assert report.step([START, START + dt.timedelta(hours=2), START + dt.timedelta(hours=3)]
                       ) == dt.timedelta(hours=1)


def test_one_point_per_chart_in_chromium(browser: Browser, tmp_path: Path) -> None:
    """A database scored for a minute: every chart still draws, with readable time ticks."""
    minute = START + dt.timedelta(hours=20, minutes=52)
    results = {p.key: [{**row, "time": minute if p.key in PER_MINUTE else START}
                       for row in fabricate(p) if row["time"] == START]
               if p.key in CHARTS and p.kind != "curve" else fabricate(p) for p in PANELS}
    path = tmp_path / "one.html"
    path.write_text(report.render(BOARDS, results, title="one", database_label="db",
                                  generated_at=minute), encoding="utf-8")
    with open_page(browser, path) as opened:
        assert opened.problems == []
        for key in CHARTS:
            if key not in EMPTY:
                assert opened.count(f"#panel-{key} .main-svg") >= 1, key
        ticks = opened.page.locator(".xtick text").all_text_contents()
        assert ticks and not [t for t in ticks if re.search(r":\d\d\.\d", t)], ticks
