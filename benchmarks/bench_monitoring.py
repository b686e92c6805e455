"""Monitoring: how long ``dbt build`` and ``pgfraud report`` take on a backtest's data.

Run by bench_replay on the database its 60-day replay leaves (transactions, champion
and shadow predictions, labels, several model versions): a cold ``dbt build`` (every
model and data test), the same build again with nothing new (dbt run anyway, as
``--force`` does: the incremental marts recompute only their newest days; median of
three), a ``--full-refresh``, then the build as the commands run it with nothing new
(the inputs' fingerprint equals the last build's, so dbt is skipped): in process, and
``pgfraud dbt build`` as a whole command (Python's start included); and the HTML
report. Each build's wall time, dbt's own run time from ``run_results.json`` (the wall
time less dbt's start: Python imports and parsing the project) and the drift models'.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg

from benchmarks.common import Section, table, timed
from pgfraud.monitoring import dbt_runner as analytics
from pgfraud.monitoring import report

#: The drift models: daily bin counts (incremental) and the PSI summed from them.
DRIFT = ("fct_daily_feature_histograms", "fct_daily_feature_drift")
AGAIN = 3


@dataclass(frozen=True)
class Build:
    """One ``dbt build``: wall seconds, dbt's run seconds and each node's seconds."""

    wall: float
    run: float
    nodes: dict[str, float]

    def slowest(self, count: int = 4, kind: str = "model") -> str:
        nodes = sorted(((seconds, uid) for uid, seconds in self.nodes.items()
                        if uid.startswith(kind + ".")), reverse=True)[:count]
        return ", ".join(f"{uid.split('.')[2]} {seconds:.1f} s" for seconds, uid in nodes)

    def model(self, name: str) -> float:
        return self.nodes.get(f"model.pgfraud.{name}", 0.0)


def _build(url: str, state: Path, *, full_refresh: bool = False) -> Build:
    wall = timed(lambda: analytics.build(url, state_dir=state, full_refresh=full_refresh))
    results = json.loads((state / "target" / "run_results.json").read_text())
    return Build(wall, results["elapsed_time"],
                 {r["unique_id"]: r["execution_time"] for r in results["results"]})


def _skipped(url: str, state: Path) -> float:
    """Seconds of :func:`analytics.refresh` with nothing new (fails if dbt ran)."""
    done: list[analytics.Refresh] = []
    seconds = timed(lambda: done.append(analytics.refresh(url, state_dir=state)))
    if not done[0].skipped:
        raise RuntimeError("nothing was new, yet the refresh ran dbt")
    return seconds


def _skipped_command(url: str) -> float:
    """Wall seconds of the command ``pgfraud dbt build`` with nothing new."""
    command = [str(Path(sys.executable).with_name("pgfraud")), "dbt", "build"]
    env = {**os.environ, "DATABASE_URL": url}
    output: list[str] = []
    seconds = timed(lambda: output.append(subprocess.run(
        command, env=env, check=True, capture_output=True, text=True).stdout))
    if "marts up to date" not in output[0]:
        raise RuntimeError(f"nothing was new, yet dbt ran: {output[0][-500:]}")
    return seconds


def _median(builds: list[Build]) -> Build:
    """The build with the median wall time."""
    return sorted(builds, key=lambda b: b.wall)[len(builds) // 2]


def run(url: str, folder: Path) -> Section:
    state = folder / "dbt"
    cold = _build(url, state)
    again = [_build(url, state) for _ in range(AGAIN)]
    full = _build(url, state, full_refresh=True)
    skipped = sorted(_skipped(url, state) for _ in range(AGAIN))
    command = sorted(_skipped_command(url) for _ in range(AGAIN))
    out = folder / "report.html"
    rendered = timed(lambda: report.write_report(url, out))
    with psycopg.connect(url) as conn:
        ((predictions, drift_rows, bin_rows, days),) = conn.execute(
            "select (select count(*) from scoring.predictions),"
            " (select count(*) from analytics.fct_daily_feature_drift),"
            " (select count(*) from analytics.fct_daily_feature_histograms),"
            " (select count(distinct day) from analytics.fct_daily_model_performance)")
    middle = _median(again)
    builds = [("cold (every model and data test)", cold),
              (f"again, nothing new, dbt run anyway (`--force`; median of {AGAIN})", middle),
              ("`--full-refresh`", full)]
    rows = [[name, f"{b.wall:.1f} s", f"{b.run:.1f} s",
             *(f"{b.model(model):.1f} s" for model in DRIFT)] for name, b in builds]
    rows.append([f"again, nothing new: fingerprint equal, dbt skipped (median of {AGAIN})",
                 f"{skipped[len(skipped) // 2]:.2f} s", "not run", "", ""])
    rows.append([f"the same as a command, `pgfraud dbt build` (median of {AGAIN})",
                 f"{command[len(command) // 2]:.1f} s", "not run", "", ""])
    rows.append([f"`pgfraud report` ({out.stat().st_size / 2**20:.1f} MiB, self-contained)",
                 f"{rendered:.1f} s", "", "", ""])
    spread = ", ".join(f"{b.wall:.1f}" for b in sorted(again, key=lambda b: b.wall))
    return Section("Monitoring marts and report", "\n\n".join([
        f"`dbt build` on the replay's database: {predictions:,} predictions over {days} "
        f"event days, {drift_rows:,} feature-drift rows (PSI per feature, day and model) "
        f"summed from {bin_rows:,} daily bin counts (fct_daily_feature_histograms).",
        table(["run", "wall time", "dbt's run (run_results.json)", *DRIFT], rows),
        f"Nothing new, three builds with dbt: {spread} s wall. The wall time includes "
        "dbt's start (Python imports, parsing the project) before its run. With nothing "
        "new the commands (`pgfraud dbt build`, `pgfraud refresh`) read the inputs' "
        "fingerprint (one query over the sources, a hash of the dbt project) and skip "
        "dbt: " + ", ".join(f"{s:.2f}" for s in skipped) + " s in process, "
        + ", ".join(f"{s:.1f}" for s in command) + " s as a command (its Python start "
        "included).",
        f"Slowest models in the cold build: {cold.slowest()}.",
        f"With nothing new, slowest models: {middle.slowest()}; slowest data tests: "
        f"{middle.slowest(3, 'test')} ({sum(u.startswith('test.') for u in middle.nodes)} "
        f"data tests, {sum(s for u, s in middle.nodes.items() if u.startswith('test.')):.1f} "
        "s of the two threads' time).",
    ]))
