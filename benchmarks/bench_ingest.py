"""Ingest throughput: ``pgfraud import`` and ``pgfraud produce`` against a bare COPY.

For each size, in one run on one fresh cluster, in each of three rounds, every path
starts from an empty ``ingest.transactions``, with the feature trigger disabled (features
are measured on their own in ``bench_features``). The first round meets a cluster that
has never written this much (new WAL segments, an empty token cache); the medians are
what a cluster that has run for a while does.

- **bare COPY**: the same rows, already tokenized and exported from the table in binary
  COPY format, streamed back into the same table (same indexes and constraints): the
  machine's limit for this table, with no per-row Python.
- **import**: a Kaggle-layout CSV of the rows through the CLI's code path (parse,
  validate, tokenize, hash, COPY to staging, ``accept_batch``).
- **import again**: the same file re-sent; every row is a duplicate.
- **produce**: the simulator generating the rows and ingesting them.
"""

from __future__ import annotations

import datetime as dt
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.common import Section, fresh_cluster, table
from pgfraud.kernel import migrate
from pgfraud.kernel.db import connect
from producer import kaggle
from producer import run as producer_run
from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.records import Rejection
from producer.run import Limits, take
from producer.stream import StreamConfig, TransactionStream

SIZES = (100_000, 1_000_000)
ROUNDS = 3
IMPORT = "import (CSV -> tokenized, validated, idempotent)"
AGAIN = "import again (every row already stored)"
BARE = "bare COPY of the same rows (binary, no Python per row)"
PRODUCE = "produce (simulate + ingest)"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
COLUMNS = (
    "trans_num, transacted_at, card_token, card_last4, amount, merchant, category, "
    "merchant_lat, merchant_long, home_lat, home_long, city_pop, cardholder_birth_date, "
    "payload_sha256, source"
)
TOKENIZER = Tokenizer(b"benchmark-key-not-a-secret-0123")


def _config() -> StreamConfig:
    return StreamConfig(seed=1, start=START, fraud_rate=0.01, cards=20_000, merchants=2_000)


def _reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("truncate ingest.transactions, ingest.quarantine, "
                     "truth.fraud_transactions, truth.fraud_incidents cascade")
        conn.execute("vacuum analyze ingest.staged_transactions, ingest.staged_quarantine")


def _import(url: str, path: Path) -> float:
    started = time.perf_counter()
    with connect(url, role="pgfraud_producer") as conn, Ingestor(
        conn, source="csv", tokenizer=TOKENIZER
    ) as ingestor:
        for parsed, raw in kaggle.read_rows(path):
            if isinstance(parsed, Rejection):
                ingestor.reject(parsed, raw)
            else:
                ingestor.add(parsed, raw)
    return time.perf_counter() - started


def _produce(url: str, count: int) -> float:
    started = time.perf_counter()
    with connect(url, role="pgfraud_producer") as conn, Ingestor(
        conn, source="stream", tokenizer=TOKENIZER
    ) as ingestor:
        producer_run.run(TransactionStream(_config()), ingestor, Limits(count=count))
    return time.perf_counter() - started


def _bare_copy(url: str) -> float:
    with psycopg.connect(url) as conn:
        buffer = io.BytesIO()
        with conn.cursor().copy(f"copy (select {COLUMNS} from ingest.transactions "
                                "order by transaction_id) to stdout (format binary)") as copy:
            for chunk in copy:
                buffer.write(chunk)
    _reset(url)
    data = buffer.getvalue()
    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor().copy(
        f"copy ingest.transactions ({COLUMNS}) from stdin (format binary)"
    ) as copy:
        for offset in range(0, len(data), 1 << 20):
            copy.write(data[offset:offset + (1 << 20)])
    return time.perf_counter() - started


def run_benchmark() -> dict[int, dict[str, tuple[float, float]]]:
    """Per size and path: rows/s (the median of :data:`ROUNDS` rounds) and the share of
    the bare COPY of the same round (the median of the rounds' shares)."""
    results: dict[int, dict[str, tuple[float, float]]] = {}
    with fresh_cluster() as cluster, tempfile.TemporaryDirectory() as scratch:
        url = cluster.start()
        migrate.upgrade(url)
        with psycopg.connect(url) as conn:
            conn.execute("alter table ingest.transactions "
                         "disable trigger transactions_compute_features")
        for size in SIZES:
            path = Path(scratch) / f"tx-{size}.csv"
            kaggle.write_rows(path, take(TransactionStream(_config()), Limits(count=size)))
            rounds: list[dict[str, float]] = []
            for number in range(ROUNDS):
                print(f"  {size:,} rows, round {number + 1} of {ROUNDS}", file=sys.stderr)
                seconds = {}
                _reset(url)
                seconds[IMPORT] = _import(url, path)
                seconds[AGAIN] = _import(url, path)
                seconds[BARE] = _bare_copy(url)
                _reset(url)
                seconds[PRODUCE] = _produce(url, size)
                rounds.append(seconds)
            results[size] = {
                name: (size / statistics.median(r[name] for r in rounds),
                       statistics.median(r[BARE] / r[name] for r in rounds))
                for name in rounds[0]}
            path.unlink()
    return results


def run() -> Section:
    results = run_benchmark()
    names = [IMPORT, AGAIN, BARE, PRODUCE]
    header = ["path", *[f"{size:,} rows: rows/s" for size in SIZES],
              *[f"{size:,}: share of bare COPY" for size in SIZES]]
    rows = [[name, *[f"{results[size][name][0]:,.0f}" for size in SIZES],
             *[f"{results[size][name][1]:.0%}" for size in SIZES]]
            for name in names]
    note = ("Each path starts from an empty `ingest.transactions` (with its indexes and "
            "checks; feature computation off, see the next section) on one fresh embedded "
            "cluster; rows come from the simulator (20,000 "
            "cards, 2,000 merchants), written once as a Kaggle-layout CSV. Batches of 5,000 "
            "rows, one transaction each; the writer thread overlaps the database work with "
            f"parsing. Medians of {ROUNDS} rounds; each round runs every path in turn, and a "
            "path's share is its time against the bare COPY of the same round (the median "
            "of the rounds' shares).")
    return Section("Ingest: import and produce against bare COPY", f"{note}\n\n"
                   f"{table(header, rows)}")
