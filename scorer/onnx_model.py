"""ONNX inference with onnxruntime: what the scorer runs for every deployed model.

The export from LightGBM, Platt scaling in the graph and the parity check live with
training (:mod:`pgfraud.lifecycle.onnx_export`). Models read float32 features.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

#: The graph's input and output names (the export writes them).
INPUT_NAME = "features"
PROBABILITIES = "probabilities"
#: ``predict(..., workers=n)`` splits a matrix only when each part has at least this many
#: rows: below it, starting threads costs more than it saves.
MIN_ROWS_PER_WORKER = 2_000
#: A run's rows are padded to a multiple of this: onnxruntime computes element-wise
#: operators (the Platt scaling's log and exp) in SIMD vectors of up to 16 floats, and the
#: few rows left over at a batch's end by a scalar path whose last bits differ. Padded,
#: every row goes through the vectors, so its score does not depend on the batch it was
#: scored in (unpadded, 270 of 12,000 rows of a test model scored one at a time differed
#: from one run of all of them).
ROW_MULTIPLE = 16


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

    def predict(self, features: npt.ArrayLike, *, workers: int = 1) -> npt.NDArray[np.float64]:
        """P(fraud) per row. ``workers`` > 1 scores parts of a large matrix at once, each
        part a run of the session on its own thread (a run releases the interpreter
        lock): every row's score is the same to the bit as in one run, since a row's trees
        are summed by one thread in one order either way, unlike the session's own
        threads (``threads``), which split the trees and move the last bits. Training
        scores whole windows this way; the scorer's batches are small, so it does not.
        A row's score does not depend on the rows beside it (see :data:`ROW_MULTIPLE`)."""
        matrix = np.asarray(features, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, "
                             f"got shape {matrix.shape}")
        if len(matrix) == 0:
            return np.empty(0, dtype=np.float64)
        parts = min(workers, len(matrix) // MIN_ROWS_PER_WORKER)
        if parts <= 1:
            return self._run(matrix)
        with ThreadPoolExecutor(max_workers=parts, thread_name_prefix="onnx-rows") as pool:
            return np.concatenate(list(pool.map(self._run, np.array_split(matrix, parts))))

    def _run(self, matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        rows = len(matrix)
        if rows % ROW_MULTIPLE:
            padding = np.zeros((ROW_MULTIPLE - rows % ROW_MULTIPLE, self.n_features),
                               dtype=np.float32)
            matrix = np.vstack([matrix, padding])
        (probabilities,) = self.session.run([PROBABILITIES], {INPUT_NAME: matrix})
        return np.asarray(probabilities[:rows, 1], dtype=np.float64)
