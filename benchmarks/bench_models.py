"""Models: how long training takes, and what one ONNX prediction costs.

On one fresh cluster, 30 days of simulated traffic (2,000 cards) go through the
producer's path (features computed at ingest) and every transaction is labelled from
ground truth. Then, in the same run:

- **load**: ``training.load_dataset`` (model input joined to labels at the cutoff);
- **train**: ``training.train`` (early-stopping fit, refit, ONNX export, parity check on
  the validation window, evaluation, reference distributions);
- **bootstrap history**: ``bootstrap.simulated_history`` with its defaults (14 days,
  2,000 cards, into a scratch database);
- **inference**: the trained model on validation rows, ONNX (onnxruntime, one thread)
  against LightGBM's own ``predict``, one row per call and 1,000 rows per call.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

import numpy as np

from benchmarks.common import Section, fresh_cluster, table
from scorer import bootstrap, migrate, training
from scorer.db import connect
from scorer.onnx_model import OnnxModel
from tests.history import label_from_truth, produce

DAYS = 30
CARDS = 2000
SINGLE_CALLS = 2000
BATCH = 1000


def _per_call(predict: object, rows: np.ndarray, batch: int, calls: int) -> float:
    """Median seconds per call of ``predict`` on ``batch`` rows."""
    assert callable(predict)
    samples = []
    for i in range(calls):
        start = (i * batch) % max(len(rows) - batch, 1)
        chunk = rows[start:start + batch]
        began = time.perf_counter()
        predict(chunk)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def run() -> Section:
    with fresh_cluster() as cluster:
        url = cluster.start()
        migrate.upgrade(url)
        began = time.perf_counter()
        sent = produce(url, days=DAYS, cards=CARDS, fraud_rate=0.01,
                       start=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        produce_s = time.perf_counter() - began
        label_from_truth(url)

        with connect(url) as conn:
            cutoff = training.default_cutoff(conn)
            began = time.perf_counter()
            data = training.load_dataset(conn, cutoff=cutoff, start=training.FAR_PAST,
                                         end=cutoff)
            load_s = time.perf_counter() - began
        began = time.perf_counter()
        trained = training.train(data)
        train_s = time.perf_counter() - began

        began = time.perf_counter()
        history = bootstrap.simulated_history(url)
        bootstrap_s = time.perf_counter() - began

    validation = trained.metrics["validation"]
    rows = data.features[data.times >= trained.split.validation_from]
    onnx = OnnxModel(trained.onnx_bytes)
    booster = trained.booster
    lgb_predict = lambda x: booster.predict(x.astype(np.float64), num_threads=1)  # noqa: E731
    timings = {
        ("ONNX (onnxruntime)", 1): _per_call(onnx.predict, rows, 1, SINGLE_CALLS),
        ("LightGBM predict", 1): _per_call(lgb_predict, rows, 1, SINGLE_CALLS),
        ("ONNX (onnxruntime)", BATCH): _per_call(onnx.predict, rows, BATCH, 50),
        ("LightGBM predict", BATCH): _per_call(lgb_predict, rows, BATCH, 50),
    }

    lifecycle = table(
        ["step", "rows", "time", "rate"],
        [
            ["ingest with features (producer path)", f"{sent:,}", f"{produce_s:.1f} s",
             f"{sent / produce_s:,.0f} rows/s"],
            ["load model input ⨝ labels", f"{len(data):,}", f"{load_s:.2f} s",
             f"{len(data) / load_s:,.0f} rows/s"],
            [f"train ({trained.metrics['trees']} trees), export, parity, evaluate",
             f"{trained.metrics['train']['rows']:,} train / "
             f"{validation['labelled']:,} validation", f"{train_s:.1f} s", ""],
            ["bootstrap history (14 days, 2,000 cards, scratch database)",
             f"{len(history):,}", f"{bootstrap_s:.1f} s",
             f"{len(history) / bootstrap_s:,.0f} rows/s"],
        ])
    inference = table(
        ["model runtime", "1 row per call", f"{BATCH:,} rows per call"],
        [[name, f"{timings[name, 1] * 1e6:,.0f} µs/call",
          f"{timings[name, BATCH] * 1e6 / BATCH:,.2f} µs/row "
          f"({timings[name, BATCH] * 1e3:,.2f} ms/call)"]
         for name in ("ONNX (onnxruntime)", "LightGBM predict")])
    quality = (
        f"The model from this run: validation ROC AUC {validation['roc_auc']:.4f}, "
        f"average precision {validation['average_precision']:.4f} (a random ranking: "
        f"{validation['random_average_precision']:.4f}), card precision@100 "
        f"{validation['card_precision_at_100']:.4f}; max |LightGBM - ONNX| "
        f"{trained.metrics['parity']['max_abs_diff']:.1e} over "
        f"{trained.metrics['parity']['rows']:,} rows.")
    body = "\n\n".join([
        f"{DAYS} days of simulated traffic ({CARDS:,} cards, 1% fraud), every transaction "
        "labelled from ground truth; default training options (2 threads).",
        lifecycle,
        f"Inference on validation rows, one thread, median over {SINGLE_CALLS:,} single-row "
        f"calls and 50 calls of {BATCH:,} rows. The scorer should score in batches: a call "
        "has a fixed cost that a batch spreads.",
        inference,
        quality,
    ])
    return Section("Models: training and inference", body)
