"""LightGBM to ONNX and back: export, the parity check, and inference with onnxruntime.

Models read float32 features (what the ONNX tree ensemble compares in), so training
casts its matrix to float32 first and LightGBM and ONNX see identical inputs.

Split thresholds need care. LightGBM keeps them as doubles, usually midway between two
training values, and tests ``x <= t``. ONNX stores them as float32, and rounding ``t``
to the *nearest* float32 can land on the value just above it, sending that value down
the wrong branch. (Measured: a 190k-row model differed by 2.7e-4 in probability on rows
with amount 111.41.) For float32 inputs, ``x <= t`` holds exactly when ``x`` is at most
the largest float32 not above ``t``, so the export rounds every threshold *down* to
float32 first, and the two models then take the same branch for every input.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

if TYPE_CHECKING:
    import lightgbm as lgb

INPUT_NAME = "features"
PROBABILITIES = "probabilities"
# ai.onnx opset 15 is the newest onnxmltools' LightGBM converter supports.
TARGET_OPSET = 15
PARITY_TOLERANCE = 1e-5


def to_onnx(booster: lgb.Booster) -> bytes:
    """Serialise a binary LightGBM booster as ONNX (one float32 input, probabilities out)."""
    # Imported here: scoring needs only onnxruntime, and these take a second to import.
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType
    from onnxmltools.convert.lightgbm._parse import WrappedBooster

    model = onnxmltools.convert_lightgbm(
        WrappedBooster(_Float32Thresholds(booster)),
        initial_types=[(INPUT_NAME, FloatTensorType([None, booster.num_feature()]))],
        zipmap=False,
        target_opset=TARGET_OPSET,
    )
    return bytes(model.SerializeToString())


def float32_floor(value: float) -> float:
    """The largest float32 that is <= ``value``, as a Python float.

    >>> float32_floor(0.1) < 0.1 < float(np.float32(0.1))
    True
    >>> float32_floor(0.5)
    0.5
    """
    with np.errstate(over="ignore"):
        nearest = np.float32(value)
    if float(nearest) > value:
        nearest = np.nextafter(nearest, np.float32(-np.inf))
    return float(nearest)


class _Float32Thresholds:
    """A booster whose model dump has every split threshold rounded down to float32.

    onnxmltools reads trees from ``dump_model()`` of objects marked ``is_mock``; all
    other attributes come from the real booster.
    """

    is_mock = True

    def __init__(self, booster: lgb.Booster) -> None:
        self._booster = booster
        self._dump = booster.dump_model()
        for tree in self._dump["tree_info"]:
            self._round(tree["tree_structure"])

    def _round(self, node: dict[str, Any]) -> None:
        stack = [node]
        while stack:
            current = stack.pop()
            if "split_feature" not in current:
                continue
            if current.get("decision_type") == "<=":
                current["threshold"] = float32_floor(float(current["threshold"]))
            stack.extend((current["left_child"], current["right_child"]))

    def dump_model(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self._dump

    def __getattr__(self, name: str) -> Any:
        return getattr(self._booster, name)


class OnnxModel:
    """An ONNX fraud model in onnxruntime: ``predict`` returns P(fraud) per row."""

    def __init__(self, onnx_bytes: bytes, *, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: no shape warnings on stderr
        self.session = ort.InferenceSession(onnx_bytes, sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.n_features = int(self.session.get_inputs()[0].shape[1])

    def predict(self, features: npt.ArrayLike) -> npt.NDArray[np.float64]:
        matrix = np.asarray(features, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, "
                             f"got shape {matrix.shape}")
        if len(matrix) == 0:
            return np.empty(0, dtype=np.float64)
        (probabilities,) = self.session.run([PROBABILITIES], {INPUT_NAME: matrix})
        return np.asarray(probabilities[:, 1], dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class Parity:
    rows: int
    max_abs_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= self.tolerance


def check_parity(booster: lgb.Booster, onnx_bytes: bytes, features: npt.ArrayLike,
                 tolerance: float = PARITY_TOLERANCE) -> Parity:
    """Largest |LightGBM - ONNX| probability over ``features`` (float32-cast rows)."""
    matrix = np.asarray(features, dtype=np.float32)
    return parity(booster, matrix, OnnxModel(onnx_bytes).predict(matrix), tolerance)


def parity(booster: lgb.Booster, features: npt.NDArray[np.float32],
           onnx_scores: npt.NDArray[np.float64],
           tolerance: float = PARITY_TOLERANCE) -> Parity:
    """Largest |LightGBM - ONNX| given the ONNX scores of ``features`` already computed."""
    expected: Any = booster.predict(np.asarray(features, dtype=np.float64))
    diff = float(np.max(np.abs(np.asarray(expected) - onnx_scores))) if len(features) else 0.0
    return Parity(rows=len(features), max_abs_diff=diff, tolerance=tolerance)
