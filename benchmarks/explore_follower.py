"""Exploration, not a shipped path: features computed by a second backend that follows
the stored rows, against the shipped trigger (features in the transaction that stores).

Issue 19's 25,000 rows/s of ingest with features is above what one backend doing both
storing and features can reach (BENCHMARKS.md, "Features"). docs/features.md ("What
it would take") names the step: features off the insert's path, computed by a backend
that takes committed rows in id order, so that storing batch n + 1 and computing batch
n's features run at once. This measures that arrangement before anyone builds it:

- **inline**: the producer's path as shipped (the feature trigger computes each batch's
  features under the ingest lock, in the storing transaction);
- **follower**: the same producer with the feature trigger off, and beside it one
  connection that, in a loop, computes ``features.compute_batch`` over every stored row
  above the card windows' ``through_id`` and commits (a thread of this process: it only
  waits on its backend). The ingest lock still orders ids, so every row below the
  highest committed id has committed.

Both on one fresh embedded cluster holding ``--rows`` existing rows (bulk-loaded, as in
bench_features), rounds of ``--measured`` new rows each way, alternating. The follower's
time runs until its last commit, and every measured row must have its features then.

    python -m benchmarks.explore_follower --rows 2000000 --rounds 3
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import threading
import time
from collections.abc import Iterator

import psycopg

from benchmarks import bench_features as bf
from benchmarks.common import fresh_cluster
from pgfraud.kernel import migrate
from pgfraud.kernel.db import connect
from producer.ingest import Ingestor
from producer.records import CardTransaction


def _produce(url: str, batch: list[CardTransaction]) -> float:
    """Seconds to store ``batch`` through the producer's path."""
    started = time.perf_counter()
    with connect(url, role="pgfraud_producer") as conn, Ingestor(
        conn, source="stream", tokenizer=bf.TOKENIZER
    ) as ingestor:
        for tx in batch:
            ingestor.add(tx)
    return time.perf_counter() - started


def _follow(url: str, stop: threading.Event, calls: list[int]) -> None:
    """Compute the features of every stored row above the windows, commit, repeat; after
    ``stop``, until none is left."""
    with psycopg.connect(url) as conn:
        while True:
            with conn.transaction():
                through, last = conn.execute(
                    "select w.through_id, (select max(transaction_id) from ingest.transactions)"
                    " from features.card_windows_through as w").fetchone() or (0, 0)
                if last > through:
                    conn.execute("insert into features.transaction_features"
                                 " select * from features.compute_batch(%s, %s)",
                                 (through + 1, last))
                    calls.append(last - through)
            if last == through:
                if stop.is_set():
                    return
                time.sleep(0.002)


def _followed(url: str, batch: list[CardTransaction]) -> tuple[float, float, list[int]]:
    """(seconds until the follower's last commit, seconds storing, rows per follower
    call) for ``batch``; raises if a stored row has no features then."""
    with psycopg.connect(url) as conn:
        conn.execute(f"alter table ingest.transactions disable trigger {bf.TRIGGER}")
    stop, calls = threading.Event(), list[int]()
    follower = threading.Thread(target=_follow, args=(url, stop, calls))
    started = time.perf_counter()
    follower.start()
    storing = _produce(url, batch)
    stop.set()
    follower.join()
    elapsed = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        conn.execute(f"alter table ingest.transactions enable trigger {bf.TRIGGER}")
        row = conn.execute(
            "select count(*) from ingest.transactions as t where t.transaction_id >"
            " (select max(transaction_id) from ingest.transactions) - %s and not exists ("
            " select 1 from features.transaction_features as f"
            " where f.transaction_id = t.transaction_id)", (len(batch),)).fetchone()
    if row is None or row[0]:
        raise RuntimeError(f"{row} stored rows have no features after the follower")
    return elapsed, storing, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="existing rows")
    parser.add_argument("--measured", type=int, default=60_000, help="new rows a round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each way")
    args = parser.parse_args()
    rows: Iterator[CardTransaction] = bf._stream()
    with fresh_cluster() as cluster:
        url = cluster.start()
        migrate.upgrade(url)
        bf._bulk_load(url, rows, args.rows)
        bf._rebuild_windows(url)
        for round_ in range(1, args.rounds + 1):
            inline = args.measured / _produce(url, list(itertools.islice(rows, args.measured)))
            elapsed, storing, calls = _followed(
                url, list(itertools.islice(rows, args.measured)))
            print(f"round {round_}: inline {inline:,.0f} rows/s; follower "
                  f"{args.measured / elapsed:,.0f} rows/s (stored at "
                  f"{args.measured / storing:,.0f}; {len(calls)} follower commits, median "
                  f"{statistics.median(calls):,.0f} rows)", flush=True)


if __name__ == "__main__":
    main()
