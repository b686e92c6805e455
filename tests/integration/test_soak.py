"""Invariant 1 under faults, end to end, in every run of the suite: the soak benchmark
(``benchmarks/bench_soak.py``) at a small size. ``pgfraud produce`` streams 5,000
transactions while ``pgfraud score --workers 2`` is killed with SIGKILL 3 times (whole
process group) and PostgreSQL is restarted in immediate mode twice; the producer rides
out the restarts on its own. Then: every transaction of the seeded stream stored once,
one champion prediction each, nothing scored twice, nothing left queued or quarantined.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench_soak import Plan, prepare, soak
from pgfraud.kernel.embedded import EmbeddedPostgres

#: A 40 s stream: room for 2 restarts and 3 scorer start-ups (each kill waits for the new
#: scorer's first commit, ~6 s here), and the whole test stays under a minute.
PLAN = Plan(transactions=5_000, rate=125, kills=3, restarts=2, cards=300, merchants=60)


def test_stream_through_kills_and_restarts_stores_and_scores_each_once(
        private_cluster: EmbeddedPostgres, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    outcome = soak(private_cluster, prepare(private_cluster), PLAN, logs)
    assert outcome.audit.broken() == {}, f"subprocess logs in {logs}"
    assert outcome.audit.stored == outcome.producer.rows_read == PLAN.transactions
    assert outcome.faults.kills == PLAN.kills
    assert len(outcome.faults.downtimes_s) == PLAN.restarts
    # The restarts reached the producer, and it survived them by reconnecting.
    assert outcome.producer.reconnects >= 1
