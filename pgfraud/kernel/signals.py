"""SIGTERM and SIGINT as a polite request: the loop finishes what it holds, then ends.

>>> with stop_on_signals() as stop:
...     stop()
False
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def stop_on_signals() -> Iterator[Callable[[], bool]]:
    """A ``stop()`` that turns true on SIGTERM or SIGINT (handlers restored after)."""
    requested = [False]

    def handler(signum: int, frame: object) -> None:
        requested[0] = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield lambda: requested[0]
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
