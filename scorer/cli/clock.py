"""``pgfraud clock``: the event clock and the event-time policy ingest applies."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from scorer import queries
from scorer.cli import params
from scorer.cli.output import plain
from scorer.db import connect

out = Console()


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
