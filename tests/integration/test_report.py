"""``pgfraud report`` on a database where the whole loop ran and the marts are built,
opened in headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from plotly.offline import get_plotlyjs

from producer.cards import find_card_numbers
from scorer.cli import cli
from scorer.report import EMPTY
from tests.browser import open_html

PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))
MUST_DRAW = ("average_precision", "feature_drift", "latency")


def test_report_of_a_monitored_database(monitored_db: str, tmp_path: Path) -> None:
    out = tmp_path / "tmp" / "report.html"
    result = CliRunner().invoke(cli, ["report", "--out", str(out)],
                                env={"DATABASE_URL": monitored_db})
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output

    page = out.read_text(encoding="utf-8")
    assert get_plotlyjs() in page  # self-contained, and scanned whole, the library too
    assert find_card_numbers(page) == []
    assert "<script src" not in page.lower()

    with open_html(out) as opened:
        opened.screenshot(tmp_path / "report.png")
        assert opened.problems == []
        for key in MUST_DRAW:
            assert opened.count(f"#panel-{key}.empty") == 0, f"{key}: {EMPTY}"
            assert opened.count(f"#panel-{key} .main-svg") >= 1, key
        assert opened.text("#panel-transactions_scored .stat-value") != "0"


def test_without_the_marts_it_says_to_build_them(db_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PGFRAUD_HOME"}
    env["DATABASE_URL"] = db_url
    done = subprocess.run([PGFRAUD, "report", "--out", os.devnull], env=env,
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("error: the monitoring marts") and "pgfraud dbt build" in message
