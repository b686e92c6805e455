"""The compose stack: image build, time to healthy, time to first prediction, image size.

Measured by ``make test-compose`` (tests/compose/test_stack.py writes
``benchmarks/compose.json``), not by ``make bench``, which needs no Docker engine: this
section reports the newest such run, with its own date and machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.common import Section, table

RESULTS = Path(__file__).resolve().parent / "compose.json"

ROWS = (
    ("make test-compose, whole run (engine, images, build, every check)", "whole run", "s"),
    ("base images: pulled, or stand-ins built from Debian packages", "base images", "s"),
    ("`docker compose build` (the pgfraud image)", "image build", "s"),
    ("`up -d` to every service healthy and every one-shot done", "up to healthy", "s"),
    ("`up -d` to the first champion prediction", "up to first prediction", "s"),
    ("`down`, then `up -d` to healthy, volume kept", "up to healthy, volume kept", "s"),
    ("pgfraud image size", "image size MB", "MB"),
)


def run() -> Section:
    title = "Compose stack (make test-compose)"
    if not RESULTS.exists():
        return Section(title, "No `make test-compose` run recorded yet.")
    results = json.loads(RESULTS.read_text())
    rows = [(label, f"{results[key]:,.0f} {unit}") for label, key, unit in ROWS
            if key in results]
    body = (f"Measured by `make test-compose` at {results['measured at']} on "
            f"{results['machine']}, not by `make bench`; base images: "
            f"{results['images']}. Grafana is not part of the run (no image here).\n\n"
            + table(["step", "time / size"], rows))
    return Section(title, body)
