"""``pgfraud produce`` and ``pgfraud import`` (transactions into ingest.transactions), and
``pgfraud clock`` (the event clock and the event-time policy ingest applies)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import click
import psycopg
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from pgfraud.cli import params
from pgfraud.cli.output import plain
from pgfraud.cli.progress import progress
from pgfraud.kernel import queries
from pgfraud.kernel.db import connect, connect_patiently, redact
from pgfraud.kernel.names import PRODUCER_ROLE
from producer import kaggle
from producer.cards import Tokenizer
from producer.ingest import Ingestor, IngestStats
from producer.records import CardTransaction
from producer.run import Limits, run, take
from producer.stream import StreamConfig, TransactionStream

console = Console(stderr=True)
out = Console()


@click.command()
@click.option("--seed", default=42, show_default=True, help="Same seed, same world and stream.")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many transactions.")
@click.option("--duration", callback=params.duration, metavar="TIME",
              help="Stop after this much wall-clock time (30s, 10m, 2h).")
@click.option("--span", callback=params.duration, metavar="TIME",
              help="Stop after this much simulated time (e.g. 30d for a month).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), metavar="TX/S",
              help="Pace to this many transactions per wall-clock second [default: as fast "
                   "as possible].")
@click.option("--start", callback=params.timestamp, metavar="ISO-TIME",
              help="Simulated clock start, e.g. 2026-10-01 (UTC) [default: now].")
@click.option("--fraud-rate", default=0.01, show_default=True,
              type=click.FloatRange(0, 0.5, max_open=True),
              help="Share of transactions that are fraudulent.")
@click.option("--cards", default=2000, show_default=True, type=click.IntRange(min=3),
              help="Cardholders (one card each).")
@click.option("--merchants", default=400, show_default=True, type=click.IntRange(min=14),
              help="Merchants across 14 categories.")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(min=1),
              help="Rows per COPY batch (a batch is also flushed every second).")
@click.option("--to-csv", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write a Kaggle-layout CSV instead of the database (needs --count or "
                   "--span; the file holds the synthetic card numbers, as the layout does).")
def produce(seed: int, count: int | None, duration: float | None, span: float | None,
            rate: float | None, start: dt.datetime | None, fraud_rate: float, cards: int,
            merchants: int, batch_size: int, to_csv: Path | None) -> None:
    """Stream simulated card transactions, with labelled fraud, into the database.

    Cardholders live in US cities and spend by category with daily and weekly rhythms
    and occasional trips. Fraud incidents (card testing, account takeover, compromised
    merchants) make up --fraud-rate of the stream; which rows are fraud is written only
    to the truth schema, which the scorer cannot read. Event time is simulated from
    --start, so --span 30d generates a month as fast as the database takes it.
    Runs until --count, --duration or --span is reached, or until Ctrl-C / SIGTERM.
    A row the database refuses (docs/producer.md lists the reasons) is quarantined and
    the stream goes on; a database that restarts is waited for (up to two minutes) and
    the lost batch sent again. Exit status 0 when it stopped as asked, 1 when it could
    not go on (database gone for longer, no token key).

    \b
    Examples:
      pgfraud produce --start 2026-10-01 --span 30d          # a month of history
      pgfraud produce --rate 500 --duration 30               # live traffic for 30 s
    """
    config = StreamConfig(seed=seed, start=start or StreamConfig().start,
                          fraud_rate=fraud_rate, cards=cards, merchants=merchants)
    stream = TransactionStream(config)
    limits = Limits(count=count, duration_s=duration, span_s=span, rate=rate)
    if to_csv is not None:
        if count is None and span is None:
            raise click.UsageError("--to-csv needs --count or --span")
        written = kaggle.write_rows(to_csv, take(stream, limits), seed=seed)
        click.echo(f"wrote {written:,} transactions ({stream.fraud_emitted:,} fraudulent) "
                   f"to {to_csv}")
        return
    tokenizer = Tokenizer.from_settings()
    # A service: it waits for a database that is (re)starting, as it does mid-stream.
    with connect_patiently(role=PRODUCER_ROLE) as conn:
        console.print(f"producing into {redact(conn.info.dsn)} as {PRODUCER_ROLE} "
                      f"(seed {seed}, from {config.start:%Y-%m-%d %H:%M} UTC)")
        started = time.monotonic()
        columns = (SpinnerColumn(), TextColumn("sim clock {task.fields[event_time]}"),
                   BarColumn() if count else TextColumn(""),
                   TextColumn("{task.completed:,.0f} tx"), TimeElapsedColumn())
        with progress("producing", total=count, console=console, columns=columns) as bar, \
                Ingestor(conn, source="stream", tokenizer=tokenizer, batch_size=batch_size,
                         reconnect=_reconnect) as ingestor:
            sent = run(stream, ingestor, limits, on_progress=lambda n, tx: bar.update(
                done=n, event_time=tx.transacted_at))
    _summary(ingestor.stats, sent, time.monotonic() - started,
             extra={"fraud transactions": stream.fraud_emitted,
                    "simulated until": f"{stream.clock:%Y-%m-%d %H:%M} UTC"})


@click.command(name="import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(min=1),
              help="Rows per COPY batch (one database transaction each).")
def import_csv(csv_file: Path, batch_size: int) -> None:
    """Import a Kaggle-layout CSV (fraudTrain.csv / fraudTest.csv).

    Streams the file in constant memory. Card numbers are tokenized before they leave
    this process (a card number in merchant or category text is masked; a trans_num
    that is one is replaced by a keyed token); is_fraud goes to the truth schema only.

    No row stops the import. Each row read is stored once or quarantined in
    ingest.quarantine with a reason (docs/producer.md lists them: bad_encoding,
    control_character, field_too_long, implausible_time, bad_amount, ...); re-importing
    a file adds nothing; a row whose trans_num is stored with a different payload is
    quarantined as a conflict. The summary's counts match the tables: stored = new rows
    in ingest.transactions, new quarantine rows = new rows in ingest.quarantine.

    If the database restarts, the import reconnects and sends the batch again (for up
    to two minutes). Exit status: 0 when the file was read to the end, whether or not
    rows were quarantined; 1 when the import could not finish (unreadable file, not the
    Kaggle layout, database gone).
    """
    from pgfraud.kernel import migrate  # Alembic loads only for the verbs that need the schema

    migrate.ensure_schema(announce=console.print)
    tokenizer = Tokenizer.from_settings()
    size = csv_file.stat().st_size
    started = time.monotonic()
    with connect(role=PRODUCER_ROLE) as conn:  # a wrong URL fails at once
        columns = (TextColumn("importing"), BarColumn(), DownloadColumn(),
                   TextColumn("{task.fields[done]:,} rows"), TimeRemainingColumn())
        # The bar outlives the ingestor: its last line comes after the last batch.
        with progress("import", file_size=size, console=console, columns=columns) as bar, \
                Ingestor(conn, source="csv", tokenizer=tokenizer, batch_size=batch_size,
                         reconnect=_reconnect) as ingestor:
            rows, at = 0, None  # the event time of the last transaction read
            for rows, (parsed, raw) in enumerate(kaggle.read_rows(csv_file, bar.read),
                                                 start=1):
                ingestor.add_parsed(parsed, raw)
                if isinstance(parsed, CardTransaction):
                    at = parsed.transacted_at
                if rows % 1000 == 0:
                    bar.update(done=rows, event_time=at)
            bar.update(done=rows, event_time=at)
    _summary(ingestor.stats, ingestor.stats.received, time.monotonic() - started)


def _reconnect(timeout_s: float) -> psycopg.Connection[Any]:
    return connect_patiently(role=PRODUCER_ROLE, timeout_s=timeout_s)


def _summary(stats: IngestStats, rows: int, seconds: float,
             extra: dict[str, object] | None = None) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_row("rows read", f"{rows:,}")
    table.add_row("stored (new)", f"{stats.accepted:,}")
    table.add_row("already stored (re-sent)", f"{stats.duplicates:,}")
    table.add_row("quarantined", f"{stats.quarantined_rows:,}")
    for reason, n in stats.quarantined_by_reason().items():
        table.add_row(Text(f"  {reason}"), f"{n:,}")
    if stats.quarantined_rows:
        table.add_row("new quarantine rows", f"{stats.quarantined:,} (a re-sent bad row is "
                                             f"kept once)")
    if stats.masked:
        table.add_row("card numbers masked", f"{stats.masked:,} rows (merchant or category)")
    if stats.tokenized_references:
        table.add_row("trans_num tokenized", f"{stats.tokenized_references:,} rows "
                                             f"(the trans_num was a card number)")
    if stats.reconnects:
        table.add_row("reconnects", f"{stats.reconnects:,} (batches sent again)")
    for key, value in (extra or {}).items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else Text(str(value)))
    table.add_row("time", f"{seconds:,.1f} s ({rows / max(seconds, 1e-9):,.0f} rows/s)")
    Console().print(table)



def _q(name: str) -> str:
    return queries.load("clock")[name]


@click.group(invoke_without_command=True)
@click.pass_context
def clock(ctx: click.Context) -> None:
    """The event clock (the latest event time ingested) and the bounds on event time.

    Labels are stamped no earlier than the event clock, so it must never run ahead on a
    bad row: ingest quarantines a transaction dated before the earliest event time, or
    more than max-ahead past both the event clock and the wall clock (reason
    implausible_time). Without a subcommand: `pgfraud clock show`. Runs as the owner;
    every change is recorded in ingest.event_clock_changes with who, when and why.
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(show)


@clock.command()
@click.option("--changes", default=10, show_default=True, type=click.IntRange(min=0),
              help="Also show this many recent policy changes and repairs.")
def show(changes: int) -> None:
    """The event clock, the wall clock, the policy and what it accepts now."""
    with connect(autocommit=True) as conn:
        state = conn.execute(_q("state")).fetchone()
        implausible = conn.execute(_q("implausible_count")).fetchone()
        history = conn.execute(_q("recent_changes"), {"limit": changes}).fetchall()
    assert state is not None and implausible is not None
    event_clock, wall, earliest, max_ahead, accepts_until = state
    grid = Table.grid(padding=(0, 2))
    grid.add_row("event clock", _time(event_clock))
    grid.add_row("wall clock", _time(wall))
    grid.add_row("accepts", f"{_time(earliest)} .. {_time(accepts_until)} "
                            f"(max-ahead {_span(max_ahead)} past the later of the two clocks)")
    grid.add_row("quarantined", f"{implausible[0]:,} rows as implausible_time")
    out.print(grid)
    if history:
        table = Table(title="changes (newest first)", title_justify="left",
                      box=box.SIMPLE_HEAD, pad_edge=False)
        for column in ("at", "by", "setting", "from", "to", "why"):
            table.add_column(column)
        for changed_at, by, setting, old, new, reason in history:
            table.add_row(_time(changed_at), plain(by), setting, plain(old), plain(new),
                          plain(reason))
        out.print(table)


@clock.command()
@click.option("--earliest", callback=params.timestamp, metavar="ISO-TIME",
              help="Refuse event times before this (UTC when no zone) [default: keep].")
@click.option("--max-ahead", callback=params.timedelta, metavar="TIME",
              help="Refuse event times this far past the later of the event clock and "
                   "the wall clock (1d, 12h) [default: keep].")
@click.option("--reason", required=True, help="Why: recorded with your user name.")
def policy(earliest: dt.datetime | None, max_ahead: dt.timedelta | None, reason: str) -> None:
    """Change the bounds on event time (what ingest quarantines as implausible_time).

    \b
    Example (a simulation that starts next month):
      pgfraud clock policy --max-ahead 45d --reason "what-if run from 2027-01-01"
    """
    if earliest is None and max_ahead is None:
        raise click.UsageError("give --earliest, --max-ahead or both")
    with connect() as conn:
        row = conn.execute(_q("set_policy"), {"earliest": earliest, "max_ahead": max_ahead,
                                              "reason": reason}).fetchone()
        conn.commit()
    assert row is not None
    out.print(f"policy: event times from {_time(row[0])}, at most {_span(row[1])} ahead")


@clock.command()
@click.option("--to", "to", callback=params.timestamp, metavar="ISO-TIME",
              help="Set the clock to this time [default: the latest stored event time "
                   "the policy accepts now].")
@click.option("--reason", required=True, help="Why: recorded with your user name.")
def repair(to: dt.datetime | None, reason: str) -> None:
    """Move the event clock back after a bad row moved it (before the policy caught it).

    Stored rows stay; labels already stamped keep their stamp (they are history); from
    now on labels are stamped against the repaired clock.

    \b
    Example:
      pgfraud clock repair --reason "row 8812 was dated 2031 by the feed"
    """
    with connect() as conn:
        before = conn.execute(_q("state")).fetchone()
        row = conn.execute(_q("repair"), {"to": to, "reason": reason}).fetchone()
        conn.commit()
    assert before is not None and row is not None
    out.print(f"event clock: {_time(before[0])} -> {_time(row[0])}")


def _time(value: Any) -> str:
    if value is None:
        return "none yet (nothing ingested)"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def _span(value: dt.timedelta) -> str:
    """``1d``, ``36h``, ``90s``: the units --max-ahead takes."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
