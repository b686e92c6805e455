"""Backtests a fraud team can trust (issue 16): every row of a messy file accounted for
and equal to the table deltas, in ``pgfraud replay`` and ``pgfraud import``; the replay's
headline built from comparable figures; decisions with their event time, rule and whole
detail; a fresh folder migrated on first use, an external database told what to run."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgfraud.kernel.migrate import head_revision

PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))
KEY = "k" * 32


def pgfraud(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PGFRAUD, *args], env=env, capture_output=True, text=True,
                          timeout=900, stdin=subprocess.DEVNULL)


def external(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "PGFRAUD_TOKEN_KEY": KEY, "COLUMNS": "200"}


@pytest.fixture
def home_env() -> Iterator[dict[str, str]]:
    """A new, empty PGFRAUD_HOME: the embedded default, never started."""
    parent = Path(tempfile.mkdtemp(prefix="pgfraud-backtest-"))
    parent.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGFRAUD_HOME")}
    env.update(PGFRAUD_HOME=str(parent / ".pgfraud"), COLUMNS="200")
    yield env
    subprocess.run([PGFRAUD, "db", "destroy", "--yes"], env=env, capture_output=True)
    shutil.rmtree(parent, ignore_errors=True)


def messy(clean: Path, out: Path) -> Counter[str]:
    """``clean`` with what real feeds do: the same trans_num again with other content
    (conflict), an identical line again (re-sent), unparseable amounts, dates before
    2000 and in 2199 (implausible_time). Returns the expected quarantine reasons."""
    with clean.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    expected: Counter[str] = Counter()
    written = []
    for i, row in enumerate(rows):
        written.append(row)
        if i % 40 == 5 and i > 100:  # an earlier trans_num, another amount
            written.append({**rows[i - 60], "amt": f"{float(rows[i - 60]['amt']) + 1:.2f}"})
            expected["conflict"] += 1
        if i % 90 == 7:
            written.append(dict(row))  # sent twice, identical
            expected["already stored"] += 1
        if i % 70 == 3:
            written.append({**row, "trans_num": row["trans_num"] + "b", "amt": "twelve"})
            expected["bad_amount"] += 1
        if i % 500 == 11:
            for when in ("1970-01-01 00:00:00", "2199-01-01 00:00:00"):
                written.append({**row, "trans_num": row["trans_num"] + when[:4],
                                "trans_date_trans_time": when, "dob": "1930-01-01"})
                expected["implausible_time"] += 1
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(written)
    expected["read"] = len(written)
    return expected


def table_counts(url: str) -> tuple[int, Counter[str]]:
    with psycopg.connect(url) as conn:
        ((stored,),) = conn.execute("select count(*) from ingest.transactions").fetchall()
        reasons: Counter[str] = Counter(dict(conn.execute(
            "select reason, count(*) from ingest.quarantine group by 1").fetchall()))
    return stored, reasons


def summary_number(stdout: str, label: str) -> int:
    for line in stdout.splitlines():
        if line.strip().startswith(label):
            return int(line.strip()[len(label):].split()[0].replace(",", ""))
    raise AssertionError(f"{label!r} not in:\n{stdout}")


def test_import_accounts_for_every_row_and_equals_the_table_deltas(
        db_url: str, tmp_path: Path) -> None:
    env = external(db_url)
    clean = tmp_path / "clean.csv"
    assert pgfraud("produce", "--count", "3000", "--start", "2026-02-01", "--to-csv",
                   str(clean), env=env).returncode == 0
    expected = messy(clean, tmp_path / "messy.csv")
    for attempt in ("first", "again"):  # the second import: everything re-sent
        before = table_counts(db_url)
        result = pgfraud("import", str(tmp_path / "messy.csv"), env=env)
        assert result.returncode == 0, result.stderr
        after = table_counts(db_url)
        out = result.stdout
        read = summary_number(out, "rows read")
        stored = summary_number(out, "stored (new)")
        resent = summary_number(out, "already stored (re-sent)")
        reasons = {r: summary_number(out, r) for r in ("conflict", "bad_amount",
                                                        "implausible_time")}
        assert read == expected["read"]
        assert read == stored + resent + summary_number(out, "quarantined")
        assert summary_number(out, "quarantined") == sum(reasons.values())
        assert stored == after[0] - before[0]
        new_quarantine = sum((after[1] - before[1]).values())
        if attempt == "first":
            assert reasons == {r: expected[r] for r in reasons}
            assert resent == expected["already stored"]
            assert summary_number(out, "new quarantine rows") == new_quarantine
            assert after[1] - before[1] == Counter({r: n for r, n in reasons.items()})
        else:
            assert stored == new_quarantine == 0
            assert "new quarantine rows" not in out or summary_number(
                out, "new quarantine rows") == 0


def test_replay_of_a_messy_file_on_a_fresh_folder(home_env: dict[str, str],
                                                  tmp_path: Path) -> None:
    """The issue's replay, end to end: a new PGFRAUD_HOME (migrated on first use), a file
    with conflicts, re-sends and bad rows; loose gates, so models trained on the file
    take charge and the report has a steady state."""
    clean = tmp_path / "clean.csv"
    made = pgfraud("produce", "--span", "22d", "--cards", "300", "--fraud-rate", "0.03",
                   "--start", "2026-02-01", "--to-csv", str(clean), env=home_env)
    assert made.returncode == 0, made.stderr
    expected = messy(clean, tmp_path / "messy.csv")
    report_path = tmp_path / "report.json"
    result = pgfraud("replay", str(tmp_path / "messy.csv"), "--label-delay", "2d",
                     "--retrain-every", "3d", "--min-shadow", "1d", "--min-frauds", "5",
                     "--margin", "-1", "--report", str(report_path), env=home_env)
    assert result.returncode == 0, result.stderr
    assert f"bringing the embedded database's schema to {head_revision()}" in result.stderr
    report = json.loads(report_path.read_text())
    url = pgfraud("db", "url", env=home_env).stdout.strip()
    stored, quarantine = table_counts(url)

    accounting = report["accounting"]
    assert accounting["read"] == expected["read"] == accounting["accounted"]
    assert accounting["stored"] == stored
    assert accounting["already_stored"] == expected["already stored"]
    assert accounting["quarantined"] == {r: expected[r] for r in
                                         ("bad_amount", "conflict", "implausible_time")}
    assert accounting["new_quarantine_rows"] == sum(quarantine.values())
    assert Counter(accounting["quarantined"]) == quarantine
    with psycopg.connect(url) as conn:
        ((scored,),) = conn.execute(
            "select count(*) from scoring.predictions where not is_shadow").fetchall()
    assert accounting["scored"] == scored == stored
    assert (f"{expected['read']:,} rows read = {stored:,} stored + "
            f"{expected['already stored']:,} already stored") in result.stdout

    # The headline: weeks and models on their own traffic; a steady state exists.
    weeks, models = report["weeks"], report["models"]
    assert sum(w["transactions"] for w in weeks) == scored
    assert sum(m["transactions"] for m in models) == scored
    own = {m["model_version"] for m in models if m["trained_on_this_file"]}
    assert own, "a model trained on the file took charge"
    assert weeks[0]["bootstrap"] and not weeks[-1]["bootstrap"]
    steady = report["steady_state"]
    steady_weeks = [w for w in weeks if not w["bootstrap"]]
    assert steady["weeks"] == len(steady_weeks)
    assert all(set(map(int, w["champions"])) <= own for w in steady_weeks)
    assert steady["average_precision"]["mean"] == pytest.approx(
        sum(w["average_precision"] for w in steady_weeks) / len(steady_weeks))
    assert "pooled over all" in result.stdout and "not calibrated" in report["pooled"]["note"]
    assert result.stdout.index("steady state") < result.stdout.index("pooled over all")

    # The history: event time, rule, the whole detail, the evidence, as stored.
    decisions = report["decisions"]
    with psycopg.connect(url) as conn:
        stored_decisions = conn.execute(
            "select retrain_decision_id, event_at, rule, detail from ml.retrain_decisions "
            "order by 1").fetchall()
    assert [d["decision_id"] for d in decisions] == [r[0] for r in stored_decisions]
    for decision, (_, event_at, rule, detail) in zip(decisions, stored_decisions, strict=True):
        assert decision["event_time"] == event_at.isoformat()
        assert "2026-02-01" <= decision["event_time"][:10] <= "2026-02-23"
        assert (decision["rule"], decision["detail"]) == (rule, detail)
    assert any(d["outcome"] == "promoted" and d["evidence"]["comparison"] for d in decisions)
    longest = max(decisions, key=lambda d: len(d["detail"]))
    assert len(longest["detail"]) > 70
    flat = " ".join(result.stdout.split())
    assert " ".join(longest["detail"].split()[-4:]) in flat  # wrapped, not cut
    for d in decisions:
        assert d["event_time"][:10] in result.stdout
    trained = [t for t in report["trainings"] if t["training_seconds"] is not None]
    assert trained and all(0 < t["training_seconds"] <= t["seconds"] for t in trained)
    assert "trained in" in result.stdout


def test_a_fresh_folder_migrates_before_import_and_score(home_env: dict[str, str],
                                                        tmp_path: Path) -> None:
    csv_file = tmp_path / "small.csv"
    assert pgfraud("produce", "--count", "200", "--start", "2026-02-01", "--to-csv",
                   str(csv_file), env=home_env).returncode == 0
    first = pgfraud("import", str(csv_file), env=home_env)
    assert first.returncode == 0, first.stderr
    assert f"schema to {head_revision()} (was empty)" in first.stderr
    assert summary_number(first.stdout, "stored (new)") == 200
    scored = pgfraud("score", "--once", env=home_env)
    assert "bringing" not in scored.stderr  # already at head: nothing said
    status = pgfraud("migrate", "--status", env=home_env)
    assert head_revision() in status.stdout


@pytest.mark.parametrize("verb", [["replay"], ["import"], ["train"], ["score", "--once"]])
def test_an_external_database_behind_head_is_told_what_to_run(
        verb: list[str], empty_db_url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "one.csv"
    csv_file.write_text("trans_num\n")
    args = [*verb, str(csv_file)] if verb[0] in ("replay", "import") else verb
    result = pgfraud(*args, env=external(empty_db_url))
    assert result.returncode == 1
    assert (f"is at schema revision (empty), and this pgfraud needs {head_revision()}; run "
            f"`pgfraud migrate` (with the same DATABASE_URL) first") in result.stderr
    assert "Traceback" not in result.stderr
    with psycopg.connect(empty_db_url) as conn:  # nothing was migrated behind its back
        ((tables,),) = conn.execute("select count(*) from pg_tables where schemaname "
                                    "not in ('pg_catalog', 'information_schema')").fetchall()
    assert tables == 0
