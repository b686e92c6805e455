"""Feature backfill: recompute stored features with the same SQL and prove they match.

Features are computed at ingest by ``features.compute_range``
(``sql/schema/features/compute_range.sql``). A backfill runs the same function over every
transaction in id chunks: rows without features get them, rows with features are compared
column by column (all but ``computed_at``). Stored features are never overwritten; a
difference is reported. Each chunk holds the ingest lock, so a backfill can run beside live
producers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgfraud.kernel import queries

#: The feature set computed at ingest (features.feature_sets); models record it.
FEATURE_SET_VERSION = 1


@dataclass
class BackfillResult:
    transactions: int = 0
    inserted: int = 0
    identical: int = 0
    different_ids: list[int] = field(default_factory=list)


def backfill(conn: psycopg.Connection[Any], *, chunk: int = 20_000,
             on_chunk: Callable[[int, int], None] = lambda done, total: None) -> BackfillResult:
    """Fill missing feature rows and compare existing ones, ``chunk`` ids at a time."""
    sql = queries.load("features")
    row = conn.execute(sql["id_bounds"]).fetchone()
    conn.commit()
    assert row is not None
    first, last = int(row[0]), int(row[1])
    result = BackfillResult()
    total = max(0, last - first + 1)
    for start in range(first, last + 1, chunk):
        params = {"first_id": start, "last_id": min(last, start + chunk - 1)}
        with conn.transaction():
            conn.execute(sql["lock_ingest"])
            conn.execute(sql["compute_chunk"], params)
            compared = conn.execute(sql["compare_chunk"]).fetchone()
            inserted = conn.execute(sql["insert_missing"]).rowcount
        assert compared is not None
        result.inserted += inserted
        result.different_ids.extend(compared[1])
        result.identical += int(compared[0]) - len(compared[1])
        on_chunk(params["last_id"] - first + 1, total)
    result.transactions = result.inserted + result.identical + len(result.different_ids)
    return result
