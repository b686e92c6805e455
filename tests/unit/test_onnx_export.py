"""ONNX export: exact split agreement with LightGBM, Platt scaling in the graph, and a
parity check (scores, ranking, decisions) that can fail."""

from __future__ import annotations

from random import Random

import lightgbm as lgb
import numpy as np
import onnx
import onnxruntime
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from pgfraud.lifecycle import metrics
from pgfraud.lifecycle.onnx_export import (
    MIN_RANK_CORRELATION,
    TARGET_OPSET,
    calibrate,
    check_parity,
    float32_floor,
    largest_leaves,
    parity,
    parity_tolerance,
    rank_correlation,
    to_onnx,
)
from scorer.onnx_model import OnnxModel


@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_float32_floor_is_the_largest_float32_not_above(value: float) -> None:
    floor = float32_floor(value)
    assert float(np.float32(floor)) == floor  # representable
    if abs(value) < 3.4e38:
        assert floor <= value
        above = float(np.nextafter(np.float32(floor), np.float32(np.inf)))
        assert above > value


def _booster(seed: int, rows: int = 4000) -> tuple[lgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Money-like values with two decimals: dense, with many values right next to the
    # midpoints LightGBM splits at, the case where rounding thresholds to nearest breaks.
    x = np.column_stack([
        np.round(rng.gamma(2.0, 40.0, rows), 2),
        rng.integers(0, 24, rows).astype(float),
        np.where(rng.random(rows) < 0.2, np.nan, rng.normal(size=rows) * 1e4),
    ]).astype(np.float32)
    y = ((x[:, 0] > 111.4) & (x[:, 1] > 20)) | (rng.random(rows) < 0.02)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 63,
                         "min_child_samples": 2, "seed": seed, "num_threads": 1},
                        lgb.Dataset(x, y.astype(float)), num_boost_round=60)
    return booster, x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_onnx_export_matches_lightgbm_on_every_row(seed: int) -> None:
    booster, x = _booster(seed)
    onnx_bytes = to_onnx(booster)
    parity = check_parity(booster, onnx_bytes, x)
    assert parity.ok and parity.rows == len(x), parity
    assert parity.max_abs_diff < 1e-6


def test_one_dump_serves_the_export_and_the_tolerance() -> None:
    # Training dumps the booster once: the export rounds that dump's thresholds in place,
    # and the parity tolerance reads its leaves. Same graph, same tolerance as when each
    # dumps the booster itself.
    booster, x = _booster(3)
    raw = np.asarray(booster.predict(x.astype(np.float64)), dtype=np.float64)
    dump = booster.dump_model()
    leaves = largest_leaves(dump)
    graphs = [onnx.load_from_string(to_onnx(booster, *given)) for given in ((dump,), ())]
    for graph in graphs:
        graph.graph.name = "lgbm"    # onnxmltools names each graph with a fresh UUID
    assert graphs[0].SerializeToString() == graphs[1].SerializeToString()
    assert largest_leaves(dump) == leaves
    for calibration in (None, (0.8, -1.5)):
        assert parity_tolerance(booster, raw, calibration, leaves=leaves) == (
            parity_tolerance(booster, raw, calibration))


def test_thresholds_between_adjacent_float32_values_split_the_same_way() -> None:
    # LightGBM splits 111.41 from the float32 just below it at their midpoint, a double
    # that rounds to nearest *up* to 111.41 itself; exported naively, ONNX sends 111.41
    # down the other branch (probability off by ~0.87, found on real data). Rounding
    # thresholds down to float32 makes both take the same branch.
    rng = np.random.default_rng(0)
    base = np.float32(111.41)
    values = np.array([np.nextafter(base, np.float32(0)), base,
                       np.nextafter(base, np.float32(np.inf))], dtype=np.float32)
    x = np.column_stack([rng.choice(values, 3000),
                         rng.normal(size=3000).astype(np.float32)]).astype(np.float32)
    y = (x[:, 0] >= base).astype(float)
    booster = lgb.train({"objective": "binary", "verbose": -1, "min_child_samples": 5,
                         "num_threads": 1}, lgb.Dataset(x, y), num_boost_round=20)
    parity = check_parity(booster, to_onnx(booster), x)
    assert parity.ok and parity.max_abs_diff < 1e-6, parity


def test_parity_check_fails_for_a_different_model() -> None:
    booster, x = _booster(0)
    other, _ = _booster(1)
    parity = check_parity(booster, to_onnx(other), x)
    assert not parity.ok and parity.max_abs_diff > 1e-3


def test_onnx_model_checks_its_input_shape() -> None:
    booster, x = _booster(0, rows=500)
    model = OnnxModel(to_onnx(booster))
    assert model.predict(x[:0]).shape == (0,)
    with pytest.raises(ValueError, match="3 columns"):
        model.predict(x[:, :2])


@pytest.mark.parametrize(("rows", "workers"), [(9_000, 2), (9_000, 4), (3_999, 2), (1, 2)])
def test_scoring_in_parts_on_threads_gives_every_row_the_same_bits(rows: int,
                                                                   workers: int) -> None:
    """Training scores whole windows in parts on threads; a part's rows are scored by
    the same single-threaded kernel, so every score must equal one run's to the bit (a
    session's own threads split the trees and may not)."""
    booster, _ = _booster(0)
    rng = np.random.default_rng(rows)
    x = np.column_stack([np.round(rng.gamma(2.0, 40.0, rows), 2),
                         rng.integers(0, 24, rows).astype(float),
                         rng.normal(size=rows) * 1e4]).astype(np.float32)
    model = OnnxModel(to_onnx(booster))
    whole = model.predict(x)
    in_parts = model.predict(x, workers=workers)
    assert in_parts.dtype == whole.dtype and in_parts.shape == (rows,)
    assert np.array_equal(in_parts, whole)
    assert np.array_equal(in_parts[::997], np.concatenate([model.predict(x[i:i + 1])
                                                           for i in range(0, rows, 997)]))


@pytest.mark.parametrize("calibrated", [False, True])
def test_a_rows_score_does_not_depend_on_the_batch_it_is_scored_in(calibrated: bool) -> None:
    """The scorer scores whatever its claim returns, a day at once or row by row (the
    API): a row must get the same bits either way. The calibrated graph's element-wise
    operators take a scalar path for a batch's last few rows unless it is padded."""
    booster, x = _booster(1, rows=4096)
    graph = to_onnx(booster)
    model = OnnxModel(calibrate(graph, 0.7, -1.2) if calibrated else graph)
    whole = model.predict(x)
    for size in (1, 3, 7, 17, 2163):
        batched = np.concatenate([model.predict(x[i:i + size])
                                  for i in range(0, len(x), size)])
        assert np.array_equal(batched, whole), size


def test_the_margin_error_stays_within_the_float32_bound() -> None:
    # The tolerance's derivation: |margin error| <= T * 2**-23 * sum over trees of the
    # largest |leaf|. Checked on the margins themselves: without its post-transform the
    # tree ensemble's column 1 is the float32 sum of the leaves.
    booster, x = _booster(0)
    graph = onnx.load_from_string(to_onnx(booster))
    (ensemble,) = [n for n in graph.graph.node if n.op_type == "TreeEnsembleClassifier"]
    (transform,) = [a for a in ensemble.attribute if a.name == "post_transform"]
    assert transform.s == b"LOGISTIC"
    transform.s = b"NONE"
    onnx_margin = OnnxModel(graph.SerializeToString()).predict(x)
    margin = _predict(booster, x, raw_score=True)
    leaves = [max(abs(booster.get_leaf_output(t, leaf)) for leaf in range(leaf_count))
              for t, leaf_count in enumerate(_leaf_counts(booster))]
    bound = booster.num_trees() * 2.0**-23 * sum(leaves)
    assert 0 < np.max(np.abs(onnx_margin - margin)) < bound
    raw = _predict(booster, x)
    assert parity_tolerance(booster, raw) == pytest.approx(max(1e-6, bound / 4))


def _predict(booster: lgb.Booster, x: np.ndarray, raw_score: bool = False) -> np.ndarray:
    return np.asarray(booster.predict(x.astype(np.float64), raw_score=raw_score),
                      dtype=np.float64)


def _leaf_counts(booster: lgb.Booster) -> list[int]:
    return [tree["num_leaves"] for tree in booster.dump_model()["tree_info"]]


def test_decisions_that_differ_beyond_the_tolerance_fail_parity() -> None:
    booster, x = _booster(0, rows=1000)
    expected = _predict(booster, x)
    threshold = float(np.quantile(expected, 0.9))
    tolerance = parity_tolerance(booster, expected)
    below = int(np.argmax(np.where(expected < threshold - 2 * tolerance, expected, -1)))
    # One row pushed over the threshold by 3 tolerances: a different decision.
    scores = expected.copy()
    scores[below] = threshold + tolerance
    flipped = parity(booster, x, scores, threshold=threshold)
    assert flipped.decision_flips == 1 and not flipped.ok
    assert any("alert decisions differ" in p for p in flipped.problems())
    # A row within the tolerance of the threshold crossing it is arithmetic: reported only.
    near = int(np.argmax(expected))
    just_above = float(expected[near] + 0.25 * tolerance)
    scores = expected.copy()
    scores[near] = just_above + 0.25 * tolerance
    close = parity(booster, x, scores, threshold=just_above)
    assert (close.near_threshold_flips, close.decision_flips) == (1, 0)
    assert close.ok, close


def test_a_reversed_ranking_fails_parity_on_ranking_too() -> None:
    booster, x = _booster(0, rows=1000)
    expected = _predict(booster, x)
    result = parity(booster, x, 1 - expected)
    assert result.rank_correlation < 0 and not result.ok
    assert any("rank correlation" in p for p in result.problems())
    # Noise well within the tolerance leaves the ranking intact, although it reorders
    # scores LightGBM tells apart by less than that.
    rng = np.random.default_rng(0)
    noisy = expected + rng.uniform(-1e-8, 1e-8, len(expected))
    assert metrics.spearman(expected, noisy) < MIN_RANK_CORRELATION
    assert parity(booster, x, noisy).ok


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5000001, 0.9]), min_size=2,
                max_size=40), st.randoms(use_true_random=False))
def test_rank_correlation_without_tolerance_is_spearman(values: list[float],
                                                        random: Random) -> None:
    a = np.array(values)
    b = np.array(random.sample(values, len(values)))
    expected = spearmanr(a, b).statistic
    got = rank_correlation(a, b)
    if np.isnan(expected):  # constant (b is a permutation of a: both are)
        assert got == 1.0
    else:
        assert got == pytest.approx(expected, abs=1e-12)
        assert got == pytest.approx(metrics.spearman(a, b), abs=1e-12)


def test_rank_correlation_ties_scores_within_the_tolerance() -> None:
    a = np.array([0.1, 0.1 + 1e-9, 0.1 + 2e-9, 0.5, 0.9])
    b = np.array([0.1 + 2e-9, 0.1 + 1e-9, 0.1, 0.5, 0.9])  # first three reversed
    assert rank_correlation(a, b) < 0.9
    assert rank_correlation(a, b, tolerance=1e-6) == 1.0


def _badly_calibrated(seed: int = 3, rows: int = 20_000) -> tuple[lgb.Booster, np.ndarray,
                                                                  np.ndarray]:
    """A model trained with scale_pos_weight (scores far above the fraud rate), and
    held-out rows to calibrate it on."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2 * rows, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] * rng.normal(size=2 * rows) + rng.normal(size=2 * rows) > 3)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1,
                         "scale_pos_weight": float((~y[:rows]).sum() / y[:rows].sum())},
                        lgb.Dataset(x[:rows], y[:rows].astype(float)), num_boost_round=100)
    return booster, x[rows:], y[rows:].astype(float)


def test_the_calibrated_graph_is_platt_scaling_of_lightgbm() -> None:
    booster, x, y = _badly_calibrated()
    raw_onnx = to_onnx(booster)
    raw = OnnxModel(raw_onnx).predict(x)
    a, b = metrics.fit_platt(y, raw)
    calibrated_onnx = calibrate(raw_onnx, a, b)
    calibrated = OnnxModel(calibrated_onnx).predict(x)

    reference = metrics.platt(_predict(booster, x), a, b)
    assert np.max(np.abs(calibrated - reference)) < 1e-5
    checked = check_parity(booster, calibrated_onnx, x, calibration=(a, b),
                           threshold=float(np.quantile(calibrated, 0.99)))
    assert checked.ok and checked.rows == len(x), checked
    # The same graph judged as if uncalibrated is a different model: parity catches it.
    assert not check_parity(booster, calibrated_onnx, x).ok

    # Monotone: ranking, AUC, AP and the distinct scores are unchanged.
    assert metrics.spearman(raw, calibrated) > 0.999999
    assert metrics.roc_auc(y, calibrated) == pytest.approx(metrics.roc_auc(y, raw), abs=1e-9)
    assert metrics.average_precision(y, calibrated) == pytest.approx(
        metrics.average_precision(y, raw), abs=1e-9)
    assert metrics.distinct(calibrated) == metrics.distinct(raw)
    # Calibrated: the mean score is the fraud rate, the Brier score is lower.
    assert raw.mean() > 3 * y.mean()
    assert calibrated.mean() == pytest.approx(y.mean(), rel=0.05)
    assert metrics.brier(y, calibrated) < metrics.brier(y, raw)


def test_the_calibrated_graph_keeps_its_interface() -> None:
    booster, x, _ = _badly_calibrated(rows=2000)
    model = onnx.load_from_string(calibrate(to_onnx(booster), 0.5, -2.0))
    assert [i.name for i in model.graph.input] == ["features"]
    assert {o.name for o in model.graph.output} == {"label", "probabilities"}
    assert {op.domain: op.version for op in model.opset_import}[""] == TARGET_OPSET
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], {"features": x[:500]})
    assert probabilities.shape == (500, 2) and probabilities.dtype == np.float32
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert (label == probabilities.argmax(axis=1)).all()
    # The tails keep their order: no scores collapse to 0 (onnxruntime's Sigmoid would).
    extreme = OnnxModel(calibrate(to_onnx(booster), 3.0, -10.0)).predict(x)
    assert extreme.min() > 0 and metrics.distinct(extreme) == metrics.distinct(
        OnnxModel(to_onnx(booster)).predict(x))
