"""``pgfraud demo``: the README's main command, the whole loop on the embedded default.

Database and schema; a day of simulated history; a first champion (bootstrap); then a
live minute in which the producer streams at a steady rate while a scorer and simulated
analysts run beside it; one retraining decision; the dbt marts; report.html; a summary.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from psycopg.rows import dict_row
from rich.console import Console
from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeRemainingColumn

from pgfraud.cli import params
from pgfraud.cli.progress import progress, spinner_columns
from pgfraud.kernel import migrate as migrations
from pgfraud.kernel import queries
from pgfraud.kernel.db import connect, database_url, redact
from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.names import PRODUCER_ROLE, TRAINER_ROLE
from pgfraud.kernel.settings import Settings
from pgfraud.lifecycle import registry
from producer import features as feature_store
from producer.cards import Tokenizer
from producer.ingest import Ingestor, IngestStats
from producer.run import Limits, run
from producer.stream import StreamConfig, TransactionStream

if TYPE_CHECKING:
    from pgfraud.lifecycle.retrain import Decision

console = Console(stderr=True)
PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))
# The live minute compresses time: ~100 tx/s from 2,000 cardholders is ~2,000x their
# natural rate, so an hour of event time passes in about two seconds and analysts'
# reviews (1 h) and chargebacks (12 h) arrive while the demo runs.
ANALYSTS = ("--delay", "1h", "--coverage", "0.3", "--chargeback-delay", "12h")
QUERIES = (
    ("The newest alerts with their reason codes (docs/scoring.md)",
     "select transaction_id, card_last4, amount, merchant, round(score::numeric, 3) as score,\n"
     "       reasons->0->>'feature' as top_reason\n"
     "  from scoring.alerts order by alert_id desc limit 5;"),
    ("Label an alert as an analyst would (docs/labels.md)",
     "update scoring.predictions set true_value = true, label_note = 'confirmed by phone'\n"
     "  where transaction_id = (select max(transaction_id) from scoring.alerts)\n"
     "    and not is_shadow;"),
    ("Daily accuracy per model version (docs/monitoring.md)",
     "select day, model_version, role, transactions, alerts, labelled,\n"
     "       round(precision::numeric, 3) as precision, round(recall::numeric, 3) as recall,\n"
     "       round(average_precision::numeric, 3) as ap\n"
     "  from analytics.fct_daily_model_performance order by day desc, model_version;"),
)


def _q(name: str) -> str:
    return queries.load("demo")[name]


@click.command()
@click.option("--span", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Days of simulated history before the live part (0 to skip).")
@click.option("--live", default="60s", show_default=True, callback=params.duration,
              metavar="TIME", help="How long to stream live traffic (0 to skip).")
@click.option("--rate", default=100.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True), metavar="TX/S",
              help="Live transactions per second.")
@click.option("--report", "report_path", default="report.html", show_default=True,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Where to write the HTML report.")
def demo(span: float, live: float, rate: float, report_path: Path) -> None:
    """The whole loop in about two minutes, on the embedded PostgreSQL (or DATABASE_URL).

    \b
    1. start the database and migrate it;
    2. a first champion, trained on 14 days of simulated history, unless one exists;
    3. a day of simulated history, ending at midnight UTC (seed 42; running the demo
       again the same day adds nothing), scored;
    4. --live seconds of traffic with fraud at --rate tx/s, while `pgfraud score` and
       simulated analysts (`pgfraud analysts --follow`) run beside it;
    5. one retraining decision (`pgfraud retrain`);
    6. the monitoring marts (`pgfraud dbt build`) and --report (`pgfraud report`);
    7. a summary: transactions, alerts, precision and recall so far, latency, and
       three queries to try.

    The scorer's and analysts' logs go to PGFRAUD_HOME/logs/.
    """
    # the summary says what these log
    for quiet in ("scorer.scoring", "pgfraud.kernel.migrate", "pgfraud.lifecycle.retrain"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    url = database_url()
    click.echo(f"database   {redact(url)}")
    migrations.upgrade(url)
    click.echo(f"schema     revision {migrations.current_revision(url)}")
    with connect(url) as conn:
        feature_store.require_computed_at_ingest(conn, "the demo")
    _bootstrap_model(url)  # first, so the history waits seconds, not minutes, for a score
    if span > 0:
        _history(url, span)
    _score(url)
    with connect(url, autocommit=True) as conn:
        # The history was loaded faster than autovacuum analyzes: without statistics
        # the live minute's latency grew from 35 to 80 ms (p50) as the tables grew.
        conn.execute(queries.load("retrain")["analyze_after_bulk_load"])
    since = dt.datetime.now(dt.UTC)
    if live and live > 0:
        _live(url, live, rate)
        _score(url)  # whatever the scorer left when it was stopped
    decision = _retrain_once(url)
    _marts_and_report(url, report_path)
    _summary(url, since, report_path, decision)


def _history(url: str, span: float) -> None:
    midnight = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight - dt.timedelta(days=span)
    stream = TransactionStream(StreamConfig(seed=42, start=start))
    with progress(f"simulating {span:g} day(s) of history", console=console,
                  columns=spinner_columns()) as bar:
        sent, stats = _produce(url, stream, Limits(span_s=span * 86400),
                               lambda n, tx: bar.update(done=n, event_time=tx.transacted_at))
    click.echo(f"produced   {sent:,} simulated transactions from {start:%Y-%m-%d %H:%M} "
               f"UTC: {stats.accepted:,} new, {stats.duplicates:,} already there, "
               f"{stream.fraud_emitted:,} fraudulent")


def _produce(url: str, stream: TransactionStream, limits: Limits,
             on_progress: Callable[[int, Any], None] = lambda n, tx: None,
             ) -> tuple[int, IngestStats]:
    """Stream into the database as the producer role; rows sent and the ingest tally."""
    with connect(url, role=PRODUCER_ROLE) as conn, Ingestor(
        conn, source="stream", tokenizer=Tokenizer.from_settings()
    ) as ingestor:
        sent = run(stream, ingestor, limits, on_progress=on_progress)
    return sent, ingestor.stats


def _bootstrap_model(url: str) -> None:
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        current = registry.champion(conn)
    if current is None:
        from pgfraud.lifecycle.bootstrap import (
            bootstrap_champion,  # LightGBM, ONNX: only when needed
        )

        with progress("bootstrap model on 14 days of simulated history (no champion yet)",
                      console=console, columns=spinner_columns()):
            current = bootstrap_champion(url)
    with connect(url, role=TRAINER_ROLE) as conn:
        info = registry.show(conn, current)
    validation = info["metrics"].get("validation", {})
    click.echo(f"model      champion {current} ({info['mode'] or 'unknown'} training): "
               f"validation AUC {validation.get('roc_auc') or 0:.3f}, average precision "
               f"{validation.get('average_precision') or 0:.3f} (random ranking "
               f"{validation.get('random_average_precision') or 0:.3f})")


def _score(url: str) -> None:
    from scorer.scoring import Scorer

    started = time.monotonic()
    scored = alerts = 0

    with progress("scoring the queue", console=console, columns=spinner_columns()) as bar, \
            Scorer(url, batch_size=2000) as scorer:

        def count(result: Any) -> None:
            nonlocal scored, alerts
            scored += result.claimed
            alerts += result.alerts
            bar.update(done=scored, counts={"alerts": alerts})

        scorer.run(lambda: False, once=True, on_batch=count)
    if scored:
        click.echo(f"scored     {scored:,} queued transactions in "
                   f"{time.monotonic() - started:.1f} s: {alerts:,} alerts")


@contextmanager
def _background(name: str, args: list[str], logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``pgfraud <args>`` in the background, logging to ``logs/demo-<name>.log``; stopped
    with SIGTERM (then killed) when the block ends."""
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"demo-{name}.log", "ab") as log:
        process = subprocess.Popen([PGFRAUD, *args], stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _live(url: str, seconds: float, rate: float) -> None:
    with connect(url) as conn:
        row = conn.execute(_q("event_clock")).fetchone()
        before = conn.execute(_q("counts")).fetchone()
    now = dt.datetime.now(dt.UTC)
    # After the event clock (it may run ahead of the wall clock); '-infinity' when empty.
    start = max(row[0], now) if row and row[0] and row[0].year > 1 else now
    stream = TransactionStream(StreamConfig(seed=42, start=start))  # same cardholders
    logs = Settings.from_env().home / "logs"
    click.echo(f"live       {seconds:g} s at {rate:g} tx/s with `pgfraud score` and "
               f"`pgfraud analysts --follow {' '.join(ANALYSTS)}` (logs in {logs})")
    columns = (SpinnerColumn(), TextColumn("{task.fields[status]}"), BarColumn(),
               TimeRemainingColumn())
    with ExitStack() as stack, connect(url, autocommit=True) as watcher:
        scorer = stack.enter_context(_background("scorer", ["score"], logs))
        analysts = stack.enter_context(
            _background("analysts", ["analysts", "--follow", *ANALYSTS], logs))
        bar = stack.enter_context(progress("starting the scorer", console=console,
                                           columns=columns))
        _wait_for_scorer(watcher, scorer, logs)
        expected = max(1, round(seconds * rate))  # the pacing's count: a bar, not a guess
        bar.update(phase="live traffic", total=expected)
        began = last = time.monotonic()

        def tick(sent: int, tx: Any) -> None:
            nonlocal last
            bar.update(done=sent, event_time=tx.transacted_at)
            now = time.monotonic()
            if now - last < 0.5:
                return
            last = now
            counts = watcher.execute(_q("counts")).fetchone()
            assert counts is not None and before is not None
            bar.update(counts={"scored": counts[1] - before[1],
                               "alerts": counts[2] - before[2],
                               "labels": counts[3] - before[3]})
            for name, process in (("scorer", scorer), ("analysts", analysts)):
                if process.poll() is not None:
                    raise PgfraudError(f"the {name} stopped (exit {process.returncode}); "
                                       f"see {logs / f'demo-{name}.log'}")

        sent, _ = _produce(url, stream,
                           Limits(count=expected, duration_s=seconds, rate=rate), tick)
        time.sleep(1.0)  # let the scorer and analysts catch the last batch
    click.echo(f"streamed   {sent:,} transactions ({stream.fraud_emitted:,} fraudulent) in "
               f"{time.monotonic() - began:.0f} s, simulated until "
               f"{stream.clock:%Y-%m-%d %H:%M} UTC")


def _wait_for_scorer(conn: Any, scorer: subprocess.Popen[bytes], logs: Path) -> None:
    """Until the background scorer listens (it takes a second or two to import its
    libraries and load the model): traffic before that would only measure start-up."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        row = conn.execute(_q("scorer_listening")).fetchone()
        if row and row[0]:
            return
        if scorer.poll() is not None:
            break
        time.sleep(0.2)
    raise PgfraudError(f"the scorer did not start; see {logs / 'demo-scorer.log'}")


def _retrain_once(url: str) -> Decision | None:
    from pgfraud.lifecycle import retrain as retraining

    options = retraining.RetrainOptions(force=True, label_delay=dt.timedelta(hours=12))
    try:
        with connect(url, role=TRAINER_ROLE, autocommit=True) as conn, \
                progress("retraining: challenger on the labels so far", console=console,
                         columns=spinner_columns()) as bar:
            decision = retraining.retrain(
                conn, options, on_stage=lambda stage: bar.update(phase=f"retraining: {stage}"))
    except PgfraudError as exc:  # e.g. too few labelled fraud yet (TrainingError)
        click.echo(f"retrain    skipped: {exc}")
        return None
    for each in [*decision.earlier, decision]:
        click.echo(f"retrain    decision {each.decision_id}: {each.outcome} [{each.rule}] "
                   f"{each.detail}")
    return decision


def _marts_and_report(url: str, report_path: Path) -> None:
    from pgfraud.monitoring import dbt_runner as analytics
    from pgfraud.monitoring.report import write_report

    started = time.monotonic()
    with progress("dbt build: the monitoring marts and their data tests", console=console,
                  columns=spinner_columns()):
        output = analytics.build(url)
    click.echo(f"marts      built in {time.monotonic() - started:.0f} s "
               f"({analytics.done_line(output)})")
    with progress("writing the report", unit="panels", console=console,
                  columns=spinner_columns()) as bar:
        path = write_report(url, report_path, on_panel=lambda _: bar.advance())
    click.echo(f"report     {path.resolve()} ({path.stat().st_size / 1e6:.1f} MB; "
               f"open it in a browser)")


def _ratio(numerator: int, denominator: int) -> str:
    return f"{numerator / denominator:.1%}" if denominator else "n/a"


def _summary(url: str, since: dt.datetime, report_path: Path,
             decision: Decision | None) -> None:
    with connect(url, row_factory=dict_row) as conn:
        s = conn.execute(_q("summary"), {"since": since}).fetchone()
        champion = registry.champion(conn)
    assert s is not None
    tp, fp, fn = s["true_positives"], s["false_positives"], s["false_negatives"]
    p99 = s["live_latency_p99_ms"]
    lines = [
        ("transactions", f"{s['transactions']:,} stored, {s['quarantined']:,} quarantined"),
        ("alerts", f"{s['alerts']:,} of {s['scored']:,} scored "
                   f"({_ratio(s['alerts'], s['scored'])})"),
        ("labelled", f"{s['labelled']:,} transactions by the simulated analysts"),
        ("precision", f"{_ratio(tp, tp + fp)} of labelled alerts were fraud"),
        ("recall", f"{_ratio(tp, tp + fn)} of labelled fraud was alerted"),
        ("latency", "n/a (nothing scored live)" if p99 is None else
         f"p50 {s['live_latency_p50_ms']:.0f} ms, p99 {p99:.0f} ms over "
         f"{s['live_scored']:,} live transactions (ingest commit to prediction)"),
        ("champion", f"model {champion}"
         + ("" if decision is None else f"; retraining: {decision.outcome} "
                                        f"[{decision.rule}] {decision.detail}")),
    ]
    click.echo("\nSummary")
    for name, text in lines:
        click.echo(f"  {name:<13} {text}")
    click.echo(f"\nDashboards: open {report_path}; with Grafana: pgfraud dashboards push.")
    click.echo("Try (pgfraud db psql, or psql \"$(pgfraud db url)\"):")
    for title, query in QUERIES:
        click.echo(f"\n  -- {title}\n  {query}")
