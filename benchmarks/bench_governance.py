"""Governance: what the promotion gate's paired bootstrap costs.

The gate resamples the compared transactions 1,000 times and computes the average
precision of both models on each resample (pgfraud/lifecycle/governance.py). Side by side in one
run, on synthetic scores with 1 % fraud:

- **counted per fraud group** (what the gate does): the rows are sorted once per model
  and each is given the first tie group holding a fraud that it ranks with or above; a
  resample is one count of the drawn rows' groups per model;
- **sorted once** (the gate before): each resample is a vector of multiplicity counts
  over the rows sorted once per model, two cumulative sums over every row per model;
- **resample and sort** (the textbook loop): draw the rows, then
  ``metrics.average_precision`` of each model, which sorts.

All three give the same differences for the same draws (tests/unit/test_governance.py
checks the counts per group against the weighted AP, and the weighted AP against the AP
of the repeated rows).
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import Section, table
from pgfraud.lifecycle import governance, metrics
from pgfraud.lifecycle.governance import paired_bootstrap_ap

SIZES = (10_000, 100_000, 1_000_000)
RESAMPLES = {10_000: 1000, 100_000: 200, 1_000_000: 20}  # per method, per size


def _sorted_once(y: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int) -> None:
    """The gate's loop before the counts per fraud group (same draws)."""
    models = governance._SortedScores(a), governance._SortedScores(b)
    rng = np.random.default_rng(0)
    for _ in range(resamples):
        weights = np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y))
        weights = weights.astype(np.float64)
        models[0].average_precision(y, weights) - models[1].average_precision(y, weights)


def _textbook(y: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int) -> None:
    rng = np.random.default_rng(0)
    for _ in range(resamples):
        rows = rng.integers(0, len(y), len(y))
        metrics.average_precision(y[rows], a[rows]) - metrics.average_precision(y[rows],
                                                                                b[rows])


def run() -> Section:
    rows = []
    for n in SIZES:
        rng = np.random.default_rng(n)
        y = (rng.uniform(size=n) < 0.01).astype(np.float64)
        champion = rng.normal(size=n) + 1.5 * y
        challenger = champion + rng.normal(scale=0.5, size=n) + 0.2 * y
        resamples = RESAMPLES[n]
        began = time.perf_counter()
        paired_bootstrap_ap(y, challenger, champion, resamples=resamples)
        ours = (time.perf_counter() - began) / resamples
        began = time.perf_counter()
        _sorted_once(y, challenger, champion, resamples)
        before = (time.perf_counter() - began) / resamples
        began = time.perf_counter()
        _textbook(y, challenger, champion, resamples)
        textbook = (time.perf_counter() - began) / resamples
        rows.append([f"{n:,}", f"{resamples:,}", f"{ours * 1e3:,.2f} ms",
                     f"{before * 1e3:,.2f} ms", f"{textbook * 1e3:,.2f} ms",
                     f"{before / ours:.1f}x", f"{textbook / ours:.1f}x",
                     f"{ours * 1000:,.1f} s"])
    body = "\n\n".join([
        "The promotion gate's paired bootstrap of the AP difference "
        "(pgfraud/lifecycle/governance.py), synthetic scores with 1 % fraud, one thread. "
        "Time per resample, both models; "
        "each method measured on the number of resamples shown.",
        table(["compared transactions", "resamples timed", "counted per fraud group (the gate)",
               "sorted once (the gate before)", "resample and sort",
               "speed-up on sorted once", "speed-up on resample and sort",
               "the gate's 1,000 resamples"], rows),
    ])
    return Section("Governance: the promotion gate's paired bootstrap", body)
