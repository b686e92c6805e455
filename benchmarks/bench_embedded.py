"""Embedded PostgreSQL and migrations: what a user waits for before anything runs.

Compares the machine's PostgreSQL binaries with the ``pgserver`` wheel's, in one run:
cold start (initdb + start + create database), start when already running, stop, warm
start, migrating an empty database to head and back, and cloning a migrated template
(the per-test cost of the test suite).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from benchmarks.common import Section, fresh_cluster, median_ms, table, timed
from pgfraud.kernel import migrate
from pgfraud.kernel.embedded import EmbeddedPostgres
from pgfraud.kernel.pgbin import ServerBinaries, find_server_binaries, pgserver_bindir

REPEATS = 3


def _binaries() -> list[ServerBinaries]:
    found = [find_server_binaries(use_pgserver=False)]
    wheel = pgserver_bindir()
    if wheel is not None:
        found.append(ServerBinaries(bindir=wheel, source="pgserver wheel"))
    return found


def _measure(binaries: ServerBinaries) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        samples.setdefault(name, []).append(seconds)

    for _ in range(REPEATS):
        with fresh_cluster(pg_bindir=binaries.bindir) as cluster:
            _one_round(cluster, add)
    return samples


def _one_round(cluster: EmbeddedPostgres, add: Callable[[str, float], None]) -> None:
    add("cold start (initdb + start + create db)", timed(cluster.start))
    add("start when already running", timed(cluster.start))
    add("stop (fast)", timed(cluster.stop))
    add("warm start", timed(cluster.start))
    url = cluster.url()
    add("migrate empty db to head", timed(lambda: migrate.upgrade(url)))
    add("downgrade head to base", timed(lambda: migrate.downgrade(url, "base")))
    migrate.upgrade(url)
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        clone = sql.SQL("create database clone template {}").format(sql.Identifier("pgfraud"))
        add("clone migrated db (per-test fixture)", timed(lambda: conn.execute(clone)))


def run() -> Section:
    columns = [(b, _measure(b)) for b in _binaries()]
    header = ["step", *[f"{b.source}: PostgreSQL {b.version.split()[0]}" for b, _ in columns]]
    steps = list(columns[0][1])
    rows = [[step, *[median_ms(samples[step]) for _, samples in columns]] for step in steps]
    note = (f"Median of {REPEATS} runs, each in a fresh project folder, on this machine. "
            "The machine's binaries are found as `pgfraud` finds them by default; the "
            "wheel is the fallback when none are installed.")
    return Section("Embedded PostgreSQL and migrations", f"{note}\n\n{table(header, rows)}")
