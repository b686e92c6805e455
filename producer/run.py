"""Drive a source into an :class:`~producer.ingest.Ingestor`: limits, pacing, periodic flush."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pgfraud.kernel.signals import stop_on_signals
from producer.ingest import Ingestor
from producer.records import CardTransaction, Incident


@dataclass(frozen=True)
class Limits:
    """When to stop (first reached wins; none set means run until interrupted) and pace."""

    count: int | None = None            # transactions
    duration_s: float | None = None     # wall-clock seconds
    span_s: float | None = None         # simulated (event-time) seconds
    rate: float | None = None           # transactions per wall-clock second


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
    with stop_on_signals() as stop:
        for tx, incident in source:
            first_at = first_at or tx.transacted_at
            if _done(limits, sent, started, first_at, tx) or stop():
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
