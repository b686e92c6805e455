"""Progress where nobody watches a terminal: ``pgfraud import`` with stderr in a pipe logs
rows, share of the file, event time and rate; on a terminal it draws a bar instead."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from producer import kaggle
from producer.records import CardTransaction
from producer.stream import StreamConfig, TransactionStream

PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))
ROWS = 2500
LINE = re.compile(r"INFO pgfraud\.progress: (.*)")
PROGRESS = re.compile(r"import: ([\d,]+) rows \(([\d.]+) % of the file\), event time "
                      r"(\d{4}-\d\d-\d\d \d\d:\d\d), ([\d,.]+) rows/s, \d+ s")
FINAL = re.compile(r"import: finished, ([\d,]+) rows \(100\.0 % of the file\), event time "
                   r"(\d{4}-\d\d-\d\d \d\d:\d\d), ([\d,.]+) rows/s, \d+ s")


@pytest.fixture(scope="module")
def transactions() -> list[CardTransaction]:
    config = StreamConfig(seed=16, start=dt.datetime(2026, 3, 2, tzinfo=dt.UTC), cards=200,
                          merchants=60)
    return [tx for tx, _ in itertools.islice(TransactionStream(config), ROWS)]


def environment(db_url: str, **extra: str) -> dict[str, str]:
    # FORCE_COLOR / TTY_COMPATIBLE make rich treat any stream as a terminal (or none).
    env = {k: v for k, v in os.environ.items()
           if k not in ("PGFRAUD_HOME", "PGFRAUD_PROGRESS", "PGFRAUD_PROGRESS_INTERVAL",
                        "FORCE_COLOR", "TTY_COMPATIBLE")}
    return {**env, "DATABASE_URL": db_url, "PGFRAUD_TOKEN_KEY": "k" * 32, **extra}


def minute(at: dt.datetime) -> str:
    return f"{at.astimezone(dt.UTC):%Y-%m-%d %H:%M}"


def test_import_into_a_pipe_logs_rows_rate_and_a_final_line(
        db_url: str, tmp_path: Path, transactions: list[CardTransaction]) -> None:
    path = tmp_path / "fraudTest.csv"
    assert kaggle.write_rows(path, transactions) == ROWS
    result = subprocess.run([PGFRAUD, "import", str(path)], capture_output=True, text=True,
                            env=environment(db_url, PGFRAUD_PROGRESS_INTERVAL="0"),
                            timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    lines = [m[1] for m in map(LINE.fullmatch, result.stderr.splitlines()) if m]
    assert re.fullmatch(r"import: started \([\d.]+ [kM]B file\)", lines[0]), lines
    # Interval 0: a line at each update (every 1,000 rows and at the end of the file).
    updates = [PROGRESS.fullmatch(line) for line in lines[1:-1]]
    assert all(updates), lines
    done = [int(m[1].replace(",", "")) for m in updates if m]
    assert done == [1000, 2000, ROWS]
    shares = [float(m[2]) for m in updates if m]
    assert shares == sorted(shares) and 0 < shares[0] < 100 and shares[-1] == 100.0
    # The event time is the last row read's, in UTC.
    assert [m[3] for m in updates if m] == [minute(transactions[n - 1].transacted_at)
                                            for n in done]
    assert all(float(m[4].replace(",", "")) > 0 for m in updates if m)
    final = FINAL.fullmatch(lines[-1])
    assert final, lines[-1]
    assert int(final[1].replace(",", "")) == ROWS
    assert final[2] == minute(transactions[-1].transacted_at)
    assert float(final[3].replace(",", "")) > 0
    assert re.search(rf"rows read\s+{ROWS:,}\b", result.stdout), result.stdout


def test_on_a_terminal_a_bar_and_no_log_lines(db_url: str, tmp_path: Path,
                                              transactions: list[CardTransaction]) -> None:
    path = tmp_path / "fraudTest.csv"
    kaggle.write_rows(path, transactions[:200])
    master, terminal = pty.openpty()
    screen = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed
                return
            if not chunk:
                return
            screen.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        result = subprocess.run([PGFRAUD, "import", str(path)], stdout=subprocess.PIPE,
                                stderr=terminal, text=True, timeout=300,
                                stdin=subprocess.DEVNULL,
                                env=environment(db_url, PGFRAUD_PROGRESS_INTERVAL="0",
                                                TERM="xterm"))
    finally:
        os.close(terminal)
        reader.join(timeout=10)
        os.close(master)
    shown = screen.decode(errors="replace")
    assert result.returncode == 0, shown
    assert "importing" in shown and "pgfraud.progress" not in shown
    assert re.search(r"rows read\s+200\b", result.stdout), result.stdout
