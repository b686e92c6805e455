"""Monitoring from the command line: ``pgfraud dbt …`` (dbt with the connection filled
in), ``pgfraud refresh`` (the marts, and optionally the report, once or on a schedule),
``pgfraud dashboards`` (Grafana JSON generated from pgfraud/monitoring/panels.py),
``pgfraud report`` (the boards as one self-contained HTML file) and ``pgfraud leaks``
(card numbers at rest)."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskProgressColumn, TextColumn

from pgfraud.cli import params
from pgfraud.cli.output import printable
from pgfraud.cli.progress import progress
from pgfraud.kernel.db import connect, database_url, redact
from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.names import READER_ROLE
from pgfraud.kernel.settings import PROJECT_ROOT
from pgfraud.kernel.signals import stop_on_signals
from pgfraud.monitoring import dbt_runner as analytics
from pgfraud.monitoring import grafana
from pgfraud.monitoring import leaks as leak_scan

log = logging.getLogger(__name__)
console = Console(stderr=True)


#: dbt commands that change no relation: they leave the stored fingerprint alone.
READ_ONLY_COMMANDS = frozenset({"clean", "compile", "debug", "deps", "docs", "init", "list",
                                "ls", "parse", "show", "source", "test"})


@click.command(context_settings={"ignore_unknown_options": True,
                                 "allow_interspersed_args": False})
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def dbt(dbt_args: tuple[str, ...]) -> None:
    """Run dbt on the monitoring project in dbt/ (marts in schema analytics).

    Everything after `dbt` goes to dbt unchanged; the connection (PGHOST, PGPORT,
    PGUSER, PGPASSWORD, PGDATABASE) comes from DATABASE_URL or the embedded cluster.

    `pgfraud dbt build` (alone, or with --vars, --full-refresh, --force) first reads a
    fingerprint of everything the marts read; when it equals the last successful
    build's, dbt is not run ("marts up to date"). --force runs it anyway, and so does
    --full-refresh. Any other dbt command that can change the marts (a build with
    --select, run, seed, ...) makes the next plain build run dbt.

    \b
    pgfraud dbt build                      models and their tests (skipped if nothing new)
    pgfraud dbt build --force              run dbt even when nothing is new
    pgfraud dbt build --full-refresh       rebuild incremental marts from scratch
    pgfraud dbt source freshness           are transactions and predictions arriving?
    pgfraud dbt build --vars '{label_maturity_days: 7}'

    Marts: fct_daily_model_performance, fct_daily_feature_drift,
    fct_daily_feature_histograms, fct_daily_score_distribution, fct_scoring_minutes,
    fct_daily_label_backlog,
    fct_hourly_quarantine, fct_daily_champions, fct_daily_decision_value,
    fct_model_calibration, fct_model_reliability, fct_model_decisions,
    fct_mart_freshness, dim_models (docs/monitoring.md).
    """
    if not dbt_args:
        raise click.UsageError("say what dbt should do, e.g. `pgfraud dbt build`")
    url = database_url()
    plain = _plain_build(list(dbt_args))
    if plain is not None:
        started = time.monotonic()
        done = analytics.refresh(url, capture=False, **plain)
        if done.skipped:
            click.echo(_up_to_date(done, time.monotonic() - started))
        return
    if dbt_args[0] not in READ_ONLY_COMMANDS:
        analytics.forget(url)
    sys.exit(analytics.run_dbt(list(dbt_args), url).returncode)


def _plain_build(args: list[str]) -> dict[str, Any] | None:
    """The options of `build [--full-refresh] [--force] [--vars V]`; None for any other
    command, which goes to dbt as it is."""
    if not args or args[0] != "build":
        return None
    options: dict[str, Any] = {"full_refresh": False, "force": False, "variables": None}
    rest = args[1:]
    while rest:
        arg = rest.pop(0)
        if arg in ("--full-refresh", "--force"):
            options[arg[2:].replace("-", "_")] = True
        elif arg == "--vars" and rest:
            options["variables"] = rest.pop(0)
        elif arg.startswith("--vars="):
            options["variables"] = arg.split("=", 1)[1]
        else:
            return None
    return options


def _up_to_date(done: analytics.Refresh, seconds: float) -> str:
    since = done.up_to_date_since
    assert since is not None
    return (f"marts up to date (nothing new since {since.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} "
            f"UTC); dbt not run ({seconds:.1f} s; --force runs it)")


@click.command()
@click.option("--every", callback=params.duration, metavar="TIME",
              help="Build again this long after each build started (5m, 1h), until "
                   "SIGTERM / Ctrl-C [default: build once].")
@click.option("--report", "report_path", metavar="FILE",
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Also rewrite this self-contained HTML report after each build.")
@click.option("--full-refresh", is_flag=True,
              help="Rebuild the incremental marts from scratch (the first build only).")
@click.option("--force", is_flag=True,
              help="Run dbt even when nothing it reads changed since the last build.")
def refresh(every: float | None, report_path: Path | None, full_refresh: bool,
            force: bool) -> None:
    """Build the monitoring marts (dbt build: models and data tests), optionally the
    HTML report, once or on a schedule.

    dbt is not run when nothing the marts read changed since the last successful build
    (the sources, the dbt project, its vars; docs/monitoring.md): "marts up to date".
    On a schedule (the compose stack's dbt service) a failed build is logged and tried
    again at the next interval; a single build that fails exits 1 with dbt's output.

    \b
    Examples:
      pgfraud refresh                                   # once
      pgfraud refresh --every 5m --report report.html   # keep dashboards current
    """
    url = database_url()
    first = True
    with stop_on_signals() as stop:
        while not stop():
            started = time.monotonic()
            try:
                _build_once(url, report_path, full_refresh=full_refresh and first,
                            force=force and first)
            except PgfraudError as exc:
                if every is None:
                    raise
                log.error("%s", exc)
            first = False
            if every is None:
                return
            while not stop() and time.monotonic() - started < every:
                time.sleep(0.2)


def _build_once(url: str, report_path: Path | None, *, full_refresh: bool,
                force: bool) -> None:
    with console.status("dbt build: monitoring marts and their data tests ..."):
        started = time.monotonic()
        done = analytics.refresh(url, full_refresh=full_refresh, force=force)
    seconds = time.monotonic() - started
    if done.skipped:
        click.echo(_up_to_date(done, seconds))
    else:
        click.echo(f"marts built in {seconds:.1f} s ({analytics.done_line(done.output)})")
    if report_path is not None:
        from pgfraud.monitoring.report import write_report

        with console.status("writing the report ..."):
            path = write_report(url, report_path)
        click.echo(f"report written: {path}")


DEFAULT_DIR = PROJECT_ROOT / "dashboards"


@click.group()
def dashboards() -> None:
    """Build and upload the Grafana dashboards (docs/dashboards.md).

    The boards are defined in pgfraud/monitoring/panels.py; `build` writes their JSON into
    dashboards/ (which Grafana provisions), `push` uploads them over Grafana's HTTP API.
    """


@dashboards.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DIR,
              show_default="dashboards/ in the repository",
              help="Directory for the <uid>.json files.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit with status 1 if any file is missing or differs "
                   "from what the code generates (for CI and pre-commit).")
def build(out: Path, check: bool) -> None:
    """Write one dashboard JSON file per board (sorted keys, stable ids).

    Files already up to date are left untouched. Commit the result: Grafana provisions
    dashboards from these files.
    """
    outdated = grafana.stale(out)
    if check:
        if outdated:
            names = ", ".join(str(out / name) for name in outdated)
            click.echo(f"error: stale dashboards (differ from pgfraud/monitoring/panels.py): "
                       f"{names}; run `pgfraud dashboards build`", err=True)
            sys.exit(1)
        click.echo(f"{len(grafana.BOARDS)} dashboards in {out} are up to date")
        return
    for path in grafana.write_all(out):
        click.echo(f"{'wrote    ' if path.name in outdated else 'unchanged'} {path}")


@dashboards.command()
@click.option("--url", envvar="GRAFANA_URL", show_envvar=True, required=True,
              help="Grafana base URL, e.g. http://localhost:3000.")
@click.option("--token", envvar="GRAFANA_TOKEN", show_envvar=True, required=True,
              help="Service account token with the Editor role (prefer the environment "
                   "variable: options show up in the process list).")
@click.option("--folder", default=grafana.FOLDER_UID, show_default=True,
              help="Uid (and title, if it has to be created) of the folder for the boards.")
def push(url: str, token: str, folder: str) -> None:
    """Upload every board to a Grafana server, replacing the versions there.

    Creates the folder if it is missing and prints one line per board with its URL.
    Boards provisioned from files (dashboards/provisioning) cannot be overwritten this
    way; use one or the other.
    """
    result = grafana.push(url, token, folder)
    if result.folder_created:
        click.echo(f"created folder {folder}")
    for board in result.boards:
        version = f" (version {board.version})" if board.version is not None else ""
        click.echo(f"{board.uid}  {board.url}{version}")


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
    from pgfraud.monitoring.panels import BOARDS
    from pgfraud.monitoring.report import write_report

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


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--no-database", is_flag=True, help="Scan only the PATHs, not the database.")
def leaks(paths: tuple[Path, ...], no_database: bool) -> None:
    """Find raw card numbers at rest, in the database and in files.

    A card number is a Luhn-valid 13-19 digit number, plain or grouped as cards are
    written (4111 1111 1111 1111, 4111-1111-…, 3782 822463 10005), even glued to letters;
    digits of a decimal or exponent number, of a hex digest or of a UUID are not
    (pgfraud/kernel/card_numbers.py defines it). Each one found is printed with where it is and
    masked (************1111), never in clear. Exits with status 1 when any is found,
    0 otherwise.

    \b
    Scanned: every text, varchar, char, json and jsonb column (and arrays of them) of
    every table and materialized view in the ingest, features, scoring, ml, truth,
    analytics and analytics_staging schemas, found in the catalog, as the owner; and
    every file under each PATH, binary files too (read as UTF-8).
    Skipped: bytea columns (binary: ONNX models); ml.models.lightgbm_model and the
    integer-list lines of LightGBM model files (tree counts such as
    "internal_count=4523 1234 4567 1234" read exactly like a card number); files over
    512 MB (with a warning).
    """
    findings: list[leak_scan.Finding] = []
    if not no_database:
        with connect() as conn, progress(
            "scanning tables", unit="tables", console=Console(stderr=True),
            columns=(TextColumn("scanning tables"), BarColumn(), TaskProgressColumn()),
        ) as bar:
            findings += leak_scan.scan_database(
                conn, on_table=lambda done, total: bar.update(done=done, total=total))
    findings += leak_scan.scan_paths(paths)
    for finding in findings:
        click.echo(printable(finding))
    click.echo(f"{len(findings):,} card number{'' if len(findings) == 1 else 's'} found")
    if findings:
        sys.exit(1)
