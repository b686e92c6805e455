"""Drive a source into an :class:`~producer.ingest.Ingestor`: limits, pacing, periodic flush.

>>> parse_duration("90s"), parse_duration("2h"), parse_duration("1.5d")
(90.0, 7200.0, 129600.0)
"""

from __future__ import annotations

import datetime as dt
import re
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from producer.ingest import Incident, Ingestor
from producer.records import CardTransaction

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``text`` such as ``45``, ``30s``, ``10m``, ``2h`` or ``30d``."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 10m, 2h or 30d")
    return float(match.group(1)) * _UNIT[match.group(2)]


@dataclass(frozen=True)
class Limits:
    """When to stop (first reached wins; none set means run until interrupted) and pace."""

    count: int | None = None            # transactions
    duration_s: float | None = None     # wall-clock seconds
    span_s: float | None = None         # simulated (event-time) seconds
    rate: float | None = None           # transactions per wall-clock second


class Stop:
    """Set by SIGTERM/SIGINT so the loop ends after flushing what it holds."""

    requested = False


@contextmanager
def graceful_stop() -> Iterator[type[Stop]]:
    def handler(signum: int, frame: object) -> None:
        Stop.requested = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    Stop.requested = False
    try:
        yield Stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(
    source: Iterable[tuple[CardTransaction, Incident | None]],
    ingestor: Ingestor,
    limits: Limits,
    *,
    flush_interval_s: float = 1.0,
    on_progress: Callable[[int, CardTransaction], None] = lambda n, tx: None,
) -> int:
    """Feed ``source`` to ``ingestor`` until a limit or a stop signal; return rows sent."""
    started = time.monotonic()
    last_flush = started
    first_at: dt.datetime | None = None
    sent = 0
    with graceful_stop() as stop:
        for tx, incident in source:
            first_at = first_at or tx.transacted_at
            if _done(limits, sent, started, first_at, tx) or stop.requested:
                break
            if limits.rate:
                ahead = started + sent / limits.rate - time.monotonic()
                if ahead > 0:
                    if ingestor.pending:
                        ingestor.flush()
                        last_flush = time.monotonic()
                    time.sleep(ahead)
            if incident is not None:
                ingestor.add_incident(incident)
            ingestor.add(tx)
            sent += 1
            on_progress(sent, tx)
            if time.monotonic() - last_flush >= flush_interval_s:
                ingestor.flush()
                last_flush = time.monotonic()
        ingestor.drain()
    return sent


def take(source: Iterable[tuple[CardTransaction, Incident | None]],
         limits: Limits) -> Iterator[CardTransaction]:
    """The transactions of ``source`` up to the count and span limits (no pacing)."""
    first_at: dt.datetime | None = None
    started = time.monotonic()
    for sent, (tx, _) in enumerate(source):
        first_at = first_at or tx.transacted_at
        if _done(limits, sent, started, first_at, tx):
            return
        yield tx


def _done(limits: Limits, sent: int, started: float, first_at: dt.datetime,
          tx: CardTransaction) -> bool:
    if limits.count is not None and sent >= limits.count:
        return True
    if limits.duration_s is not None and time.monotonic() - started >= limits.duration_s:
        return True
    return limits.span_s is not None and (
        tx.transacted_at - first_at).total_seconds() > limits.span_s
