"""Replay: how much faster than real time a backtest runs, where the time goes, and what
the training window and row cap (issue 16) change; then the monitoring marts (dbt) and
the HTML report built on what it left.

A Kaggle-layout CSV of 60 simulated days (1,000 cards, 1% fraud; ``pgfraud produce
--to-csv``) is replayed three times, each on a fresh cluster (labels revealed 7 days
after each transaction, a retraining round every 7 days, a bootstrap model first): once
training on every label since the file began with no row cap (what pgfraud did before the
training window), once with the default window and cap but each day's labels written
after its scoring (one step at a time, as before issue 19), once with the defaults (the
labels written in a thread beside scoring). The time includes reading and sorting the
file, the bootstrap model, ingest with features, scoring, labelling and every retraining
round.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import bench_monitoring
from benchmarks.common import Section, fresh_cluster, table
from pgfraud.backtest.replay import ReplayOptions, ReplayReport, replay
from pgfraud.kernel import migrate
from pgfraud.lifecycle import training
from producer import kaggle
from producer.cards import Tokenizer
from producer.run import Limits, take
from producer.stream import StreamConfig, TransactionStream

DAYS = 60
CARDS = 1000
KEY = Tokenizer(b"benchmark-key-not-a-secret-0123")
#: (label, replay options): training before the window; the defaults one step at a time
#: (the first days stored after the bootstrap, each day's labels after its scoring, as
#: before issue 19); the defaults.
RUNS = [("every label since the file began, no row cap",
         ReplayOptions(train=training.TrainOptions(window=None, max_rows=None))),
        ("defaults, each step after the one before", ReplayOptions(overlap=False)),
        (f"defaults: last {training.DEFAULT_WINDOW.days} days of labels, "
         f"{training.DEFAULT_MAX_ROWS:,}-row cap", ReplayOptions())]


def run() -> list[Section]:
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "history.csv"
        stream = TransactionStream(StreamConfig(seed=21, cards=CARDS, merchants=300,
                                                start=dt.datetime(2025, 6, 1, tzinfo=dt.UTC)))
        written = kaggle.write_rows(csv, take(stream, Limits(span_s=DAYS * 86_400)), seed=21)
        reports = []
        for index, (_, options) in enumerate(RUNS):
            with fresh_cluster() as cluster:
                url = cluster.start()
                migrate.upgrade(url)
                reports.append(replay(url, csv, options, tokenizer=KEY))
                if index == len(RUNS) - 1:  # the marts are built on the defaults' replay
                    monitoring = bench_monitoring.run(url, Path(folder))
    return [_replay_section(reports, written), monitoring]


def _replay_section(reports: list[ReplayReport], written: int) -> Section:
    names = [label for label, _ in RUNS]
    last = reports[-1]
    speed = [[f"{written:,} transactions, {DAYS} days ({name})", f"{r.seconds:,.0f} s",
              f"{r.rows / r.seconds:,.0f} tx/s", f"{DAYS * 86_400 / r.seconds:,.0f}× real time",
              f"{len(r.decisions)} ({sum(d.outcome == 'promoted' for d in r.decisions)} "
              f"promoted)"] for name, r in zip(names, reports, strict=True)]
    phases = list(dict.fromkeys(p for r in reports for p in r.phases))
    by_phase = [[phase, *(f"{r.phases[phase]:,.1f} s" if phase in r.phases else "—"
                          for r in reports)]
                for phase in phases]
    by_phase.append(["**retraining share of the replay**",
                     *(f"**{r.phases.get('retraining', 0.0) / r.seconds:.0%}**"
                       for r in reports)])
    rounds = [[t["event_time"][:10], *(_training(r, i) for r in reports)]
              for i, t in enumerate(last.trainings)]
    quality = [["steady state (weeks scored only by models trained on the file)",
                *(_steady(r) for r in reports)],
               ["mean weekly AP, weeks 3 to the end (every champion)",
                *(_weekly_ap(r) for r in reports)],
               ["challengers' own validation AP, mean over the rounds that trained",
                *(_validation_ap(r) for r in reports)],
               ["pooled AP over every champion (secondary)",
                *(f"{r.pooled['average_precision']:.4f}" for r in reports)]]
    a = last.accounting
    return Section("Replay (backtest) speed", "\n\n".join([
        "A Kaggle-layout CSV of simulated days (`pgfraud produce --to-csv`) replayed on a "
        "fresh cluster with the defaults: labels revealed 7 days after each transaction, a "
        "retraining round every 7 days, a bootstrap model first. Three times, in one run: "
        "training on every label since the file began without a row cap (pgfraud before the "
        "training window); with the default window and cap (docs/models.md), one step at a "
        "time (the first days stored after the bootstrap model, each day's labels written "
        "after its scoring, as before issue 19); and the defaults, where the first days "
        "are stored while the bootstrap model trains and the analysts' labels of a day are "
        "written in a thread while the day's rows are scored (pgfraud/backtest/replay.py).",
        table(["file", "wall time", "throughput", "event time per wall time",
               "retraining decisions"], speed),
        f"Every row accounted for: {a.read:,} read = {a.stored:,} stored + "
        f"{a.already_stored:,} already stored + {sum(a.quarantined.values()):,} quarantined; "
        f"{a.scored:,} scored by a champion.",
        "Time by phase, side by side (wall time of the main thread; what the helper thread "
        "does, the first days' ingest and the labels, is shown apart, and only waiting for "
        "it counts in the wall time):",
        table(["phase", *names], by_phase),
        "Each retraining round (event time) and its training time (load, fit, export, "
        "calibration; rows loaded), or what the round did instead:",
        table(["round", *names], rounds),
        "Model quality, side by side:",
        table(["", *names], quality),
    ]))


def _training(report: ReplayReport, index: int) -> str:
    if index >= len(report.trainings):
        return "-"
    t = report.trainings[index]
    if t["training_seconds"] is None:
        return f"no training ({t['rule']})"
    return f"{t['training_seconds']:,.1f} s, {t['dataset_rows']:,} rows"


def _steady(report: ReplayReport) -> str:
    steady = report.steady_state
    if steady is None:
        return "none: no model trained on the file took charge"
    ap = steady["average_precision"]
    return (f"{steady['weeks']} weeks, mean weekly AP {ap['mean']:.4f} "
            f"({ap['min']:.4f}-{ap['max']:.4f})")


def _weekly_ap(report: ReplayReport) -> str:
    values = [w["average_precision"] for w in report.weeks[2:]
              if w["average_precision"] is not None]
    return f"{sum(values) / len(values):.4f} ({len(values)} weeks)" if values else "-"


def _validation_ap(report: ReplayReport) -> str:
    values: list[Any] = []
    for decision in report.decisions:
        offline = decision.evidence.get("offline") or {}
        ap = (offline.get("challenger") or {}).get("average_precision")
        if ap is not None and decision.evidence.get("training_seconds") is not None:
            values.append(ap)
    return f"{sum(values) / len(values):.4f} ({len(values)} models)" if values else "-"
