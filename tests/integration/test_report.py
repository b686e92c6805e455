"""``pgfraud report`` on a database where the whole loop ran and the marts are built,
opened in headless Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
from click.testing import CliRunner
from plotly.offline import get_plotlyjs

from pgfraud.cli import cli
from pgfraud.kernel.card_numbers import find_card_numbers
from pgfraud.monitoring.report import EMPTY
from tests.browser import open_html
from tests.conftest import Databases
from tests.monitoring import Monitored

PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))
MUST_DRAW = ("average_precision", "feature_drift", "latency", "value_detected",
             "reliability")
#: A transaction three hours (event time) after the newest one, inserted after the marts
#: were built.
NEWER_TRANSACTION = """
insert into ingest.transactions (trans_num, transacted_at, card_token, card_last4, amount,
    merchant, category, merchant_lat, merchant_long, payload_sha256, source)
select 'after-the-marts', transacted_at + interval '3 hours', card_token, card_last4,
       amount, merchant, category, merchant_lat, merchant_long, payload_sha256, source
from ingest.transactions order by transacted_at desc, transaction_id desc limit 1
"""


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
        assert opened.count("#stale-banner") == 0  # marts built after the last transaction
        assert opened.count(".banner.alarm") == 0  # no guardrail fired
        assert opened.count("#panel-calibration tbody tr") >= 2


def test_a_banner_says_when_the_marts_are_behind(databases: Databases, monitored: Monitored,
                                                tmp_path: Path) -> None:
    url = databases.clone(monitored.url)
    with psycopg.connect(url) as conn:
        conn.execute(NEWER_TRANSACTION)
    out = tmp_path / "stale.html"
    result = CliRunner().invoke(cli, ["report", "--out", str(out)], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    with open_html(out) as opened:
        assert opened.problems == []
        banner = opened.text("#stale-banner")
        assert banner.startswith("marts are 3 hours behind the newest transaction")
        assert banner.endswith("run pgfraud refresh")
        box = opened.page.locator("#stale-banner").bounding_box()
        first_board = opened.page.locator(".board").first.bounding_box()
        assert box is not None and first_board is not None
        assert box["y"] < first_board["y"]  # at the top, above the charts


def test_a_banner_shows_a_guardrail_rollback(databases: Databases, monitored: Monitored,
                                             tmp_path: Path) -> None:
    url = databases.clone(monitored.url)
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into ml.retrain_decisions (trigger_reason, new_labels, min_new_labels, "
            "margin, outcome, rule, detail) values ('guardrail', 0, 0, 0, 'rolled_back', "
            "'guardrail_score_psi', 'rolled back to model 1: model 2''s live score PSI "
            "0.412 > 0.25 over 1,234 scores')")
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("PGFRAUD_HOME", None)
    built = subprocess.run([PGFRAUD, "dbt", "build", "--select", "fct_model_decisions"],
                           env=env, capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    out = tmp_path / "alarm.html"
    result = CliRunner().invoke(cli, ["report", "--out", str(out)], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    with open_html(out) as opened:
        assert opened.problems == []
        assert opened.count(".banner.alarm") == 1
        text = opened.text(".banner.alarm")
        assert text.startswith("rolled back (guardrail_score_psi, decision ")
        assert text.endswith("rolled back to model 1: model 2's live score PSI 0.412 > 0.25 "
                             "over 1,234 scores")
        assert opened.count("#panel-promotion_decisions tbody tr") >= 1


def test_without_the_marts_it_says_to_build_them(db_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PGFRAUD_HOME"}
    env["DATABASE_URL"] = db_url
    done = subprocess.run([PGFRAUD, "report", "--out", os.devnull], env=env,
                          capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("error: the monitoring marts") and "pgfraud dbt build" in message
