"""Test data with history: simulated traffic in a database, labelled from ground truth.

Labels are set through prediction rows, so ``label_from_truth`` first gives every transaction a
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
            """insert into scoring.scores (transaction_id, model_version,
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


def quick_model(url: str, *, seed: int = 0, trees: int = 30, alert_share: float = 0.02,
                status: str = "candidate", shuffle_labels: bool = False) -> int:
    """Train a small real model on the database's own features and truth, register it
    (as the owner, bypassing the trainer's checks) with ``status``; returns its version.
    With ``shuffle_labels`` the labels are permuted first, so the model ranks at random.

    For scorer tests: seconds instead of a full ``pgfraud train``.
    """
    import hashlib

    import lightgbm as lgb
    import numpy as np
    from psycopg import sql
    from psycopg.types.json import Jsonb

    from pgfraud.lifecycle.onnx_export import to_onnx
    from pgfraud.lifecycle.training import decile_bins, feature_columns
    from scorer.onnx_model import OnnxModel

    with psycopg.connect(url) as conn:
        names = feature_columns(conn)
        rows = conn.execute(
            sql.SQL("select (f.trans_num is not null)::int, {} from features.model_input_v1 m "
                    "left join truth.fraud_transactions f using (trans_num) "
                    "order by m.transaction_id").format(
                sql.SQL(", ").join(sql.SQL("m.{}").format(sql.Identifier(n)) for n in names))
        ).fetchall()
        y = np.array([r[0] for r in rows], dtype=float)
        if shuffle_labels:  # a model that ranks at random
            np.random.default_rng(seed).shuffle(y)
        x = np.array([r[1:] for r in rows], dtype=np.float64).astype(np.float32)
        booster = lgb.train({"objective": "binary", "verbose": -1, "seed": seed,
                             "num_threads": 1, "bagging_fraction": 0.8, "bagging_freq": 1},
                            lgb.Dataset(x, y, feature_name=names), num_boost_round=trees)
        onnx_bytes = to_onnx(booster)
        scores = OnnxModel(onnx_bytes).predict(x)
        threshold = float(np.quantile(scores, 1 - alert_share))
        old = slice(0, 2 * len(x) // 3)
        reference = {"features": {n: decile_bins(x[old, i].astype(np.float64))
                                  for i, n in enumerate(names)},
                     "score": decile_bins(scores[old].astype(np.float64))}
        row = conn.execute(
            """insert into ml.models (onnx_model, onnx_sha256, lightgbm_model, feature_names,
                   feature_set_version, threshold, reference_distributions, note)
               values (%s, %s, %s, %s, 1, %s, %s, 'quick test model')
               returning model_version""",
            (onnx_bytes, hashlib.sha256(onnx_bytes).hexdigest(), booster.model_to_string(),
             names, threshold, Jsonb(reference))).fetchone()
        assert row is not None
        version = int(row[0])
        if status == "champion":
            conn.execute("select ml.promote(%s)", (version,))
        elif status == "shadow":
            conn.execute("select ml.shadow(%s)", (version,))
    return version
