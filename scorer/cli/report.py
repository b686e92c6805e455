"""``pgfraud report``: the monitoring boards as one self-contained HTML file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

from scorer.cli import params
from scorer.cli.progress import progress
from scorer.db import database_url, redact
from scorer.names import READER_ROLE


@click.command()
@click.option("--out", default="report.html", show_default=True,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="The HTML file to write (replaced if it exists).")
@click.option("--from", "start", callback=params.timestamp, metavar="ISO",
              help="Start of the time range, e.g. 2026-03-01 or 2026-03-01T12:00 (UTC "
                   "unless a zone is given). Default: the earliest data.")
@click.option("--to", "end", callback=params.timestamp, metavar="ISO",
              help="End of the time range. Default: the latest data.")
def report(out: Path, start: dt.datetime | None, end: dt.datetime | None) -> None:
    """Write the monitoring dashboards as one self-contained HTML page.

    Shows both Grafana boards without Grafana: operations (throughput, latency,
    alerts, quarantined input) and model (accuracy per model version, feature drift,
    score distribution, label backlog and delay, the models). Every panel runs the
    same SQL as the Grafana boards, as the read-only role pgfraud_reader, over the dbt
    marts in schema analytics, so build them first with `pgfraud dbt build`.

    The file has plotly.js inlined and loads nothing from the network: open it
    offline, mail it, attach it to a ticket. It holds only the panels' aggregates
    (no card data).

    \b
    Examples:
      pgfraud report                                  # all data, ./report.html
      pgfraud report --from 2026-03-01 --to 2026-03-08 --out week.html
    """
    from scorer.panels import BOARDS
    from scorer.report import write_report

    url = database_url()
    total = sum(len(board.panels) for board in BOARDS)
    click.echo(f"reading {total} panels from {redact(url)} as {READER_ROLE}", err=True)
    with progress("querying panels", total=total, unit="panels", console=Console(stderr=True),
                  columns=(TextColumn("querying panels"), BarColumn(),
                           MofNCompleteColumn())) as bar:
        path = write_report(url, out, start, end, boards=BOARDS,
                            on_panel=lambda _: bar.advance())
    size = path.stat().st_size
    click.echo(f"wrote {path} ({size / 1_000_000:.1f} MB)")
