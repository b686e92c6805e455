"""ONNX inference with onnxruntime: what the scorer runs for every deployed model.

The export from LightGBM, Platt scaling in the graph and the parity check live with
training (:mod:`pgfraud.lifecycle.onnx_export`). Models read float32 features.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

#: The graph's input and output names (the export writes them).
INPUT_NAME = "features"
PROBABILITIES = "probabilities"


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
