"""Features: does the per-row cost stay flat as the table grows?

On one fresh cluster, ``ingest.transactions`` is first bulk-loaded (binary COPY, feature
triggers off) to 100,000 and then to 2,000,000 existing rows of one simulated stream
(1,000 cards, 300 merchants: 100k rows already span ~45 days, so every 30-day window is
full in both cases). At each size, the next rows of the same stream go through the
producer's path three ways:

- **ingest, features off**: ``Ingestor`` -> ``accept_batch`` with the feature trigger
  disabled;
- **ingest, features on**: the same path with features computed by the trigger;
- **features alone**: ``features.compute_range`` over those rows (what a backfill does).
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
import sys
import time
from collections.abc import Iterator

import psycopg

from benchmarks.common import Section, fresh_cluster, table
from pgfraud.kernel import migrate
from pgfraud.kernel.db import connect
from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.records import CardTransaction, payload_sha256
from producer.stream import StreamConfig, TransactionStream

SIZES = (100_000, 2_000_000)
MEASURED = 20_000
ROUNDS = 3
TOKENIZER = Tokenizer(b"benchmark-key-not-a-secret-0123")
COPY = (
    "copy ingest.transactions (trans_num, transacted_at, card_token, card_last4, amount, "
    "merchant, category, merchant_lat, merchant_long, home_lat, home_long, city_pop, "
    "cardholder_birth_date, payload_sha256, source) from stdin (format binary)"
)
TYPES = ("text", "timestamptz", "text", "text", "numeric", "text", "text", "float8",
         "float8", "float8", "float8", "int4", "date", "text", "text")
TRIGGER = "transactions_compute_features"


def _stream() -> Iterator[CardTransaction]:
    config = StreamConfig(seed=8, start=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                          cards=1000, merchants=300)
    return (tx for tx, _ in TransactionStream(config))


def _bulk_load(url: str, rows: Iterator[CardTransaction], count: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(f"alter table ingest.transactions disable trigger {TRIGGER}")
        with conn.cursor().copy(COPY) as copy:
            copy.set_types(TYPES)
            for tx in itertools.islice(rows, count):
                token, last4 = TOKENIZER.tokenize(tx.pan)
                copy.write_row((tx.trans_num, tx.transacted_at, token, last4, tx.amount,
                                tx.merchant, tx.category, tx.merchant_lat, tx.merchant_long,
                                tx.home_lat, tx.home_long, tx.city_pop, tx.birth_date,
                                payload_sha256(tx, token), "stream"))
        conn.execute(f"alter table ingest.transactions enable trigger {TRIGGER}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze ingest.transactions")


def _ingest(url: str, rows: Iterator[CardTransaction], features: bool) -> float:
    batch = list(itertools.islice(rows, MEASURED))
    with psycopg.connect(url) as conn:
        action = "enable" if features else "disable"
        conn.execute(f"alter table ingest.transactions {action} trigger {TRIGGER}")
    started = time.perf_counter()
    with connect(url, role="pgfraud_producer") as conn, Ingestor(
        conn, source="stream", tokenizer=TOKENIZER
    ) as ingestor:
        for tx in batch:
            ingestor.add(tx)
    elapsed = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        conn.execute(f"alter table ingest.transactions enable trigger {TRIGGER}")
    return MEASURED / elapsed


def _features_alone(url: str) -> float:
    with psycopg.connect(url) as conn:
        row = conn.execute("select max(transaction_id) from ingest.transactions").fetchone()
        assert row is not None
        last = int(row[0])
        started = time.perf_counter()
        # Materialised: a bare count(*) lets the planner skip the feature expressions.
        conn.execute("drop table if exists recomputed")
        conn.execute("create temporary table recomputed as"
                     " select * from features.compute_range(%s, %s)",
                     (last - MEASURED + 1, last))
        return MEASURED / (time.perf_counter() - started)


def run_benchmark() -> dict[int, dict[str, float]]:
    results: dict[int, dict[str, float]] = {}
    rows = _stream()
    loaded = 0
    with fresh_cluster() as cluster:
        url = cluster.start()
        migrate.upgrade(url)
        for size in SIZES:
            print(f"  loading to {size:,} rows", file=sys.stderr)
            _bulk_load(url, rows, size - loaded)
            rounds = []
            for _ in range(ROUNDS):
                rounds.append({
                    "ingest, features off": _ingest(url, rows, features=False),
                    "ingest, features on": _ingest(url, rows, features=True),
                    "features alone (compute_range)": _features_alone(url),
                })
            loaded = size + 2 * MEASURED * ROUNDS
            results[size] = {name: statistics.median(r[name] for r in rounds)
                             for name in rounds[0]}
    return results


def run() -> Section:
    results = run_benchmark()
    names = list(next(iter(results.values())))
    header = ["path", *[f"{size:,} existing rows: rows/s" for size in SIZES],
              *[f"{size:,}: µs per row" for size in SIZES]]
    rows = [[name, *[f"{results[size][name]:,.0f}" for size in SIZES],
             *[f"{1e6 / results[size][name]:,.0f}" for size in SIZES]] for name in names]
    on, off = "ingest, features on", "ingest, features off"
    added = [1e6 / results[size][on] - 1e6 / results[size][off] for size in SIZES]
    rows.append(["cost features add to ingest (on − off)", *["" for _ in SIZES],
                 *[f"{us:,.0f}" for us in added]])
    note = (f"Median of {ROUNDS} rounds of {MEASURED:,} new rows at each size, batches of "
            "5,000, one fresh "
            "embedded cluster; existing rows bulk-loaded and vacuumed first. Windows are full "
            "at both sizes (100k rows span ~45 simulated days), so a flat cost per row means "
            "the cost does not grow with the table.")
    return Section("Features: ingest with features on and off, by table size",
                   f"{note}\n\n{table(header, rows)}")
