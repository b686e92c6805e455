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

Then, on a second fresh cluster, **retraining as the history grows**: 26 weeks of
simulated traffic (1,500 cards, 0.5 % fraud: 577k rows, the size of the largest replayed
file in issue 16) go in day by day, each transaction labelled 7 days after it (the
replay's simulated analysts), and a retraining's training step (``load_training_data``
+ ``train``, what ``pgfraud.lifecycle.retrain`` times as ``training_seconds``) runs at the end of
week 6 (less history than the window), week 20 (the window just full) and week 26,
once with the old behaviour (every label since the first day, every row) and once with
the defaults (the last 120 days of labels, legitimate rows sampled above 100,000), side
by side. Quality: each model's AP on its own validation
window, and both on the newest window they share (neither trained on it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
import time

import numpy as np
import psycopg

from benchmarks.common import Section, fresh_cluster, table
from pgfraud.kernel import migrate
from pgfraud.kernel.db import connect
from pgfraud.labels.analysts import AnalystOptions, simulate_analysts
from pgfraud.lifecycle import bootstrap, metrics, training
from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.records import CardTransaction
from producer.run import Limits
from producer.run import run as stream
from producer.stream import StreamConfig, TransactionStream
from scorer.onnx_model import OnnxModel
from tests.history import PLACEHOLDER_MODEL, label_from_truth, produce

DAYS = 30
CARDS = 2000
SINGLE_CALLS = 2000
BATCH = 1000

HISTORY_WEEKS = 26
HISTORY_CARDS = 1500
HISTORY_FRAUD = 0.005
HISTORY_START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday
LABEL_DELAY = dt.timedelta(days=7)
#: Week 6: the history is shorter than the window. Week 20: the 120-day window of labels
#: is full (labels lag 7 days). Week 26: six more weeks of history.
RETRAIN_WEEKS = (6, 20, 26)
BEHAVIOURS = {
    "before: every label, every row": training.TrainOptions(window=None, max_rows=None),
    "now: the defaults": training.TrainOptions(),
}


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


def run() -> list[Section]:
    return [_training_and_inference(), _retraining_cost()]


def _training_and_inference() -> Section:
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


def _growing_history(url: str) -> int:
    """HISTORY_WEEKS of traffic, day by day, each transaction labelled LABEL_DELAY after
    it (as the replay's simulated analysts do); returns the transactions sent."""
    with psycopg.connect(url, autocommit=True) as conn:
        ((placeholder,),) = conn.execute(PLACEHOLDER_MODEL).fetchall()
    config = StreamConfig(seed=7, start=HISTORY_START, fraud_rate=HISTORY_FRAUD,
                          cards=HISTORY_CARDS, merchants=HISTORY_CARDS // 5)
    analysts = AnalystOptions(delay=LABEL_DELAY, coverage=1.0, chargeback_delay=LABEL_DELAY,
                              labeled_by="benchmark")
    next_day = HISTORY_START + dt.timedelta(days=1)
    with psycopg.connect(url, autocommit=True) as labels, psycopg.connect(url) as conn, \
            Ingestor(conn, source="stream", tokenizer=Tokenizer(b"k" * 32)) as ingestor:

        def reveal(sent: int, tx: CardTransaction) -> None:
            nonlocal next_day
            if tx.transacted_at < next_day:
                return
            ingestor.drain()
            labels.execute(  # a prediction to carry each label (tests/history.py)
                """insert into scoring.scores (transaction_id, model_version,
                       feature_set_version, score, threshold, is_alert)
                   select transaction_id, %(model)s, 1, 0, 0.5, false
                   from ingest.transactions t
                   where not exists (select from scoring.scores s
                                     where s.transaction_id = t.transaction_id)""",
                {"model": placeholder})
            simulate_analysts(labels, analysts)
            next_day += dt.timedelta(days=1)

        return stream(TransactionStream(config), ingestor,
                      Limits(span_s=HISTORY_WEEKS * 7 * 86_400), on_progress=reveal)


@dataclasses.dataclass
class Retraining:
    seconds: float              # load + train (fit, export, parity, evaluation)
    data: training.Dataset
    trained: training.TrainedModel


def _retraining(url: str, cutoff: dt.datetime, options: training.TrainOptions) -> Retraining:
    """One retraining's training step as pgfraud.lifecycle.retrain runs it, timed."""
    began = time.perf_counter()
    with connect(url) as conn:
        data = training.load_training_data(conn, options, cutoff=cutoff)
    trained = training.train(data, options)
    return Retraining(time.perf_counter() - began, data, trained)


def _shared_ap(runs: list[Retraining]) -> list[float]:
    """Each model's AP on the newest validation window the runs share."""
    start = max(r.trained.split.validation_from for r in runs)
    widest = max((r.data for r in runs), key=len)
    rows = widest.subset(widest.labelled & (widest.times >= start))
    return [metrics.average_precision(rows.labels,
                                      OnnxModel(r.trained.onnx_bytes).predict(rows.features))
            for r in runs]


def _retraining_cost() -> Section:
    with fresh_cluster() as cluster:
        url = cluster.start()
        migrate.upgrade(url)
        began = time.perf_counter()
        sent = _growing_history(url)
        history_s = time.perf_counter() - began
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("vacuum analyze")
        runs = {(week, name): _retraining(url, HISTORY_START + dt.timedelta(weeks=week),
                                          options)
                for week in RETRAIN_WEEKS for name, options in BEHAVIOURS.items()}
    rows = []
    for week in RETRAIN_WEEKS:
        pair = [runs[week, name] for name in BEHAVIOURS]
        for (name, run_), shared in zip(zip(BEHAVIOURS, pair, strict=True),
                                        _shared_ap(pair), strict=True):
            m = run_.trained.metrics
            kept = m["training_set"]
            rows.append([
                f"week {week}", name, f"{len(run_.data):,}",
                f"{kept['rows']:,} → {kept['sampled_rows']:,}"
                + (f" (1 in {kept['negative_weight']:.1f} legitimate)" if kept["sampled"]
                   else ""),
                f"{kept['positives']:,}", str(m["trees"]), f"{run_.seconds:.1f} s",
                f"{m['seconds']['fit']:.1f} s",
                f"{m['validation']['average_precision']:.4f} "
                f"({m['validation']['positives']:,} frauds)", f"{shared:.4f}"])
    first, full, last = RETRAIN_WEEKS
    ratio = {name: (runs[last, name].seconds / runs[first, name].seconds,
                    runs[last, name].seconds / runs[full, name].seconds)
             for name in BEHAVIOURS}
    body = "\n\n".join([
        f"{HISTORY_WEEKS} weeks of simulated traffic ({HISTORY_CARDS:,} cards, "
        f"{HISTORY_FRAUD:.1%} fraud, {sent:,} transactions, built in {history_s:.0f} s), "
        f"each transaction labelled {LABEL_DELAY.days} days after it. A retraining's "
        "training step (load the window, fit with early stopping, refit, ONNX export, "
        "parity, calibration, evaluation; 2 threads) at the end of a week, with the old "
        "behaviour and with today's defaults (`--train-window "
        f"{training.DEFAULT_WINDOW.days}d --max-train-rows {training.DEFAULT_MAX_ROWS}`). "
        "Training rows are the labelled rows before the validation gap, "
        "before → after sampling.",
        table(["retraining at", "behaviour", "rows loaded", "training rows", "frauds",
               "trees", "load + train", "of which fitting", "validation AP (own window)",
               "AP, shared window"], rows),
        f"Week {last} over week {first}: "
        + ", ".join(f"{name} {r[0]:.1f}×" for name, r in ratio.items())
        + f"; week {last} over week {full}, when the default window is full: "
        + ", ".join(f"{name} {r[1]:.2f}×" for name, r in ratio.items())
        + ". The validation windows differ (a quarter of the labelled span each, at most "
        f"{training.MAX_DEFAULT_VALIDATION.days} days with the defaults); the last column "
        "scores both models on the newest window they share.",
    ])
    return Section("Models: retraining cost as the history grows", body)
