"""What a soak left in the database (benchmarks/bench_soak.py): counted as the owner
against the seeded stream regenerated in-process; every count but ``stored`` must be 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg

from benchmarks.soak_fleet import TOKEN_KEY
from pgfraud.kernel.card_numbers import find_card_numbers
from producer.cards import Tokenizer
from producer.run import Limits, take
from producer.stream import TransactionStream

if TYPE_CHECKING:
    from benchmarks.bench_soak import Plan


@dataclass(frozen=True)
class Audit:
    """What the database holds after the soak; every field but ``stored`` must be 0."""

    stored: int
    lost: int                 # sent - stored
    missing_from_stream: int  # trans_nums of the seeded stream not stored
    not_from_stream: int      # stored trans_nums the seeded stream does not have
    stored_twice: int         # transactions whose trans_num is stored more than once
    without_champion: int     # transactions without a champion prediction
    scored_twice: int         # (transaction, model) pairs with more than one prediction
    two_champions: int        # transactions with more than one champion prediction
    pending: int              # rows still in scoring.pending
    quarantined: int          # rows in ingest.quarantine (the simulator sends none)

    def broken(self) -> dict[str, int]:
        """The counts that should be 0 and are not."""
        return {name: value for name, value in vars(self).items()
                if name != "stored" and value != 0}


COUNTS = """
select
    (select count(*) from ingest.transactions t where not exists (
         select from scoring.scores s
         where s.transaction_id = t.transaction_id and not s.is_shadow)),
    (select count(*) from (select from scoring.scores
                           group by transaction_id, model_version having count(*) > 1) d),
    (select count(*) from (select from scoring.scores where not is_shadow
                           group by transaction_id having count(*) > 1) d),
    (select count(*) from scoring.pending),
    (select count(*) from ingest.quarantine)
"""


def expected_trans_nums(plan: Plan) -> set[str]:
    """The trans_nums ``pgfraud produce`` sends for ``plan``, in the form the producer
    stores them (one holding a card number is tokenized; 32-hex ids never do)."""
    tokenizer = Tokenizer(TOKEN_KEY.encode())
    stream = take(TransactionStream(plan.stream_config()), Limits(count=plan.transactions))
    return {tokenizer.tokenize_reference(tx.trans_num) if find_card_numbers(tx.trans_num)
            else tx.trans_num for tx in stream}


def audit(url: str, plan: Plan) -> Audit:
    """Count, as the owner, what the soak left in the database."""
    with psycopg.connect(url) as conn:
        stored = [n for (n,) in conn.execute("select trans_num from ingest.transactions")]
        row = conn.execute(COUNTS).fetchone()
    assert row is not None
    without_champion, scored_twice, two_champions, pending, quarantined = row
    expected, found = expected_trans_nums(plan), set(stored)
    return Audit(stored=len(stored), lost=plan.transactions - len(stored),
                 missing_from_stream=len(expected - found),
                 not_from_stream=len(found - expected), stored_twice=len(stored) - len(found),
                 without_champion=without_champion, scored_twice=scored_twice,
                 two_champions=two_champions, pending=pending, quarantined=quarantined)
