"""The leak scanner on a database: nothing on the project's own data, everything seeded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from pgfraud.monitoring.leaks import EXCLUDED_COLUMNS, SCHEMAS, scan_database, scanned_columns

PGFRAUD = str(Path(sys.executable).parent / "pgfraud")
VISA, MASTERCARD, DISCOVER, AMEX = ("4111111111111111", "5500005555555559",
                                    "6011111111111117", "378282246310005")


def test_the_project_own_data_holds_no_card_number(monitored_db: str) -> None:
    """The false-positive gate: produce, score, label, train and dbt wrote all of this."""
    with psycopg.connect(monitored_db) as conn:
        columns = scanned_columns(conn)
        assert scan_database(conn) == []
    # analytics_staging holds dbt's staging views (read through their tables) and one
    # table, int_scored_transactions (card tokens, never card numbers).
    assert {schema for schema, _ in columns} == set(SCHEMAS)
    assert {table for schema, table in columns if schema == "analytics_staging"} == {
        "int_scored_transactions"}
    assert "merchant" in columns["ingest", "transactions"]
    assert "metrics" in columns["ml", "models"] and "note" in columns["ml", "models"]
    for schema, table, column in EXCLUDED_COLUMNS:
        assert column not in columns[schema, table]
    assert "onnx_model" not in columns["ml", "models"]  # bytea


def test_seeded_numbers_are_found_and_reported_masked(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:  # the owner, bypassing the producer
        conn.execute(
            "insert into ingest.quarantine (reason, detail, raw_payload, raw_sha256, source)"
            " values ('bad_amount', %s, %s, repeat('a', 64), 'csv')",
            (f"amount 'x' for ref{VISA}", Jsonb({"cc_num": "5500 0055 5555 5559"})))
        conn.execute(
            "insert into ml.models (onnx_model, onnx_sha256, lightgbm_model, feature_names,"
            " feature_set_version, threshold, note)"
            " values (%(bytes)s, encode(sha256(%(bytes)s), 'hex'), %(model)s, array['amount'],"
            " 1, 0.5, %(note)s)",
            {"bytes": DISCOVER.encode(), "note": "trained on 6011-1111-1111-1117",
             "model": f"tree\nversion=v4\ninternal_count={DISCOVER} 6011 1111 1111 1117\n"})
        # A table and a materialized view added today are covered today.
        conn.execute("create table truth.leak_probe (a varchar(40), b char(30), c json,"
                     " d text[], e bytea)")
        conn.execute("insert into truth.leak_probe values (%(s)s, %(c)s, %(j)s, %(a)s, %(b)s)",
                     {"s": f"#{AMEX}", "c": f"{AMEX}-", "j": Jsonb([int(AMEX)]), "a": ["x", AMEX],
                      "b": AMEX.encode()})
        conn.execute(f"create materialized view scoring.leak_probe as select 'a{VISA}b' as t,"
                     f" '\\x{VISA.encode().hex()}'::bytea as b")
        conn.commit()

        findings = scan_database(conn)

    assert sorted((f.source, f.masked) for f in findings) == sorted([
        ("ingest.quarantine.detail", "************1111"),
        ("ingest.quarantine.raw_payload", "************5559"),
        ("ml.models.note", "************1117"),
        ("scoring.leak_probe.t", "************1111"),
        ("truth.leak_probe.a", "***********0005"),
        ("truth.leak_probe.b", "***********0005"),
        ("truth.leak_probe.c", "***********0005"),
        ("truth.leak_probe.d", "***********0005"),
    ])
    assert all(f.row.startswith("ctid (") for f in findings)
    assert not any(number in str(findings) for number in (VISA, MASTERCARD, DISCOVER, AMEX))


def test_the_cli_scans_the_database(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "insert into ingest.quarantine (reason, detail, raw_payload, raw_sha256, source)"
            " values ('bad_row', %s, '{}', repeat('b', 64), 'csv')", (f"pan {VISA}",))
    env = {**os.environ, "DATABASE_URL": db_url}
    result = subprocess.run([PGFRAUD, "leaks"], env=env, capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines()[0].startswith("ingest.quarantine.detail ctid (")
    assert result.stdout.splitlines()[0].endswith(": ************1111")
    assert result.stdout.splitlines()[-1] == "1 card number found"
    assert VISA not in result.stdout + result.stderr
