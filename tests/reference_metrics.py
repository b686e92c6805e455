"""Independent Python versions of the metrics SQL computes, for cross-checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def psi(values: Sequence[float | None], bins: dict[str, Any]) -> float:
    """Population stability index of ``values`` against stored reference ``bins``
    (``edges``, ``fractions``, ``null_fraction``; shares floored at 1e-4), as
    docs/models.md defines it."""
    edges = np.array(bins["edges"])
    # An all-NULL reference has no value bins: one empty bin, as the SQL generates.
    fractions = np.array(bins["fractions"] or [0.0] * (len(edges) + 1))
    null_fraction = bins["null_fraction"]
    present = np.array([v for v in values if v is not None], dtype=np.float64)
    counts = np.bincount(np.searchsorted(edges, present, side="right"),
                         minlength=len(edges) + 1)
    actual = np.r_[(len(values) - len(present)) / len(values), counts / len(values)]
    expected = np.r_[null_fraction, fractions * (1 - null_fraction)]
    a, e = np.maximum(actual, 1e-4), np.maximum(expected, 1e-4)
    return float(((a - e) * np.log(a / e)).sum())
