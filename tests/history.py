"""Test data with history: simulated traffic in a database, labelled from ground truth.

Labels live on prediction rows, so ``label_from_truth`` first gives every transaction a
prediction from a placeholder model (retired, never scored with) and then sets
``true_value`` from the truth schema, as an analyst who knows everything would.
"""

from __future__ import annotations

import datetime as dt

import psycopg

from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.run import Limits, run
from producer.stream import StreamConfig, TransactionStream

START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def produce(url: str, *, days: float, cards: int = 500, seed: int = 7,
            fraud_rate: float = 0.02, start: dt.datetime = START) -> int:
    """Simulated traffic for ``days`` of event time; returns transactions sent."""
    config = StreamConfig(seed=seed, start=start, fraud_rate=fraud_rate, cards=cards,
                          merchants=max(60, cards // 5))
    with psycopg.connect(url) as conn, Ingestor(conn, source="stream",
                                                tokenizer=Tokenizer(b"k" * 32)) as ingestor:
        return run(TransactionStream(config), ingestor, Limits(span_s=days * 86_400))


PLACEHOLDER_MODEL = """
insert into ml.models (status, onnx_model, onnx_sha256, feature_names, feature_set_version,
                       threshold, note)
values ('retired', '\\x00', repeat('0', 64), '{placeholder}', 1, 0.5,
        'placeholder: carries labels in tests')
returning model_version
"""


def label_from_truth(url: str, labeled_at: dt.datetime | None = None) -> int:
    """Label every transaction from truth; returns the placeholder model's version."""
    with psycopg.connect(url) as conn:
        row = conn.execute(PLACEHOLDER_MODEL).fetchone()
        assert row is not None
        version = int(row[0])
        conn.execute(
            """insert into scoring.predictions (transaction_id, model_version,
                   feature_set_version, score, threshold, is_alert)
               select transaction_id, %s, 1, 0, 0.5, false from ingest.transactions""",
            (version,))
        conn.execute(
            """update scoring.predictions as p
               set true_value = f.trans_num is not null,
                   labeled_at = coalesce(%s, p.labeled_at)
               from ingest.transactions as t
               left join truth.fraud_transactions as f using (trans_num)
               where t.transaction_id = p.transaction_id and p.model_version = %s""",
            (labeled_at, version))
    return version
