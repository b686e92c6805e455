"""``pgfraud score`` and ``pgfraud alerts``: streaming scoring and its alerts."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import click
from psycopg import sql

from pgfraud.cli.output import printable
from pgfraud.kernel.db import connect, database_url, redact
from pgfraud.kernel.names import ALERT_CHANNEL, ANALYST_ROLE, SCORER_ROLE
from pgfraud.kernel.signals import stop_on_signals
from scorer.workers import Counters, Pool, WorkerOptions

log = logging.getLogger("pgfraud.score")


@click.command()
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Scoring processes. They claim disjoint batches, so any number is safe; "
                   "more than the CPU count rarely helps.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="Transactions claimed, scored and committed together.")
@click.option("--once", is_flag=True,
              help="Score everything queued, then exit (status 1 if there is no champion).")
@click.option("--poll-interval", default=1.0, show_default=True,
              type=click.FloatRange(0.05, 60),
              help="Seconds between queue checks when no NOTIFY arrives.")
@click.option("--status-every", default=5.0, show_default=True, type=click.FloatRange(0.5),
              help="Seconds between progress lines on stderr.")
def score(workers: int, batch_size: int, once: bool, poll_interval: float,
          status_every: float) -> None:
    """Score new transactions with the champion model (and every shadow model).

    Each batch claims queued transactions (scoring.pending), scores them with ONNX and
    commits the predictions together with the claim, so every transaction is scored
    exactly once even when workers crash, producers commit out of order, or several
    workers run. Champion decisions above threshold become scoring.alerts rows and
    NOTIFY fraud_alert messages (see `pgfraud alerts tail`). Promoting a model
    (`pgfraud models promote V`) switches every running worker at its next batch.

    Runs until Ctrl-C / SIGTERM (each worker finishes its batch) or, with --once, until
    the queue is empty. If the database goes away, workers retry every few seconds.

    \b
    Examples:
      pgfraud score                        # one worker, until stopped
      pgfraud score --workers 2 --once     # drain the backlog and exit
    """
    from pgfraud.kernel import migrate  # Alembic loads only for the verbs that need the schema

    migrate.ensure_schema(announce=lambda line: click.echo(line, err=True))
    url = database_url()
    options = WorkerOptions(url=url, batch_size=batch_size, once=once,
                            poll_interval=poll_interval,
                            log_level=logging.getLogger().getEffectiveLevel())
    click.echo(f"scoring {redact(url)} as {SCORER_ROLE}: {workers} worker(s), batches of "
               f"{batch_size}{', until the queue is empty' if once else ''}", err=True)
    started = time.monotonic()
    if workers == 1:
        counters = _score_here(options, status_every)
        failed = False
    else:
        counters, failed = _score_in_pool(workers, options, status_every)
    seconds = time.monotonic() - started
    scored = counters.scored.value
    click.echo(f"scored {scored:,} transactions in {seconds:,.1f} s "
               f"({scored / max(seconds, 1e-9):,.0f}/s), {counters.alerts.value:,} alerts",
               err=True)
    if failed:
        sys.exit(1)


class _Status:
    """A progress line every few seconds: rate, alerts, backlog, models."""

    def __init__(self, url: str, counters: Counters, every: float) -> None:
        self.url = url
        self.counters = counters
        self.every = every
        self.last_at = time.monotonic()
        self.last_scored = 0

    def maybe_print(self) -> None:
        now = time.monotonic()
        if now - self.last_at < self.every:
            return
        from scorer.scoring import backlog

        scored = self.counters.scored.value
        rate = (scored - self.last_scored) / (now - self.last_at)
        try:
            with connect(self.url, role=SCORER_ROLE) as conn:
                queued, oldest = backlog(conn)
            queue = f"backlog {queued:,}"
        except Exception:  # the status line never stops scoring
            queue = "backlog unknown (database unavailable)"
        champion = self.counters.champion.value
        click.echo(f"scored {scored:,} ({rate:,.0f}/s) · alerts {self.counters.alerts.value:,}"
                   f" · {queue} · champion {champion or 'none'}", err=True)
        self.last_at, self.last_scored = now, scored


def _score_here(options: WorkerOptions, status_every: float) -> Counters:
    import multiprocessing as mp

    from scorer.scoring import Scorer

    counters = Counters(mp.get_context("spawn"))
    status = _Status(options.url, counters, status_every)

    def on_batch(result: Any) -> None:
        counters.add(result)
        status.maybe_print()

    with stop_on_signals() as stop, Scorer(options.url, batch_size=options.batch_size) as s:
        def should_stop() -> bool:
            status.maybe_print()  # also while idle
            return stop()

        s.run(should_stop, once=options.once, poll_interval=options.poll_interval,
              on_batch=on_batch)
    return counters


def _score_in_pool(workers: int, options: WorkerOptions,
                   status_every: float) -> tuple[Counters, bool]:
    pool = Pool(workers, options)
    status = _Status(options.url, pool.counters, status_every)
    pool.start()
    with stop_on_signals() as stop:
        while pool.supervise() and not stop():
            time.sleep(0.2)
            status.maybe_print()
    pool.stop()
    return pool.counters, pool.failed


@click.group()
def alerts() -> None:
    """Fraud alerts: champion decisions above threshold, with reason codes."""


@alerts.command()
@click.option("--last", default=10, show_default=True, type=click.IntRange(min=0),
              help="Print this many recent alerts first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--count", type=click.IntRange(min=0),
              help="Exit after this many live alerts (0: print the last ones and exit) "
                   "[default: run until Ctrl-C].")
def tail(last: int, as_json: bool, count: int | None) -> None:
    """Print alerts as they are raised (LISTEN fraud_alert), after the last few stored.

    Each line: time, transaction, card (last 4 digits), amount, merchant, score against
    threshold, and the features that pushed the score up most.
    """
    from scorer.scoring import alert_payloads

    def show(payload: dict[str, Any]) -> None:
        if as_json:
            click.echo(json.dumps(payload))
            return
        reasons = ", ".join(
            f"{r['feature']}={_value(r['value'])} (+{r['contribution']:.2f})"
            for r in payload.get("reasons") or [])
        click.echo(printable(
            f"{payload['transacted_at'][:19].replace('T', ' ')}  "
            f"tx {payload['transaction_id']}  card …{payload['card_last4']}  "
            f"{float(payload['amount']):>9,.2f}  {payload['merchant'][:28]:<28}  "
            f"score {payload['score']:.3f} ≥ {payload['threshold']:.3f}  {reasons}"))

    with connect(role=ANALYST_ROLE, autocommit=True) as conn:
        for payload in alert_payloads(conn, last):
            show(payload)
        conn.execute(sql.SQL("listen {}").format(sql.Identifier(ALERT_CHANNEL)))
        seen = 0
        with stop_on_signals() as stop:
            while not stop() and (count is None or seen < count):
                for note in conn.notifies(timeout=0.5):
                    show(json.loads(note.payload))
                    seen += 1
                    if count is not None and seen >= count:
                        break


def _value(value: Any) -> str:
    if value is None:
        return "NULL"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
