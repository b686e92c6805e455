"""``pgfraud features``: the stored feature set."""

from __future__ import annotations

import sys
import time
from typing import cast

import click
from rich.console import Console
from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn

from pgfraud.cli.progress import progress
from pgfraud.kernel.db import connect, database_url, redact
from pgfraud.kernel.names import SCORER_ROLE
from pgfraud.kernel.signals import stop_on_signals
from producer import features as feature_store


@click.group()
def features() -> None:
    """Backfill features.transaction_features, and choose where features are computed:
    in the storing transaction, or by a follower beside it (docs/features.md)."""


@features.command()
@click.option("--chunk", default=20_000, show_default=True, type=click.IntRange(min=100),
              help="Transaction ids per database transaction.")
def backfill(chunk: int) -> None:
    """Recompute every transaction's features with the ingest SQL and check them.

    Rows without features get them; rows with features are compared with the
    recomputation, column by column, and never overwritten. Exits with status 1 if any
    stored row differs (it should never happen: ingest and backfill run the same SQL over
    the same visible rows). Safe beside running producers.
    """
    started = time.monotonic()
    with connect() as conn, progress(
        "backfill", unit="transaction ids", console=Console(stderr=True),
        columns=(TextColumn("backfill"), BarColumn(), TaskProgressColumn(),
                 TimeRemainingColumn()),
    ) as bar:
        result = feature_store.backfill(
            conn, chunk=chunk, on_chunk=lambda done, total: bar.update(done=done, total=total))
    seconds = time.monotonic() - started
    click.echo(f"transactions  {result.transactions:,}")
    click.echo(f"filled in     {result.inserted:,}")
    click.echo(f"identical     {result.identical:,}")
    click.echo(f"different     {len(result.different_ids):,}")
    click.echo(f"time          {seconds:,.1f} s "
               f"({result.transactions / max(seconds, 1e-9):,.0f} transactions/s)")
    if result.different_ids:
        sample = ", ".join(map(str, result.different_ids[:10]))
        click.echo(f"error: stored features differ from the recomputation for transactions "
                   f"{sample}{' …' if len(result.different_ids) > 10 else ''}", err=True)
        sys.exit(1)


@features.command()
@click.argument("computed_by", required=False, type=click.Choice(feature_store.COMPUTED_BY))
def mode(computed_by: str | None) -> None:
    """Show or switch where stored rows' features are computed.

    \b
    ingest    by the insert's trigger, in the transaction that stores the rows (default):
              a row is queued for scoring with its features when it commits.
    follower  by `pgfraud features follow`, in a second backend, as rows commit: storing
              and features run at once (faster ingest on two or more cores); a row is
              queued for scoring when its features are stored. Run a follower, or rows
              wait unscored.

    Switching to ingest first computes every row the follower has not reached, so no row
    is left without features. Needs the owner role.
    """
    from pgfraud.kernel import migrate

    if computed_by is not None:
        migrate.ensure_schema(announce=lambda line: click.echo(line, err=True))
    with connect() as conn:
        if computed_by is not None:
            caught_up = feature_store.set_compute_mode(
                conn, cast(feature_store.ComputedBy, computed_by))
            if caught_up:
                click.echo(f"computed the features of {caught_up:,} waiting rows first")
        now = feature_store.compute_mode(conn)
    click.echo(f"features computed by  {now.computed_by} (since "
               f"{now.changed_at:%Y-%m-%d %H:%M:%S %Z})")
    if now.computed_by == "follower" or now.waiting:
        click.echo(f"rows waiting          {now.waiting:,}")


@features.command()
@click.option("--batch-rows", default=5_000, show_default=True,
              type=click.IntRange(1, 1_000_000),
              help="Most rows computed and committed in one step. Larger steps cost less "
                   "a row; the HTTP API waits for a step in progress before it computes "
                   "its own row.")
@click.option("--once", is_flag=True, help="Compute every waiting row, then exit.")
@click.option("--poll-interval", default=1.0, show_default=True,
              type=click.FloatRange(0.05, 60),
              help="Seconds between checks when no NOTIFY arrives.")
@click.option("--status-every", default=5.0, show_default=True, type=click.FloatRange(0.5),
              help="Seconds between progress lines on stderr.")
def follow(batch_rows: int, once: bool, poll_interval: float, status_every: float) -> None:
    """Compute features of stored rows as they commit (the feature follower).

    For `pgfraud features mode follower`: each step computes the features of the rows
    stored after the last step, in id order (features.compute_pending: the same SQL and
    values as the insert's trigger), queues them for scoring and commits, as
    pgfraud_scorer. One follower computes at a time (a second waits for the first);
    killed at any point it loses nothing, and the next resumes where it stopped.
    Runs until Ctrl-C / SIGTERM or, with --once, until no row waits.

    \b
    Examples:
      pgfraud features mode follower && pgfraud features follow
      pgfraud features follow --once       # catch up, then exit
    """
    from pgfraud.kernel import migrate

    migrate.ensure_schema(announce=lambda line: click.echo(line, err=True))
    url = database_url()
    with connect(url) as conn:
        mode_now = feature_store.compute_mode(conn)
    if mode_now.computed_by != "follower":
        click.echo("note: features are computed at ingest (`pgfraud features mode`): "
                   "there is nothing for a follower to do until `pgfraud features mode "
                   "follower`", err=True)
    click.echo(f"following {redact(url)} as {SCORER_ROLE}: steps of at most "
               f"{batch_rows:,} rows, {mode_now.waiting:,} rows waiting", err=True)
    started = last_print = time.monotonic()

    def on_batch(stats: feature_store.FollowStats) -> None:
        nonlocal last_print
        now = time.monotonic()
        if now - last_print >= status_every:
            click.echo(f"computed {stats.computed:,} rows "
                       f"({stats.computed / max(now - started, 1e-9):,.0f}/s) · through "
                       f"transaction {stats.through_id:,}", err=True)
            last_print = now

    with stop_on_signals() as stop, connect(url, role=SCORER_ROLE) as conn, \
            connect(url, role=SCORER_ROLE, autocommit=True) as listener:
        stats = feature_store.follow(conn, listener, batch_rows=batch_rows,
                                     idle_wait=poll_interval, stop=stop, once=once,
                                     on_batch=on_batch)
    seconds = time.monotonic() - started
    click.echo(f"computed {stats.computed:,} rows in {stats.batches:,} steps in "
               f"{seconds:,.1f} s; through transaction {stats.through_id:,}", err=True)
