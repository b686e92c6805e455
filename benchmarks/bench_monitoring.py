"""Monitoring: how long ``dbt build`` and ``pgfraud report`` take on a backtest's data.

Run by bench_replay on the database its 60-day replay leaves (transactions, champion
and shadow predictions, labels, several model versions): a cold ``dbt build`` (every
model and data test), the same build again with nothing new (the incremental marts
recompute only their newest days), a ``--full-refresh``, and the HTML report.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from benchmarks.common import Section, table, timed
from pgfraud.monitoring import dbt_runner as analytics
from pgfraud.monitoring import report


def _slowest(state: Path, count: int = 4) -> list[tuple[str, float]]:
    """The slowest models of the last dbt run (from run_results.json)."""
    results = json.loads((state / "target" / "run_results.json").read_text())["results"]
    models = [(r["unique_id"].split(".")[-1], r["execution_time"]) for r in results
              if r["unique_id"].startswith("model.")]
    return sorted(models, key=lambda m: -m[1])[:count]


def run(url: str, folder: Path) -> Section:
    state = folder / "dbt"
    cold = timed(lambda: analytics.build(url, state_dir=state))
    slowest = _slowest(state)
    again = timed(lambda: analytics.build(url, state_dir=state))
    full = timed(lambda: analytics.build(url, state_dir=state, full_refresh=True))
    out = folder / "report.html"
    rendered = timed(lambda: report.write_report(url, out))
    with psycopg.connect(url) as conn:
        ((predictions, drift_rows, days),) = conn.execute(
            "select (select count(*) from scoring.predictions),"
            " (select count(*) from analytics.fct_daily_feature_drift),"
            " (select count(distinct day) from analytics.fct_daily_model_performance)")
    rows = [["cold (every model and data test)", f"{cold:.1f} s"],
            ["again, nothing new (incremental marts)", f"{again:.1f} s"],
            ["`--full-refresh`", f"{full:.1f} s"],
            [f"`pgfraud report` ({out.stat().st_size / 2**20:.1f} MiB, self-contained)",
             f"{rendered:.1f} s"]]
    return Section("Monitoring marts and report", "\n\n".join([
        f"`dbt build` on the replay's database: {predictions:,} predictions over {days} "
        f"event days, {drift_rows:,} feature-drift rows (PSI per feature, day and model).",
        table(["run", "wall time"], rows),
        "Slowest models in the cold build: " + ", ".join(
            f"{name} {seconds:.1f} s" for name, seconds in slowest) + ".",
    ]))
