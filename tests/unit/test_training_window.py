"""Negative sampling of the training rows (pgfraud.lifecycle.training.sample_negatives) and what it
must leave alone: every fraud, the class totals (by weight), the validation window."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from pgfraud.cli import cli, params
from pgfraud.kernel.durations import parse_duration
from pgfraud.lifecycle import training

DAY = 86_400.0


def dataset(labels: np.ndarray, seed: int = 0) -> training.Dataset:
    """Rows in event-time order with the given labels (NaN: unlabelled), one feature."""
    n = len(labels)
    rng = np.random.default_rng(seed)
    return training.Dataset(
        np.arange(n, dtype=np.int64), [f"t{i}" for i in range(n)],
        np.sort(rng.uniform(0, 60 * DAY, n)), np.array([f"c{i % 50}" for i in range(n)],
                                                         dtype=object),
        labels.astype(np.float64), rng.normal(size=(n, 1)).astype(np.float32), ["x"])


@settings(max_examples=200, deadline=None)
@given(negatives=st.integers(0, 3000), positives=st.integers(0, 300),
       max_rows=st.one_of(st.none(), st.integers(1, 4000)), seed=st.integers(0, 2**32 - 1),
       shuffle=st.integers(0, 2**16))
def test_sampling_keeps_every_fraud_and_the_weighted_class_totals(
        negatives: int, positives: int, max_rows: int | None, seed: int,
        shuffle: int) -> None:
    labels = np.r_[np.ones(positives), np.zeros(negatives)]
    np.random.default_rng(shuffle).shuffle(labels)
    rows = dataset(labels)
    sample = training.sample_negatives(rows, max_rows, seed)
    kept = sample.rows
    weights = np.ones(len(kept)) if sample.weights is None else sample.weights

    # Every fraud, in the original order, and only rows of the input.
    assert set(kept.transaction_ids[kept.labels == 1]) == set(
        rows.transaction_ids[rows.labels == 1])
    assert np.all(np.diff(kept.transaction_ids) > 0)
    # Weighted, each class weighs what it did before sampling; frauds keep weight 1.
    assert weights[kept.labels == 1].sum() == positives
    assert weights[kept.labels == 0].sum() == pytest.approx(negatives, rel=1e-12)
    assert np.all(weights[kept.labels == 1] == 1)
    # The cap holds unless it would leave fewer legitimate rows than frauds.
    legit = int((kept.labels == 0).sum())
    if max_rows is None or len(rows) <= max_rows:
        assert sample.weights is None and len(kept) == len(rows)
    else:
        assert legit == min(negatives, max(max_rows - positives, positives))
    record = sample.record
    assert (record["rows"], record["sampled_rows"], record["sampled_negatives"]) == (
        len(rows), len(kept), legit)
    assert record["negative_rate"] == pytest.approx(legit / negatives if negatives else 1)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_sampling_is_deterministic_for_a_seed(seed: int) -> None:
    rows = dataset((np.arange(5000) % 50 == 0).astype(float))
    first = training.sample_negatives(rows, 1000, seed)
    again = training.sample_negatives(rows, 1000, seed)
    other = training.sample_negatives(rows, 1000, seed + 1)
    assert np.array_equal(first.rows.transaction_ids, again.rows.transaction_ids)
    assert not np.array_equal(first.rows.transaction_ids, other.rows.transaction_ids)
    assert len(first.rows) == 1000


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.booleans(), st.integers(0, 6),
                               st.floats(0.01, 50, allow_nan=False)), min_size=2, max_size=60))
def test_weighted_ranking_matches_sklearn_with_sample_weights(
        rows: list[tuple[bool, int, float]]) -> None:
    y = np.array([r[0] for r in rows], dtype=float)
    score = np.array([r[1] / 6 for r in rows])          # few levels: many ties
    weights = np.array([r[2] for r in rows])
    auc, ap = training.weighted_ranking(y, score, weights)
    if not y.any():
        assert np.isnan(auc) and np.isnan(ap)
        return
    assert ap == pytest.approx(average_precision_score(y, score, sample_weight=weights),
                               abs=1e-9)
    if y.all():
        assert np.isnan(auc)
    else:
        assert auc == pytest.approx(roc_auc_score(y, score, sample_weight=weights), abs=1e-9)
    # Integer weights: the same as repeating the rows, unweighted.
    counts = np.ceil(weights).astype(int)
    repeated = training.weighted_ranking(np.repeat(y, counts), np.repeat(score, counts), None)
    assert np.allclose(training.weighted_ranking(y, score, counts.astype(float)), repeated,
                       equal_nan=True)


def synthetic_window(n: int = 16_000, seed: int = 3) -> training.Dataset:
    """60 days of rows whose fraud odds grow with feature ``x`` (about 2 % fraud), a
    tenth of them unlabelled, an ``amount`` feature for the money metrics."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    fraud = rng.random(n) < 1 / (1 + np.exp(-(-5 + 1.8 * x)))
    labels = np.where(rng.random(n) < 0.1, np.nan, fraud.astype(float))
    features = np.c_[x, rng.normal(size=n), rng.gamma(2, 40, size=n)].astype(np.float32)
    return training.Dataset(np.arange(n, dtype=np.int64), [f"t{i}" for i in range(n)],
                            np.sort(rng.uniform(0, 60 * DAY, n)),
                            np.array([f"c{i % 400}" for i in range(n)], dtype=object),
                            labels, features, ["x", "noise", "amount"])


@pytest.fixture(scope="module")
def capped_and_whole() -> tuple[training.Dataset, training.TrainedModel,
                                training.TrainedModel]:
    data = synthetic_window()
    # A quarter of the span: on this split early stopping gives both models the same
    # number of trees, so their margins compare (at 14 days the uncapped one stops at
    # 117 trees, the capped one at 50, and the median margins differ by the trees).
    options = training.TrainOptions(max_rounds=400, threads=1,
                                    validation=dt.timedelta(days=15))
    whole = training.train(data, dataclasses.replace(options, max_rows=None))
    capped = training.train(data, dataclasses.replace(options, max_rows=3000))
    return data, whole, capped


def test_a_capped_training_samples_only_the_training_part(
        capped_and_whole: tuple[training.Dataset, training.TrainedModel,
                                training.TrainedModel]) -> None:
    data, whole, capped = capped_and_whole
    assert capped.split == whole.split
    in_train = data.labelled & (data.times <= capped.split.train_to)
    in_validation = data.times >= capped.split.validation_from
    positives = int(data.labels[in_train].sum())
    record = capped.metrics["training_set"]
    assert record["sampled"] and not whole.metrics["training_set"]["sampled"]
    assert (record["rows"], record["positives"], record["sampled_rows"]) == (
        int(in_train.sum()), positives, 3000)
    assert record["negative_weight"] == pytest.approx(
        (in_train.sum() - positives) / (3000 - positives))
    # scale_pos_weight from the window's class totals, as without sampling.
    assert capped.params["scale_pos_weight"] == whole.params["scale_pos_weight"] == (
        pytest.approx((in_train.sum() - positives) / positives))
    # Training metrics describe the whole training part, not the sample.
    assert capped.metrics["train"]["rows"] == int(in_train.sum())
    # The validation window is complete: every row, every label, in the calibration too.
    validation, complete = capped.metrics["validation"], whole.metrics["validation"]
    for key in ("rows", "labelled", "positives", "fraud_amount"):
        assert validation[key] == complete[key]
    assert validation["rows"] == int(in_validation.sum())
    assert validation["labelled"] == int((in_validation & data.labelled).sum())
    assert capped.metrics["calibration"]["rows"] == validation["labelled"]
    assert capped.metrics["seconds"]["total"] >= capped.metrics["seconds"]["fit"] > 0


def test_the_weights_keep_raw_scores_where_the_whole_window_puts_them(
        capped_and_whole: tuple[training.Dataset, training.TrainedModel,
                                training.TrainedModel]) -> None:
    # Sampling legitimate rows at rate r without weights raises the margins (log-odds)
    # by up to log(1/r) (measured here: 0.76 log(1/r)); weighted, the capped model's
    # stay near the uncapped model's (0.19 log(1/r)), and after Platt scaling both read
    # as the validation window's fraud rate.
    data, whole, capped = capped_and_whole
    rows = data.features[data.times >= capped.split.validation_from]
    shift = np.median(np.asarray(capped.booster.predict(rows, raw_score=True))
                      - np.asarray(whole.booster.predict(rows, raw_score=True)))
    rate = capped.metrics["training_set"]["negative_rate"]
    assert abs(shift) < 0.5 * np.log(1 / rate)
    for model in (capped, whole):
        bins = [b for b in model.metrics["calibration"]["reliability"] if b["count"]]
        observed = sum(b["fraud_rate"] * b["count"] for b in bins)
        predicted = sum(b["mean_score"] * b["count"] for b in bins)
        assert predicted == pytest.approx(observed, rel=0.1)
    assert capped.metrics["validation"]["average_precision"] == pytest.approx(
        whole.metrics["validation"]["average_precision"], abs=0.05)


def test_option_defaults_in_the_help_are_the_training_defaults() -> None:
    assert (dt.timedelta(seconds=parse_duration(params.DEFAULT_TRAIN_WINDOW))
            == training.DEFAULT_WINDOW == training.TrainOptions().window)
    assert params.DEFAULT_MAX_TRAIN_ROWS == training.DEFAULT_MAX_ROWS == (
        training.TrainOptions().max_rows)
    for command in ("train", "retrain"):
        result = CliRunner().invoke(cli, [command, "--help"])
        text = " ".join(result.output.split())
        assert "--train-window" in text and "[default: 120d]" in text, command
        assert "--max-train-rows" in text and "[default: 100,000]" in text, command


def test_from_and_train_window_are_refused_together() -> None:
    result = CliRunner().invoke(cli, ["train", "--from", "2026-01-01", "--train-window", "30d"])
    assert result.exit_code == 2 and "give one" in result.output, result.output
