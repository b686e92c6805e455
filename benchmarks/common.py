"""Shared pieces of the benchmarks: timing, the machine description, markdown tables."""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pgfraud.kernel.embedded import EmbeddedPostgres
from pgfraud.kernel.settings import Settings


@dataclass(frozen=True)
class Section:
    """One benchmark's part of BENCHMARKS.md."""

    title: str
    body: str


def timed(action: Callable[[], object]) -> float:
    """Seconds one call of ``action`` takes."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def median_ms(samples: Sequence[float]) -> str:
    return f"{statistics.median(samples) * 1000:,.0f} ms"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    kernel = subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, Linux {kernel}, "
            f"Python {platform.python_version()}")


@contextmanager
def fresh_cluster(**overrides: Any) -> Iterator[EmbeddedPostgres]:
    """A new embedded cluster in a temporary project folder, destroyed afterwards."""
    parent = Path(tempfile.mkdtemp(prefix="pgfraud-bench-"))
    parent.chmod(0o755)
    settings = dataclasses.replace(Settings.from_env(), home=parent / ".pgfraud",
                                   database_url=None, **overrides)
    cluster = EmbeddedPostgres(settings)
    try:
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(parent, ignore_errors=True)
