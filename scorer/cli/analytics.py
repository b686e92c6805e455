"""``pgfraud dbt …`` (dbt with the connection filled in) and ``pgfraud refresh`` (the
monitoring marts, and optionally the report, once or on a schedule)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click
from rich.console import Console

from producer.run import graceful_stop
from scorer import analytics
from scorer.cli import params
from scorer.db import database_url
from scorer.errors import PgfraudError

log = logging.getLogger(__name__)
console = Console(stderr=True)


@click.command(context_settings={"ignore_unknown_options": True,
                                 "allow_interspersed_args": False})
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def dbt(dbt_args: tuple[str, ...]) -> None:
    """Run dbt on the monitoring project in dbt/ (marts in schema analytics).

    Everything after `dbt` goes to dbt unchanged; the connection (PGHOST, PGPORT,
    PGUSER, PGPASSWORD, PGDATABASE) comes from DATABASE_URL or the embedded cluster.

    \b
    pgfraud dbt build                      models and their tests
    pgfraud dbt build --full-refresh       rebuild incremental marts from scratch
    pgfraud dbt source freshness           are transactions and predictions arriving?
    pgfraud dbt build --vars '{label_maturity_days: 7}'

    Marts: fct_daily_model_performance, fct_daily_feature_drift,
    fct_daily_score_distribution, fct_scoring_minutes, fct_daily_label_backlog,
    fct_hourly_quarantine, fct_daily_champions, fct_daily_decision_value,
    fct_model_calibration, fct_model_reliability, fct_model_decisions,
    fct_mart_freshness, dim_models (docs/monitoring.md).
    """
    if not dbt_args:
        raise click.UsageError("say what dbt should do, e.g. `pgfraud dbt build`")
    done = analytics.run_dbt(list(dbt_args), database_url())
    sys.exit(done.returncode)


@click.command()
@click.option("--every", callback=params.duration, metavar="TIME",
              help="Build again this long after each build started (5m, 1h), until "
                   "SIGTERM / Ctrl-C [default: build once].")
@click.option("--report", "report_path", metavar="FILE",
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Also rewrite this self-contained HTML report after each build.")
@click.option("--full-refresh", is_flag=True,
              help="Rebuild the incremental marts from scratch (the first build only).")
def refresh(every: float | None, report_path: Path | None, full_refresh: bool) -> None:
    """Build the monitoring marts (dbt build: models and data tests), optionally the
    HTML report, once or on a schedule.

    On a schedule (the compose stack's dbt service) a failed build is logged and tried
    again at the next interval; a single build that fails exits 1 with dbt's output.

    \b
    Examples:
      pgfraud refresh                                   # once
      pgfraud refresh --every 5m --report report.html   # keep dashboards current
    """
    url = database_url()
    first = True
    with graceful_stop() as stop:
        while not stop.requested:
            started = time.monotonic()
            try:
                _build_once(url, report_path, full_refresh=full_refresh and first)
            except PgfraudError as exc:
                if every is None:
                    raise
                log.error("%s", exc)
            first = False
            if every is None:
                return
            while not stop.requested and time.monotonic() - started < every:
                time.sleep(0.2)


def _build_once(url: str, report_path: Path | None, *, full_refresh: bool) -> None:
    with console.status("dbt build: monitoring marts and their data tests ..."):
        started = time.monotonic()
        output = analytics.build(url, full_refresh=full_refresh)
    click.echo(f"marts built in {time.monotonic() - started:.1f} s "
               f"({analytics.done_line(output)})")
    if report_path is not None:
        from scorer.report import write_report

        with console.status("writing the report ..."):
            path = write_report(url, report_path)
        click.echo(f"report written: {path}")
