"""Feature backfill and the feature follower.

Backfill: recompute stored features with the same SQL and prove they match.

Features are computed at ingest by ``features.compute_range``
(``sql/schema/features/compute_range.sql``). A backfill runs the same function over every
transaction in id chunks: rows without features get them, rows with features are compared
column by column (all but ``computed_at``). Stored features are never overwritten; a
difference is reported. Each chunk holds the ingest lock, so a backfill can run beside live
producers.

The follower (``features.compute_mode = 'follower'``, ``sql/schema/features/follower.sql``):
instead of the insert's trigger, :func:`follow` computes the stored rows' features in a
second backend, in id order, and queues them for scoring, so storing one batch and
computing the features of the one before run at once (docs/features.md, "The feature
follower").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg import sql as pgsql

from pgfraud.kernel import queries
from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.names import STORED_CHANNEL

#: Where features are computed (features.compute_mode).
ComputedBy = Literal["ingest", "follower"]
COMPUTED_BY: tuple[ComputedBy, ...] = ("ingest", "follower")

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


@dataclass(frozen=True)
class ComputeMode:
    computed_by: ComputedBy
    changed_at: Any
    waiting: int  # stored rows after the card windows' through_id (the follower's backlog)


def compute_mode(conn: psycopg.Connection[Any]) -> ComputeMode:
    """Where features are computed, and how many stored rows wait for the follower."""
    row = conn.execute(queries.load("features")["computed_by"]).fetchone()
    assert row is not None
    return ComputeMode(row[0], row[1], int(row[2]))


def require_computed_at_ingest(conn: psycopg.Connection[Any], what: str) -> None:
    """Refuse ``what`` (a replay, the demo: they score rows right after storing them) when
    features wait for a follower, with the command that switches back."""
    if compute_mode(conn).computed_by != "ingest":
        raise PgfraudError(
            f"features are computed by the feature follower here (`pgfraud features mode`); "
            f"{what} computes them as it stores rows: run `pgfraud features mode ingest` "
            f"first (it computes every waiting row), and `pgfraud features mode follower` "
            f"after")


def set_compute_mode(conn: psycopg.Connection[Any], computed_by: ComputedBy) -> int:
    """Switch where features are computed (owner only), committed; returns the rows the
    switch computed (to ``ingest``: every row the follower had not reached)."""
    if computed_by not in COMPUTED_BY:
        raise ValueError(f"features are computed by one of {COMPUTED_BY}, not {computed_by!r}")
    with conn.transaction():
        row = conn.execute(queries.load("features")["set_computed_by"],
                           {"computed_by": computed_by}).fetchone()
    assert row is not None
    return int(row[1])


@dataclass
class FollowStats:
    computed: int = 0   # stored rows this follower's steps covered (computed and queued)
    batches: int = 0    # committed steps that covered at least one row
    through_id: int = 0


def compute_pending(conn: psycopg.Connection[Any], max_rows: int | None) -> tuple[int, int]:
    """One follower step, committed: (rows computed, through_id after it)."""
    with conn.transaction():
        row = conn.execute(queries.load("features")["compute_pending"],
                           {"max_rows": max_rows}).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def follow(conn: psycopg.Connection[Any], listener: psycopg.Connection[Any] | None = None, *,
           batch_rows: int = 5_000, idle_wait: float = 1.0,
           stop: Callable[[], bool] = lambda: False, once: bool = False,
           on_batch: Callable[[FollowStats], None] = lambda stats: None) -> FollowStats:
    """Compute the features of stored rows as they commit, ``batch_rows`` at a time, until
    ``stop()`` (checked between steps) or, with ``once``, until none is waiting.

    When nothing waits it sleeps on ``listener`` (an autocommit connection; the insert's
    trigger notifies ``pgfraud_stored`` in follower mode) or ``idle_wait`` seconds. A step
    commits its rows' features, their place in the scoring queue and the new through_id
    together: killed at any point, the follower loses nothing and the next one resumes.
    """
    if listener is not None:
        listener.execute(pgsql.SQL("listen {}").format(pgsql.Identifier(STORED_CHANNEL)))
    stats = FollowStats()
    while not stop():
        computed, stats.through_id = compute_pending(conn, batch_rows)
        if computed:
            stats.computed += computed
            stats.batches += 1
            on_batch(stats)
            continue
        if once:
            break
        _wait(listener, idle_wait)
    return stats


def _wait(listener: psycopg.Connection[Any] | None, seconds: float) -> None:
    """Until a notification arrives on ``listener`` or ``seconds`` pass."""
    if listener is None:
        time.sleep(seconds)
        return
    for _ in listener.notifies(timeout=seconds, stop_after=1):
        pass
