"""Progress lines: what a line says, when one is written, bar or log (no database)."""

from __future__ import annotations

import datetime as dt
import io
import logging
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from pgfraud.cli.progress import Status, Tracker, interval_from, mode_for, spinner_columns
from pgfraud.kernel.errors import PgfraudError


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def lines() -> Lines:
    handler = Lines()
    logger = logging.getLogger("test.progress")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


def tracker(clock: Clock, interval: float = 10, **kwargs: object) -> Tracker:
    return Tracker("import", mode="log", interval=interval, clock=clock,
                   logger=logging.getLogger("test.progress"), heartbeat=False,
                   **kwargs)  # type: ignore[arg-type]


def test_a_line_says_rows_of_total_event_time_rate_and_time() -> None:
    status = Status("import", done=120_000, total=431_000,
                    event_time=dt.datetime(2025, 7, 14, 9, 12, tzinfo=dt.UTC))
    assert status.line(12.0) == ("import: 120,000 / 431,000 rows (27.8 %), "
                                 "event time 2025-07-14 09:12, 10,000 rows/s, 12 s")
    # Event time in another zone is shown in UTC; a date as a date.
    paris = dt.timezone(dt.timedelta(hours=2))
    status.event_time = dt.datetime(2025, 7, 14, 11, 12, tzinfo=paris)
    assert "event time 2025-07-14 09:12," in status.line(12.0)
    status.event_time = dt.date(2025, 7, 14)
    assert "event time 2025-07-14," in status.line(12.0)


def test_without_a_row_total_the_share_of_the_file_is_shown() -> None:
    status = Status("import", done=500, file_read=250, file_size=1000)
    assert status.line(100.0) == "import: 500 rows (25.0 % of the file), 5.0 rows/s, 1 min 40 s"
    assert Status("reading", file_read=1, file_size=3).line() == "reading: 33.3 % of the file"


def test_counts_units_and_long_phases() -> None:
    status = Status("live traffic", unit="tx", done=300, counts={"scored": 290, "alerts": 3})
    assert status.line(3725.0) == ("live traffic: 300 tx, scored 290, alerts 3, 0.1 tx/s, "
                                   "1 h 02 min")
    # A phase without numbers: its name alone, then only the time.
    assert Status("training").line() == "training"
    assert Status("training").line(59.6) == "training: 1 min 00 s"


def test_a_line_every_interval_with_a_start_and_a_final_line(lines: Lines) -> None:
    clock = Clock()
    p = tracker(clock, file_size=2_000_000)
    p.start()
    assert lines.lines == ["import: started (2.0 MB file)"]
    p.read(500_000)
    for second, rows in ((1, 100), (9.9, 990)):
        clock.now = 1000 + second
        p.update(done=rows)
    assert len(lines.lines) == 1  # less than 10 s: nothing more
    clock.now = 1010
    p.update(done=1000, event_time=dt.date(2025, 7, 14))
    assert lines.lines[-1] == ("import: 1,000 rows (25.0 % of the file), "
                               "event time 2025-07-14, 100 rows/s, 10 s")
    clock.now = 1015
    p.advance(500)
    assert len(lines.lines) == 2  # 5 s since the last line
    clock.now = 1020
    p.advance(500)
    assert lines.lines[-1].startswith("import: 2,000 rows (25.0 % of the file)")
    p.read(1_500_000)
    clock.now = 1025
    p.finish()
    assert lines.lines[-1] == ("import: finished, 2,000 rows (100.0 % of the file), "
                               "event time 2025-07-14, 80 rows/s, 25 s")
    assert len(lines.lines) == 4


def test_the_heartbeat_writes_a_line_when_updates_stop(lines: Lines) -> None:
    clock = Clock()
    p = tracker(clock, total=5000)
    p.start()
    p.update(done=1200)
    clock.now = 1009
    p.tick()
    assert lines.lines == ["import: started (5,000 rows)"]
    clock.now = 1010
    p.tick()
    assert lines.lines[-1] == "import: 1,200 / 5,000 rows (24.0 %), 120 rows/s, 10 s"
    clock.now = 1019.9
    p.tick()
    clock.now = 1020
    p.tick()
    assert lines.lines[-1] == "import: 1,200 / 5,000 rows (24.0 %), 60 rows/s, 20 s"
    assert len(lines.lines) == 3


def test_a_new_phase_ends_the_last_and_counts_afresh(lines: Lines) -> None:
    clock = Clock()
    p = tracker(clock, file_size=1000)
    p.start()
    p.update(done=400, file_read=1000)
    clock.now = 1004
    p.update(phase="bootstrap model", event_time=dt.date(2025, 1, 1))
    clock.now = 1024
    p.update(phase="replaying", done=0, total=400)
    clock.now = 1030
    p.update(done=120, event_time=dt.date(2025, 1, 2))
    clock.now = 1034
    p.update(done=400, event_time=dt.date(2025, 1, 3))
    clock.now = 1036
    p.finish()
    assert lines.lines == [
        "import: started (1.0 kB file)",
        "import: finished, 400 rows (100.0 % of the file), 100 rows/s, 4 s",
        "bootstrap model: started",
        "bootstrap model: finished, event time 2025-01-01, 20 s",
        "replaying: started (400 rows)",
        "replaying: 400 / 400 rows (100.0 %), event time 2025-01-03, 40 rows/s, 10 s",
        "replaying: finished, 400 / 400 rows (100.0 %), event time 2025-01-03, 33 rows/s, 12 s",
    ]


def test_an_error_in_the_block_ends_the_phase_as_stopped(lines: Lines) -> None:
    clock = Clock()
    with pytest.raises(RuntimeError), tracker(clock) as p:
        p.update(done=5)
        clock.now += 1
        raise RuntimeError
    assert lines.lines == ["import: started", "import: stopped, 5 rows, 5.0 rows/s, 1 s"]


def test_interval_zero_writes_a_line_at_every_update(lines: Lines) -> None:
    clock = Clock()
    p = tracker(clock, interval=0)
    p.start()
    for rows in range(1, 6):
        clock.now += 1
        p.update(done=rows * 10)
    p.read(10)  # bytes alone are not an update
    p.finish()
    assert lines.lines == ["import: started",
                           *(f"import: {n * 10} rows, 10 rows/s, {n} s" for n in range(1, 6)),
                           "import: finished, 50 rows, 10 rows/s, 5 s"]


def test_bars_on_a_terminal_log_lines_elsewhere() -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True)
    pipe = Console(file=io.StringIO(), force_terminal=False)
    assert mode_for(terminal, {}) == "bar"
    assert mode_for(pipe, {}) == "log"
    assert mode_for(terminal, {"PGFRAUD_PROGRESS": "log"}) == "log"
    assert mode_for(pipe, {"PGFRAUD_PROGRESS": "auto"}) == "log"
    with pytest.raises(PgfraudError, match="PGFRAUD_PROGRESS must be auto or log"):
        mode_for(terminal, {"PGFRAUD_PROGRESS": "bars"})


def test_the_bar_draws_the_latest_numbers_and_logs_nothing(lines: Lines) -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    with Tracker("import", mode="bar", console=console, columns=spinner_columns(),
                 logger=logging.getLogger("test.progress")) as p:
        p.update(done=1234, event_time=dt.date(2025, 7, 14))
        p.update(phase="checking", done=7, total=9, counts={"different": 0})
        p.update(done=8)  # drawn when rich next refreshes, or when the bar stops
    assert "checking: 8 / 9 rows (88.9 %), different 0" in screen.getvalue()
    assert lines.lines == []


@pytest.mark.parametrize(("text", "seconds"), [("", 10.0), ("0", 0.0), (" 2.5 ", 2.5)])
def test_the_interval_comes_from_the_environment(text: str, seconds: float) -> None:
    assert interval_from({"PGFRAUD_PROGRESS_INTERVAL": text}) == seconds
    assert interval_from({}) == 10.0


@given(st.text())
def test_any_interval_text_is_seconds_or_one_clear_error(text: str) -> None:
    try:
        seconds = interval_from({"PGFRAUD_PROGRESS_INTERVAL": text})
    except PgfraudError as exc:
        assert "PGFRAUD_PROGRESS_INTERVAL must be a number of seconds >= 0" in str(exc)
    else:
        assert math.isfinite(seconds) and seconds >= 0
