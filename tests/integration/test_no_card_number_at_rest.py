"""No card number at rest, proved on everything the loop writes.

The ``monitored`` database ran the whole loop and imported a CSV seeded with card
numbers in every text field (merchant, trans_num, names, street, job; valid rows stored,
invalid ones quarantined; tests/monitoring.py). The leak scanner then reads a
``pg_dump`` of it, the database itself (every text column, from the catalog), the
server log, dbt's ``target/`` and ``logs/``, and the HTML report: it finds nothing. The
seeded file itself is scanned too, so a scanner that finds nothing anywhere fails.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
from click.testing import CliRunner

from pgfraud.cli import cli
from pgfraud.kernel.pgbin import find_server_binaries
from pgfraud.monitoring.leaks import scan_database, scan_paths
from tests.monitoring import SEEDED_INVALID, SEEDED_VALID, Monitored


def test_the_seeded_file_is_full_of_card_numbers(monitored: Monitored) -> None:
    found = scan_paths([monitored.seeded_csv])
    # Every row: merchant, first, last, street, city, job and trans_num hold one each.
    assert len(found) >= 7 * (SEEDED_VALID + SEEDED_INVALID)


def test_the_seeded_rows_were_stored_masked_or_quarantined(monitored: Monitored) -> None:
    with psycopg.connect(monitored.url) as conn:
        stored = conn.execute(
            "select count(*) filter (where merchant like '%****%'), "
            "count(*) filter (where trans_num like 'tok\\_%') from ingest.transactions"
        ).fetchone()
        quarantined = conn.execute(
            "select count(*) from ingest.quarantine where raw_payload->>'file' = 'seeded.csv'"
        ).fetchone()
        dropped = conn.execute(
            "select count(*) from ingest.quarantine where raw_payload ?| "
            "array['first', 'last', 'street', 'city', 'job', 'zip', 'gender']").fetchone()
    assert stored == (SEEDED_VALID, SEEDED_VALID)
    assert quarantined == (SEEDED_INVALID,)
    assert dropped == (0,)


def test_nothing_the_loop_wrote_holds_a_card_number(monitored: Monitored, tmp_path: Path,
                                                    pg_server_log: Path | None) -> None:
    with psycopg.connect(monitored.url) as conn:
        assert scan_database(conn) == []

    # ml.models holds the models (ONNX bytes, LightGBM text of integer lists), which the
    # database scan skips for that reason; the dump's scan leaves out that table's data.
    dump = tmp_path / "dump.sql"
    subprocess.run([str(find_server_binaries().bindir / "pg_dump"), "--dbname", monitored.url,
                    "--exclude-table-data", "ml.models", "--file", str(dump)], check=True,
                   env={**os.environ, "LC_ALL": "C"})
    text = dump.read_text()
    assert "COPY ingest.transactions" in text and "COPY ingest.quarantine" in text
    assert "seeded.csv" in text

    report = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "--out", str(report)],
                                env={"DATABASE_URL": monitored.url})
    assert result.exit_code == 0, result.output

    places = [dump, report, monitored.dbt_state / "target", monitored.dbt_state / "logs"]
    if pg_server_log is not None:
        assert pg_server_log.exists()
        places.append(pg_server_log)
    assert all(Path(p).exists() for p in places)
    assert [str(f) for f in scan_paths(places)] == []
