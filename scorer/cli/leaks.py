"""``pgfraud leaks``: find card numbers at rest."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, TaskProgressColumn, TextColumn

from scorer import leaks as leak_scan
from scorer.cli.output import printable
from scorer.cli.progress import progress
from scorer.db import connect


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--no-database", is_flag=True, help="Scan only the PATHs, not the database.")
def leaks(paths: tuple[Path, ...], no_database: bool) -> None:
    """Find raw card numbers at rest, in the database and in files.

    A card number is a Luhn-valid 13-19 digit number, plain or grouped as cards are
    written (4111 1111 1111 1111, 4111-1111-…, 3782 822463 10005), even glued to letters;
    digits of a decimal or exponent number, of a hex digest or of a UUID are not
    (producer/cards.py defines it). Each one found is printed with where it is and
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
