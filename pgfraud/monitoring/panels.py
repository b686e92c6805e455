"""The monitoring panels, defined once: Grafana dashboards and ``pgfraud report`` both
render these.

Each panel is a SQL query over the dbt marts in ``analytics`` (the only schema the
read-only Grafana role may read) plus how to draw it. Queries use Grafana's
``$__timeFilter(column)`` macro; :func:`expand` replaces it with a range between two
parameters, so the same text runs outside Grafana (tests, the HTML report).

Result shapes, by ``kind``:

- ``stat``: one row, one column ``value``.
- ``timeseries`` / ``bars`` / ``heatmap``: columns ``time``, ``metric`` (series name) and
  ``value`` (long format; Grafana turns one series per ``metric``).
- ``curve``: columns ``metric`` (series name), ``x``, ``y`` and ``count`` (points of a
  curve that is not over time, e.g. a reliability curve); Grafana shows them as a table.
- ``table``: any columns; ``columns`` lists them.

Panels about "the champion" per day join ``analytics.fct_daily_champions`` on (day,
model_version): the version that made the day's decisions then, never the version whose
status is champion now. ``step`` is a time series' bucket (a minute, an hour, a day):
points further apart than that are drawn with a gap, not joined by a line.

>>> p = Panel("x", "X", "stat", "select 1 as value where $__timeFilter(day)")
>>> query, params = expand(p.sql, dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
...                        dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
>>> query
'select 1 as value where day between %(time_from)s::timestamptz and %(time_to)s::timestamptz'
>>> params["time_to"]
datetime.datetime(2026, 1, 2, 0, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Literal

Kind = Literal["stat", "timeseries", "bars", "heatmap", "curve", "table"]

#: Column names each result shape must have.
SHAPES: dict[str, tuple[str, ...]] = {
    "stat": ("value",),
    "timeseries": ("time", "metric", "value"),
    "bars": ("time", "metric", "value"),
    "heatmap": ("time", "metric", "value"),
    "curve": ("metric", "x", "y", "count"),
}

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

_TIME_FILTER = re.compile(r"\$__timeFilter\(\s*([a-z_][a-z0-9_.]*)\s*\)")


@dataclasses.dataclass(frozen=True)
class Panel:
    """One chart: a stable key, a title, how to draw it, and its SQL."""

    key: str
    title: str
    kind: Kind
    sql: str
    description: str = ""
    unit: str = "short"          # Grafana unit id: short, ms, percentunit, h, …
    width: int = 12              # Grafana grid columns (of 24)
    height: int = 8
    columns: tuple[str, ...] = ()  # for tables: the columns, in order
    step: dt.timedelta | None = None  # a time series' bucket: wider gaps are drawn as gaps

    @property
    def expected_columns(self) -> tuple[str, ...]:
        return self.columns if self.kind == "table" else SHAPES[self.kind]


@dataclasses.dataclass(frozen=True)
class Annotation:
    """Marks on a board's time axis: SQL returning ``time`` and ``text``."""

    name: str
    sql: str


@dataclasses.dataclass(frozen=True)
class Board:
    """A dashboard: fixed uid (so links and provisioning stay stable) and its panels."""

    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    time_from: str = "now-7d"     # Grafana's default range for the board
    refresh: str = "1m"
    annotations: tuple[Annotation, ...] = ()


def expand(query: str, start: dt.datetime, end: dt.datetime
           ) -> tuple[str, dict[str, dt.datetime]]:
    """``query`` with every ``$__timeFilter(col)`` replaced by a range on ``col`` between
    the parameters ``%(time_from)s`` and ``%(time_to)s`` (what Grafana does before sending
    it, with parameters where Grafana writes literals), and those parameters: ``start``
    and ``end``, datetimes, not text. Run the two together (``execute(*expand(...))``): a
    literal ``%`` of the panel's SQL comes out as ``%%``, which binding turns back into
    ``%``.

    >>> day = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> expand("select 1 where name like 'v%' and $__timeFilter(t)", day, day)[0]
    "select 1 where name like 'v%%' and t between %(time_from)s::timestamptz and \
%(time_to)s::timestamptz"
    """
    if not (isinstance(start, dt.datetime) and isinstance(end, dt.datetime)):
        raise TypeError("start and end must be datetimes")
    query = _TIME_FILTER.sub(
        lambda m: f"{m.group(1)} between %(time_from)s::timestamptz "
                  f"and %(time_to)s::timestamptz",
        query.replace("%", "%%"))
    return query, {"time_from": start, "time_to": end}


def _unpivot(mart: str, alias: str, time: str, pairs: tuple[tuple[str, str], ...],
             where: str, join: str = "") -> str:
    """Several columns of one mart as long-format series: a ``metric`` per (label,
    column) pair, through a lateral VALUES list (after an optional ``join`` clause).
    Every argument is a constant of this module (SQL text), never a runtime value."""
    values = ", ".join(f"('{label}', {column})" for label, column in pairs)
    return (f"select {time} as time, s.metric, s.value\n"
            f"from analytics.{mart} as {alias}\n" + (f"{join}\n" if join else "")
            + f"cross join lateral (values {values}) as s (metric, value)\n"
            f"where {where}\norder by 1, 2")


# --- operations board: wall-clock time (when things were scored / quarantined) -------

def _stat(key: str, title: str, aggregate: str, mart: str, time_column: str,
          description: str, unit: str = "short", width: int = 6) -> Panel:
    """A one-number tile: ``aggregate`` over ``mart`` rows in the time range."""
    return Panel(key, title, "stat",
                 f"select {aggregate} as value\n"
                 f"from analytics.{mart}\nwhere $__timeFilter({time_column})",
                 description, unit=unit, width=width, height=4)


SCORED = _stat("transactions_scored", "Transactions scored",
               "coalesce(sum(transactions_scored), 0)", "fct_scoring_minutes", "minute_at",
               "Champion predictions written in the time range.")
ALERTS_TOTAL = _stat("alerts_total", "Alerts raised", "coalesce(sum(alerts), 0)",
                     "fct_scoring_minutes", "minute_at",
                     "Champion decisions above threshold in the time range.")
WORST_P99 = _stat("latency_p99_worst", "Worst minute's p99 latency", "max(latency_p99_ms)",
                  "fct_scoring_minutes", "minute_at",
                  "Ingest commit to prediction commit, p99 of the worst minute in the range.",
                  unit="ms")
QUARANTINED_TOTAL = _stat("quarantined_total", "Rows quarantined",
                          "coalesce(sum(quarantined), 0)", "fct_hourly_quarantine", "hour_at",
                          "Rejected input rows in the time range (all reasons).")

THROUGHPUT = Panel(
    "throughput", "Throughput (transactions scored per minute)", "timeseries",
    "select minute_at as time, 'scored per minute' as metric,\n"
    "       transactions_scored as value\n"
    "from analytics.fct_scoring_minutes\nwhere $__timeFilter(minute_at)\norder by 1",
    "Champion predictions per minute of wall-clock time; idle minutes are gaps.",
    step=MINUTE)

LATENCY = Panel(
    "latency", "Scoring latency per minute (p50, p95, p99)", "timeseries",
    _unpivot("fct_scoring_minutes", "m", "m.minute_at",
             (("p50", "m.latency_p50_ms"), ("p95", "m.latency_p95_ms"),
              ("p99", "m.latency_p99_ms")),
             "$__timeFilter(m.minute_at)"),
    "Ingest commit to prediction commit, percentiles over each minute's predictions.",
    unit="ms", step=MINUTE)

ALERTS_PER_MINUTE = Panel(
    "alerts_per_minute", "Alerts per minute", "bars",
    "select minute_at as time, 'alerts' as metric, alerts as value\n"
    "from analytics.fct_scoring_minutes\nwhere $__timeFilter(minute_at)\norder by 1",
    step=MINUTE)

QUARANTINE = Panel(
    "quarantine_by_reason", "Quarantined rows per hour, by reason", "bars",
    "select hour_at as time, reason as metric, sum(quarantined) as value\n"
    "from analytics.fct_hourly_quarantine\nwhere $__timeFilter(hour_at)\n"
    "group by 1, 2\norder by 1, 2",
    "Rejected input by machine-readable reason (docs/producer.md).", step=HOUR)

# The HTTP API (`pgfraud serve`): what it answered, and how fast (server-side).

API_DECISIONS_TOTAL = _stat(
    "api_decisions_total", "API decisions", "coalesce(sum(decisions), 0)",
    "fct_api_minutes", "minute_at",
    "Authorizations the HTTP API answered in the time range (retries answered from a "
    "stored decision are not counted again).", width=12)
API_FALLBACKS_TOTAL = _stat(
    "api_fallbacks_total", "API fallbacks", "coalesce(sum(fallbacks), 0)",
    "fct_api_minutes", "minute_at",
    "API answers the configured fallback gave instead of the champion's score "
    "(deadline passed, no champion, error).", width=12)

API_DECISIONS_PER_MINUTE = Panel(
    "api_decisions_per_minute", "API decisions per minute by decision", "timeseries",
    _unpivot("fct_api_minutes", "a", "a.minute_at",
             (("approve", "a.approvals"), ("review", "a.reviews"),
              ("decline", "a.declines"), ("fallback", "a.fallbacks")),
             "$__timeFilter(a.minute_at)"),
    "Answers per minute of wall-clock time; 'fallback' counts the answers the configured "
    "fallback gave, which are counted under their decision too.", step=MINUTE)

API_LATENCY = Panel(
    "api_latency", "API latency per minute (p50, p95, p99)", "timeseries",
    _unpivot("fct_api_minutes", "a", "a.minute_at",
             (("p50", "a.latency_p50_ms"), ("p95", "a.latency_p95_ms"),
              ("p99", "a.latency_p99_ms")),
             "$__timeFilter(a.minute_at)"),
    "Server-side, request received to decision, percentiles over each minute's decisions.",
    unit="ms", step=MINUTE)

OPERATIONS = Board(
    uid="pgfraud-operations", title="pgfraud · operations",
    description="Is scoring keeping up? Throughput, latency, alerts, rejected input and "
                "what the HTTP API answered.",
    panels=(SCORED, ALERTS_TOTAL, WORST_P99, QUARANTINED_TOTAL, THROUGHPUT, LATENCY,
            ALERTS_PER_MINUTE, QUARANTINE, API_DECISIONS_TOTAL, API_FALLBACKS_TOTAL,
            API_DECISIONS_PER_MINUTE, API_LATENCY),
    time_from="now-6h", refresh="30s")

# --- model board: event time (the day a transaction happened) ------------------------

_PER_VERSION = (
    "select day::timestamptz as time, 'v' || model_version || ' ' || role as metric,\n"
    "       {column} as value\n"
    "from analytics.{mart}\n"
    "where $__timeFilter(day) and {column} is not null\norder by 1, 2")

#: Rows of the day's champion only (the version that decided that day's transactions).
_CHAMPION_OF_THE_DAY = "join analytics.fct_daily_champions as c using (day, model_version)"


def _per_version(column: str, mart: str = "fct_daily_model_performance") -> str:
    """One series per (model version, role it had when scoring), by event day."""
    return _PER_VERSION.format(column=column, mart=mart)


AVERAGE_PRECISION = Panel(
    "average_precision", "Average precision per model version (daily)", "timeseries",
    _per_version("average_precision"),
    "Over transactions labelled so far. Recent days are flattered: reviewed alerts are "
    "labelled first, missed fraud arrives later as chargebacks.", unit="percentunit",
    step=DAY)

MATURED_AVERAGE_PRECISION = Panel(
    "matured_average_precision", "Average precision on matured labels (daily)",
    "timeseries", _per_version("matured_average_precision"),
    "Each transaction's label as known label_maturity_days after it; unlabelled by then "
    "counts as genuine. Days younger than that have no value.", unit="percentunit",
    step=DAY)

ROC_AUC = Panel(
    "roc_auc", "ROC AUC per model version (daily)", "timeseries",
    _per_version("roc_auc"), "Over labelled transactions.",
    unit="percentunit", step=DAY)

CHAMPION_DECISIONS = Panel(
    "champion_decisions", "Champion precision and recall at threshold (daily)", "timeseries",
    _unpivot("fct_daily_model_performance", "p", "p.day::timestamptz",
             (("precision", "p.precision"), ("recall", "p.recall"),
              ("matured precision", "p.matured_precision"),
              ("matured recall", "p.matured_recall"),
              ("card precision@100", "p.card_precision_at_100")),
             "p.role = 'champion' and $__timeFilter(p.day) and s.value is not null",
             join=_CHAMPION_OF_THE_DAY),
    "Each day's champion: the version that made that day's decisions.",
    unit="percentunit", step=DAY)

VALUE_DETECTED = Panel(
    "value_detected", "Value detected per model version (daily)", "timeseries",
    _per_version("value_detected", "fct_daily_decision_value"),
    "Fraud amount alerted ÷ fraud amount, over transactions labelled so far "
    "(a shadow's alerts are the ones it would have raised).", unit="percentunit",
    step=DAY)

DRIFT = Panel(
    "feature_drift", "Feature drift of the day's champion (PSI per feature and day)",
    "heatmap",
    "select d.day::timestamptz as time, d.feature as metric, d.psi as value\n"
    "from analytics.fct_daily_feature_drift as d\n"
    f"{_CHAMPION_OF_THE_DAY}\n"
    "where $__timeFilter(d.day)\norder by 1, 2",
    "PSI against the training distribution of the model that was champion that day; "
    "'score' is the score distribution. Above 0.2 is flagged as drifted.")

SCORE_DISTRIBUTION = Panel(
    "score_distribution", "Champion score distribution (share of predictions per bucket)",
    "heatmap",
    "select s.day::timestamptz as time, s.bucket_label as metric, s.share as value\n"
    "from analytics.fct_daily_score_distribution as s\n"
    f"{_CHAMPION_OF_THE_DAY}\n"
    "where s.role = 'champion' and $__timeFilter(s.day)\norder by 1, s.bucket",
    "Scores of each day's champion.", unit="percentunit")

LABEL_BACKLOG = Panel(
    "label_backlog", "Label backlog (by transaction day)", "bars",
    _unpivot("fct_daily_label_backlog", "b", "b.day::timestamptz",
             (("alerts awaiting review", "b.unreviewed_alerts"),
              ("unlabelled, not alerted", "b.unlabelled - b.unreviewed_alerts"),
              ("labelled", "b.labelled")),
             "$__timeFilter(b.day)"), step=DAY)

LABEL_DELAY = Panel(
    "label_delay", "Label delay (transaction to first label)", "timeseries",
    _unpivot("fct_daily_label_backlog", "b", "b.day::timestamptz",
             (("p50", "b.label_delay_p50_hours"), ("p90", "b.label_delay_p90_hours")),
             "$__timeFilter(b.day) and s.value is not null"),
    unit="h", step=DAY)

MONEY_COLUMNS = ("model_version", "role", "alerts", "frauds", "fraud_amount",
                 "fraud_amount_alerted", "value_detected", "analyst_hours",
                 "frauds_alerted_per_analyst_hour")
DECISIONS_IN_MONEY = Panel(
    "decisions_in_money", "Decisions in money and analyst time (per model version)", "table",
    "select model_version, role, sum(alerts) as alerts, sum(frauds) as frauds,\n"
    "       sum(fraud_amount) as fraud_amount,\n"
    "       sum(fraud_amount_alerted) as fraud_amount_alerted,\n"
    "       (sum(fraud_amount_alerted) / nullif(sum(fraud_amount), 0))::float8\n"
    "           as value_detected,\n"
    "       sum(analyst_hours) as analyst_hours,\n"
    "       sum(frauds_alerted) / nullif(sum(analyst_hours), 0)\n"
    "           as frauds_alerted_per_analyst_hour\n"
    "from analytics.fct_daily_decision_value\nwhere $__timeFilter(day)\n"
    "group by model_version, role\norder by model_version desc, role",
    "Over the time range. value_detected = fraud amount alerted ÷ fraud amount "
    "(labelled transactions); analyst hours = alerts × review_minutes_per_alert (dbt "
    "var, 5) ÷ 60.", columns=MONEY_COLUMNS, width=24)

RELIABILITY = Panel(
    "reliability", "Reliability curve per model version (mean score vs fraud rate)",
    "curve",
    "select 'v' || r.model_version || ' (Brier ' || round(c.brier_score::numeric, 4)\n"
    "       || ')' as metric,\n"
    "       r.mean_score as x, r.observed_fraud_rate as y, r.predictions as count\n"
    "from analytics.fct_model_reliability as r\n"
    "join analytics.fct_model_calibration as c using (model_version)\n"
    "order by r.model_version desc, r.bin",
    "All labelled predictions of each version (labels known now, matured or not), in 10 "
    "equal-width score bins. On the diagonal: calibrated.", unit="percentunit")

CALIBRATION_COLUMNS = ("model_version", "labelled", "frauds", "mean_score", "fraud_rate",
                       "brier_score")
CALIBRATION = Panel(
    "calibration", "Calibration per model version (Brier score)", "table",
    "select model_version, labelled, frauds, mean_score, fraud_rate, brier_score\n"
    "from analytics.fct_model_calibration\norder by model_version desc",
    "Brier score = mean (score − label)², over all labelled predictions; lower is better.",
    columns=CALIBRATION_COLUMNS)

CHAMPIONS_COLUMNS = ("day", "model_version", "previous_model_version", "champion_versions",
                     "champion_transactions", "day_transactions")
CHAMPIONS = Panel(
    "champion_changes", "Champion changes (event time)", "table",
    "select day, model_version, previous_model_version, champion_versions,\n"
    "       champion_transactions, day_transactions\n"
    "from analytics.fct_daily_champions\n"
    "where (is_new_champion or previous_model_version is null or champion_versions > 1)\n"
    "  and $__timeFilter(day)\norder by day desc",
    "Days a different version became the champion (and the first day), from the "
    "predictions: the version that decided most of the day's transactions.",
    columns=CHAMPIONS_COLUMNS)

PROMOTION_DECISIONS = Panel(
    "promotion_decisions", "Promotion decisions", "table",
    "select decided_at, outcome, rule, detail, champion_version, challenger_version,\n"
    "       evaluated_positives, ap_difference_lower_bound, needs_attention\n"
    "from analytics.fct_model_decisions\n"
    "where $__timeFilter(decided_at)\norder by decided_at desc",
    "Every retraining round, guardrail and manual promotion: the rule that decided and its "
    "numbers (docs/models.md). needs_attention: a guardrail fired or a parity check failed.",
    columns=("decided_at", "outcome", "rule", "detail", "champion_version",
             "challenger_version", "evaluated_positives", "ap_difference_lower_bound",
             "needs_attention"),
    width=24)

MODELS = Panel(
    "models", "Models", "table",
    "select model_version, status, threshold, validation_roc_auc,\n"
    "       validation_average_precision, trained_from, trained_to, promoted_at\n"
    "from analytics.dim_models\norder by model_version desc",
    "The registry now: status is the current one (history is in the panels above).",
    columns=("model_version", "status", "threshold", "validation_roc_auc",
             "validation_average_precision", "trained_from", "trained_to", "promoted_at"),
    width=24)

CHAMPION_CHANGES = Annotation(
    "Champion changes",
    "select day::timestamptz as time,\n"
    "       'v' || model_version || ' champion (was v' || previous_model_version || ')'\n"
    "           as text\n"
    "from analytics.fct_daily_champions\n"
    "where is_new_champion and $__timeFilter(day)\norder by 1")

MODEL = Board(
    uid="pgfraud-model", title="pgfraud · model",
    description="Is the model still good? Accuracy per version, money, drift, scores, "
                "calibration and labels.",
    panels=(AVERAGE_PRECISION, MATURED_AVERAGE_PRECISION, ROC_AUC, CHAMPION_DECISIONS,
            VALUE_DETECTED, DRIFT, SCORE_DISTRIBUTION, RELIABILITY, DECISIONS_IN_MONEY,
            CALIBRATION, CHAMPIONS, PROMOTION_DECISIONS, LABEL_BACKLOG, LABEL_DELAY, MODELS),
    time_from="now-30d", refresh="5m", annotations=(CHAMPION_CHANGES,))

BOARDS: tuple[Board, ...] = (OPERATIONS, MODEL)
