"""pgfraud: real-time card-fraud scoring where PostgreSQL is the system.

The packages, bottom to top (docs/architecture.md draws the graph; the import contract
in pyproject.toml keeps the arrows one way):

- ``pgfraud.kernel``: settings, connections and scratch databases, the embedded
  PostgreSQL, migrations, named queries, errors, names, signals, durations. No stage.
- ``producer``: traffic in: simulation, Kaggle files, tokenization, the batch writer,
  feature backfill.
- ``scorer``: serving: claim, score, alerts, worker pool, ONNX inference, model cache.
- ``pgfraud.labels``: analysts' ground truth: label files, the review queue, simulated
  analysts.
- ``pgfraud.lifecycle``: training, metrics, ONNX export, the registry's writes, the
  promotion gates, retraining, the bootstrap model.
- ``pgfraud.monitoring``: dbt, dashboard panels, Grafana, the HTML report, card-number
  leak scans.
- ``pgfraud.backtest``: replaying a file through the whole loop.
- ``pgfraud.cli``: the ``pgfraud`` command line, one module per stage.
"""

from __future__ import annotations

__version__ = "0.1.0"
