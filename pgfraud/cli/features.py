"""``pgfraud features``: the stored feature set."""

from __future__ import annotations

import sys
import time

import click
from rich.console import Console
from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn

from pgfraud.cli.progress import progress
from pgfraud.kernel.db import connect
from producer import features as feature_store


@click.group()
def features() -> None:
    """Inspect and backfill features.transaction_features (docs/features.md)."""


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
