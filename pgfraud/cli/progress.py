"""Progress of a long command: a bar on a terminal, log lines everywhere else.

On a terminal (``console.is_terminal``) a transient rich bar, with the columns the command
chooses. Anywhere else (a log file, CI, ``docker logs``), or with ``PGFRAUD_PROGRESS=log``,
lines through the ``pgfraud.progress`` logger: one when a phase starts, one every
``PGFRAUD_PROGRESS_INTERVAL`` seconds (default 10; 0: at every update) and one when it
ends, each with the phase, rows done / total, event time, rate and elapsed time::

    INFO pgfraud.progress: import: started (58.2 MB file)
    INFO pgfraud.progress: import: 120,000 rows (27.8 % of the file), event time
         2025-07-14 09:12, 10,000 rows/s, 12 s                  (one line, cut here)
    INFO pgfraud.progress: import: finished, 431,000 rows (100.0 % of the file), ...

A command says what it knows, as often as it likes: an update only stores numbers (the
bar redraws ten times a second, the log writes on its interval)::

    with progress("import", file_size=size, console=console) as p:
        for rows, tx in enumerate(kaggle.read_rows(path, p.read), start=1):
            p.update(done=rows, event_time=tx.transacted_at)
        p.update(phase="checking")  # a line ends "import", one starts "checking"

The numbers of a phase read as one line:

>>> Status("import", done=120_000, file_read=278, file_size=1000,
...        event_time=dt.datetime(2025, 7, 14, 9, 12)).describe(seconds=12.2)
'120,000 rows (27.8 % of the file), event time 2025-07-14 09:12, 9,836 rows/s, 12 s'
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Literal

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from pgfraud.kernel.errors import PgfraudError

log = logging.getLogger("pgfraud.progress")
DEFAULT_INTERVAL_S = 10.0
Mode = Literal["bar", "log"]
Column = str | ProgressColumn


@dataclass
class Status:
    """What the current phase has done: what a bar shows and a log line says.

    ``done``/``total`` count ``unit``; ``file_read``/``file_size`` are bytes of an input
    file, for a share of the file when the row total is unknown.
    """

    phase: str
    unit: str = "rows"
    done: int | None = None
    total: int | None = None
    file_read: int = 0
    file_size: int | None = None
    event_time: dt.date | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def describe(self, seconds: float | None = None) -> str:
        """The numbers as text; with ``seconds`` (the phase's time) also rate and time."""
        parts = []
        share = (f"{100 * self.file_read / self.file_size:.1f} % of the file"
                 if self.file_size else None)
        if self.done is not None:
            text = (f"{self.done:,} / {self.total:,} {self.unit} "
                    f"({100 * self.done / self.total:.1f} %)" if self.total
                    else f"{self.done:,} {self.unit}")
            parts.append(f"{text} ({share})" if share else text)
        elif share:
            parts.append(share)
        if self.event_time is not None:
            parts.append(f"event time {_when(self.event_time)}")
        parts += [f"{name} {n:,}" for name, n in self.counts.items()]
        if seconds is not None:
            if self.done and seconds > 0:
                parts.append(f"{_rate(self.done / seconds)} {self.unit}/s")
            parts.append(_duration(seconds))
        return ", ".join(parts)

    def line(self, seconds: float | None = None) -> str:
        """``phase: numbers``, or the phase alone when there are none."""
        text = self.describe(seconds)
        return f"{self.phase}: {text}" if text else self.phase


class Tracker:
    """The progress of one command, phase after phase (see the module docstring).

    ``mode`` "bar" draws on ``console``; "log" writes to ``logger`` every ``interval``
    seconds of ``clock`` (and, with ``heartbeat``, also when no update comes). Use it as
    a context manager, or call :meth:`start` and :meth:`finish`.
    """

    def __init__(self, phase: str, *, total: int | None = None, unit: str = "rows",
                 file_size: int | None = None, mode: Mode = "log",
                 interval: float = DEFAULT_INTERVAL_S,
                 columns: Sequence[Column] = (), console: Console | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger = log, heartbeat: bool = True) -> None:
        self.mode = mode
        self.interval = interval
        self.status = Status(phase, unit=unit, total=total, file_size=file_size)
        self._clock = clock
        self._log = logger
        self._lock = threading.Lock()
        self._began = self._logged = clock()
        self._beating = heartbeat and mode == "log" and interval > 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bars: _Bars | None = None
        self._task: TaskID | None = None
        if mode == "bar":
            self._bars = _Bars(*(columns or bar_columns()), sync=self._sync,
                               console=console or Console(stderr=True), transient=True)

    def start(self) -> None:
        with self._lock:
            self._began = self._logged = self._clock()
            if self.mode == "log":
                self._log.info("%s", self._start_line())
        if self._bars is not None:
            self._bars.start()
            self._task = self._bars.add_task(self.status.phase, total=self.status.total,
                                             **self._fields(self.status))
        if self._beating:
            self._thread = threading.Thread(target=self._beat, name="pgfraud-progress",
                                            daemon=True)
            self._thread.start()

    def finish(self, failed: bool = False) -> None:
        """Stop the bar, or write the phase's last line ("stopped" when ``failed``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bars is not None:
            self._bars.stop()
        elif self.mode == "log":
            with self._lock:
                self._log.info("%s", self._end_line(self._clock(), failed))

    def __enter__(self) -> Tracker:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.finish(failed=kind is not None)

    def update(self, *, done: int | None = None, total: int | None = None,
               phase: str | None = None, unit: str | None = None,
               event_time: dt.date | None = None, file_read: int | None = None,
               file_size: int | None = None, counts: Mapping[str, int] | None = None) -> None:
        """Record what is known; ``None`` leaves a number as it was. A new ``phase`` ends
        the current one (a last line) and starts counting afresh (``done``, ``total``,
        the file, the event time, counts and the rate all belong to a phase)."""
        started = None
        with self._lock:
            now = self._clock()
            if phase is not None and phase != self.status.phase:
                if self.mode == "log":
                    self._log.info("%s", self._end_line(now, failed=False))
                self.status = Status(phase, unit=self.status.unit)
                self._began = self._logged = now
                started = self.status
            s = self.status
            if unit is not None:
                s.unit = unit
            if done is not None:
                s.done = done
            if total is not None:
                s.total = total
            if event_time is not None:
                s.event_time = event_time
            if file_read is not None:
                s.file_read = file_read
            if file_size is not None:
                s.file_size = file_size
            if counts:
                s.counts.update(counts)
            if started is not None:
                started = replace(s, counts=dict(s.counts))
                if self.mode == "log":
                    self._log.info("%s", self._start_line())
            self._maybe_log(now)
        if started is not None and self._bars is not None and self._task is not None:
            self._bars.reset(self._task, total=started.total, completed=0,
                             description=started.phase, **self._fields(started))
            if started.total is None:  # reset() keeps a total it is not given
                for task in self._bars.tasks:
                    if task.id == self._task:
                        task.total = None

    def advance(self, n: int = 1) -> None:
        """``n`` more units done."""
        with self._lock:
            self.status.done = (self.status.done or 0) + n
            self._maybe_log(self._clock())

    def read(self, n: int) -> None:
        """``n`` more bytes of the input file read (stored only: it logs nothing)."""
        self.status.file_read += n

    def tick(self) -> None:
        """A line if none was written for ``interval`` seconds (the heartbeat calls it)."""
        with self._lock:
            self._maybe_log(self._clock())

    def _maybe_log(self, now: float) -> None:
        if self.mode == "log" and now - self._logged >= self.interval:
            self._log.info("%s", self.status.line(now - self._began))
            self._logged = now

    def _start_line(self) -> str:
        s = self.status
        known = ([f"{s.total:,} {s.unit}"] if s.total else []) + (
            [f"{_size(s.file_size)} file"] if s.file_size else [])
        return f"{s.phase}: started" + (f" ({', '.join(known)})" if known else "")

    def _end_line(self, now: float, failed: bool) -> str:
        s = self.status
        return f"{s.phase}: {'stopped' if failed else 'finished'}, {s.describe(now - self._began)}"

    def _beat(self) -> None:
        while not self._stop.wait(max(0.05, self.interval - (self._clock() - self._logged))):
            self.tick()

    def _sync(self) -> None:
        """Copy the numbers to the bar (rich's refresh thread, ten times a second)."""
        with self._lock:
            s = replace(self.status, counts=dict(self.status.counts))
        if self._bars is None or self._task is None:
            return
        completed, total = ((s.file_read, s.file_size) if s.file_size
                            else (s.done or 0, s.total))
        self._bars.update(self._task, completed=completed, total=total, **self._fields(s))

    @staticmethod
    def _fields(s: Status) -> dict[str, Any]:
        """Task fields for the columns: ``status`` (the phase and its numbers), ``done``,
        ``event_time`` (text, "" when unknown)."""
        return {"status": s.line(), "done": s.done or 0,
                "event_time": "" if s.event_time is None else _when(s.event_time)}


class _Bars(Progress):
    """A rich Progress that asks for the latest numbers each time it draws."""

    def __init__(self, *columns: Column, sync: Callable[[], None], **kwargs: Any) -> None:
        self._sync_numbers = sync
        super().__init__(*columns, **kwargs)

    def get_renderables(self) -> Iterable[RenderableType]:
        self._sync_numbers()
        yield from super().get_renderables()


def progress(phase: str, *, total: int | None = None, unit: str = "rows",
             file_size: int | None = None, columns: Sequence[Column] = (),
             console: Console | None = None,
             environ: Mapping[str, str] | None = None) -> Tracker:
    """A :class:`Tracker` for a command: bars if ``console`` (default: stderr) is a
    terminal, log lines if not or if PGFRAUD_PROGRESS=log."""
    console = console or Console(stderr=True)
    env = os.environ if environ is None else environ
    return Tracker(phase, total=total, unit=unit, file_size=file_size,
                   mode=mode_for(console, env), interval=interval_from(env),
                   columns=columns, console=console)


def mode_for(console: Console, environ: Mapping[str, str]) -> Mode:
    """ "log" when PGFRAUD_PROGRESS=log or ``console`` is not a terminal, else "bar"."""
    wanted = (environ.get("PGFRAUD_PROGRESS") or "auto").strip().lower()
    if wanted not in ("auto", "log"):
        raise PgfraudError(f"PGFRAUD_PROGRESS must be auto or log, not {wanted!r}")
    return "log" if wanted == "log" or not console.is_terminal else "bar"


def interval_from(environ: Mapping[str, str]) -> float:
    """Seconds between log lines: PGFRAUD_PROGRESS_INTERVAL, default 10."""
    text = (environ.get("PGFRAUD_PROGRESS_INTERVAL") or "").strip()
    if not text:
        return DEFAULT_INTERVAL_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise PgfraudError(f"PGFRAUD_PROGRESS_INTERVAL must be a number of seconds >= 0, "
                           f"not {text!r}")
    return seconds


def bar_columns() -> tuple[Column, ...]:
    """The default columns: spinner, phase and numbers, bar, percentage, time elapsed."""
    return (SpinnerColumn(), TextColumn("{task.fields[status]}"), BarColumn(),
            TaskProgressColumn(), TimeElapsedColumn())


def spinner_columns() -> tuple[Column, ...]:
    """Columns for a phase without a total: spinner, phase and numbers, time elapsed."""
    return (SpinnerColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn())


def _when(value: dt.date) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return f"{value:%Y-%m-%d %H:%M}"
    return f"{value:%Y-%m-%d}"


def _size(n: int) -> str:
    for limit, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if n >= limit:
            return f"{n / limit:,.1f} {unit}"
    return f"{n} bytes"


def _rate(per_second: float) -> str:
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.1f}"


def _duration(seconds: float) -> str:
    """``12 s``, ``3 min 05 s``, ``1 h 02 min``."""
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
