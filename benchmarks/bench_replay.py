"""Replay: how much faster than real time a backtest runs; then the monitoring marts
(dbt) and the HTML report built on what it left.

A Kaggle-layout CSV of 60 simulated days (1,000 cards, 1% fraud; ``pgfraud produce
--to-csv``) is replayed on a fresh cluster with the defaults: labels revealed 7 days
after each transaction, a retraining decision every 7 days, a bootstrap model first.
The time includes reading and sorting the file, the bootstrap model, ingest with
features, scoring, labelling and every retraining.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from benchmarks import bench_monitoring
from benchmarks.common import Section, fresh_cluster, table
from producer import kaggle
from producer.cards import Tokenizer
from producer.run import Limits, take
from producer.stream import StreamConfig, TransactionStream
from scorer import migrate
from scorer.replay import ReplayReport, replay

DAYS = 60
CARDS = 1000


def run() -> list[Section]:
    with tempfile.TemporaryDirectory() as folder, fresh_cluster() as cluster:
        csv = Path(folder) / "history.csv"
        stream = TransactionStream(StreamConfig(seed=21, cards=CARDS, merchants=300,
                                                start=dt.datetime(2025, 6, 1, tzinfo=dt.UTC)))
        written = kaggle.write_rows(csv, take(stream, Limits(span_s=DAYS * 86_400)), seed=21)
        url = cluster.start()
        migrate.upgrade(url)
        report = replay(url, csv, tokenizer=Tokenizer(b"benchmark-key-not-a-secret-0123"))
        monitoring = bench_monitoring.run(url, Path(folder))
    return [_replay_section(report, written), monitoring]


def _replay_section(report: ReplayReport, written: int) -> Section:
    promoted = sum(d.outcome == "promoted" for d in report.decisions)
    speedup = DAYS * 86_400 / report.seconds
    rows = [[f"{written:,} transactions, {DAYS} days", f"{report.seconds:,.0f} s",
             f"{report.rows / report.seconds:,.0f} tx/s", f"{speedup:,.0f}× real time",
             f"{len(report.decisions)} ({promoted} promoted)"]]
    overall = report.overall
    return Section("Replay (backtest) speed", "\n\n".join([
        "A Kaggle-layout CSV of simulated days (`pgfraud produce --to-csv`) replayed on a "
        "fresh cluster with the defaults: labels revealed 7 days after each transaction, a "
        "retraining decision every 7 days, a bootstrap model first.",
        table(["file", "wall time", "throughput", "event time per wall time",
               "retraining decisions"], rows),
        "Where the time went: " + ", ".join(
            f"{name} {seconds:,.0f} s" for name, seconds in report.phases.items()) + ".",
        f"Over the replay the champion's decisions had ROC AUC {overall['roc_auc']:.4f}, "
        f"average precision {overall['average_precision']:.4f} (random: "
        f"{overall['random_average_precision']:.4f}), card precision@100 "
        f"{overall['card_precision_at_100']:.4f}.",
    ]))
