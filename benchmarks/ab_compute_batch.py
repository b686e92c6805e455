"""A/B of two definitions of ``features.compute_batch``: the checked-out one against the
one of a git revision, on one fresh embedded cluster, alternating.

Not part of ``make bench`` (BENCHMARKS.md times the shipped path); this is how a change
to the hot statement is measured before it ships (docs/features.md). Both functions are
created side by side (the base one under another name); each round, for each of them,
``--measured`` new rows of the benchmark stream are bulk-loaded without features and
then computed in committed chunks of 5,000 ids, as the ingest trigger computes one
producer batch, moving the card windows. The time of each chunk's statement (the
function, the insert of its rows into ``features.transaction_features``, the commit), in
µs a row, is reported per round; a first round of each is a warm-up and not counted.
Before timing, both functions compute the same rows (rolled back) and must agree on every
column but ``computed_at``.

    python -m benchmarks.ab_compute_batch --base 623c7ba --rows 2000000 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from benchmarks import bench_features as bf
from benchmarks.common import fresh_cluster
from pgfraud.kernel import migrate

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "sql/schema/features/compute_batch.sql"
CHUNK = 5_000


def _definition(source: str, name: str) -> str:
    """The ``create function`` statement of ``source`` (a compute_batch.sql), renamed."""
    body = source[source.index("create function"):source.index("comment on function")]
    return body.replace("create function features.compute_batch(",
                        f"create or replace function features.{name}(", 1)


def _chunks(first: int, last: int) -> list[tuple[int, int]]:
    return [(start, min(start + CHUNK - 1, last)) for start in range(first, last + 1, CHUNK)]


def _store(conn: psycopg.Connection, function: str, first: int, last: int) -> None:
    """``function`` over ids [first, last], each chunk of CHUNK ids committed in its own
    transaction (as each producer batch is), moving the card windows."""
    for start, end in _chunks(first, last):
        with conn.transaction():
            conn.execute(f"insert into features.transaction_features"
                         f" select * from features.{function}(%s, %s)", (start, end))


def _rows(conn: psycopg.Connection, function: str, first: int,
          last: int) -> set[tuple[object, ...]]:
    """What ``function`` computes for ids [first, last] in chunks of CHUNK, but
    ``computed_at``; rolled back."""
    with conn.transaction(force_rollback=True):
        return {row[:-1] for start, end in _chunks(first, last)
                for row in conn.execute(f"select * from features.{function}(%s, %s)",
                                        (start, end))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="git revision of the A side")
    parser.add_argument("--rows", type=int, default=2_000_000, help="existing rows")
    parser.add_argument("--measured", type=int, default=20_000, help="new rows a round")
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds of each")
    args = parser.parse_args()
    base = subprocess.run(["git", "show", f"{args.base}:{SOURCE}"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    sides = {f"compute_batch at {args.base}": "compute_batch_base",
             "compute_batch checked out": "compute_batch"}
    times: dict[str, list[float]] = {side: [] for side in sides}
    rows = bf._stream()
    with fresh_cluster() as cluster:
        url = cluster.start()
        migrate.upgrade(url)
        with psycopg.connect(url) as conn:
            conn.execute(_definition(base, "compute_batch_base"))
            conn.execute(_definition((ROOT / SOURCE).read_text(), "compute_batch"))
        bf._bulk_load(url, rows, args.rows)
        bf._rebuild_windows(url)
        with psycopg.connect(url, autocommit=True) as conn:
            for round_ in range(args.rounds + 1):
                for side, function in sides.items():
                    bf._bulk_load(url, rows, args.measured)
                    row = conn.execute("select max(transaction_id) from ingest.transactions"
                                       ).fetchone()
                    assert row is not None
                    last = int(row[0])
                    first = last - args.measured + 1
                    if round_ == 0 and len({frozenset(_rows(conn, f, first, last))
                                            for f in sides.values()}) != 1:
                        sys.exit("the two definitions disagree on the same rows")
                    started = time.perf_counter()
                    _store(conn, function, first, last)
                    elapsed = time.perf_counter() - started
                    if round_:
                        times[side].append(elapsed / args.measured * 1e6)
                        print(f"round {round_}: {side}: {times[side][-1]:.1f} µs a row",
                              flush=True)
    for side, samples in times.items():
        print(f"{side}: median {statistics.median(samples):.1f} µs a row "
              f"(rounds: {', '.join(f'{s:.1f}' for s in samples)})")


if __name__ == "__main__":
    main()
