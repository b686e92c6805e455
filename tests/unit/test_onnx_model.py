"""ONNX export: exact split agreement with LightGBM, and a parity check that can fail."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scorer.onnx_model import OnnxModel, check_parity, float32_floor, to_onnx


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
