"""The generated Grafana dashboards and their provisioning files (no Grafana needed)."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pgfraud.cli import cli
from pgfraud.kernel.settings import PROJECT_ROOT
from pgfraud.monitoring import grafana
from pgfraud.monitoring.panels import BOARDS, Board, Panel

DASHBOARDS = PROJECT_ROOT / "dashboards"
PROVISIONING = DASHBOARDS / "provisioning"
PAIRS = [(board, grafana.dashboard_json(board)) for board in BOARDS]
IDS = [board.uid for board in BOARDS]


def test_committed_json_is_what_the_code_generates() -> None:
    assert grafana.stale(DASHBOARDS) == [], "run `pgfraud dashboards build` and commit"
    for board in BOARDS:
        text = (DASHBOARDS / f"{board.uid}.json").read_text(encoding="utf-8")
        assert json.loads(text) == grafana.dashboard_json(board)


def test_rendering_is_deterministic() -> None:
    for board in BOARDS:
        assert grafana.render(board) == grafana.render(board)
        assert grafana.render(board).endswith("}\n")


def test_dashboard_uids_are_fixed_and_unique() -> None:
    uids = [dashboard["uid"] for _, dashboard in PAIRS]
    assert uids == ["pgfraud-operations", "pgfraud-model"]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize(("board", "dashboard"), PAIRS, ids=IDS)
def test_dashboard_settings(board: Board, dashboard: dict) -> None:
    assert dashboard["title"] == board.title
    assert dashboard["time"] == {"from": board.time_from, "to": "now"}
    assert dashboard["refresh"] == board.refresh
    assert dashboard["tags"] == ["pgfraud"]
    assert dashboard["editable"] is False
    assert dashboard["id"] is None
    assert 36 <= dashboard["schemaVersion"] <= 41


@pytest.mark.parametrize(("board", "dashboard"), PAIRS, ids=IDS)
def test_panel_ids_are_unique_and_follow_position(board: Board, dashboard: dict) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert ids == list(range(1, len(board.panels) + 1))


@pytest.mark.parametrize(("board", "dashboard"), PAIRS, ids=IDS)
def test_each_panel_has_one_target_with_the_panel_sql(board: Board, dashboard: dict) -> None:
    for panel, generated in zip(board.panels, dashboard["panels"], strict=True):
        assert generated["title"] == panel.title
        assert generated["description"] == panel.description
        assert generated["fieldConfig"]["defaults"]["unit"] == panel.unit
        (target,) = generated["targets"]
        assert target["rawSql"] == panel.sql
        assert target["rawQuery"] is True
        assert target["editorMode"] == "code"
        assert target["refId"] == "A"


@pytest.mark.parametrize(("board", "dashboard"), PAIRS, ids=IDS)
def test_type_and_format_per_kind(board: Board, dashboard: dict) -> None:
    expected = {"stat": ("stat", "table"), "table": ("table", "table"),
                "curve": ("table", "table"),
                "timeseries": ("timeseries", "time_series"),
                "bars": ("timeseries", "time_series"), "heatmap": ("heatmap", "time_series")}
    for panel, generated in zip(board.panels, dashboard["panels"], strict=True):
        assert (generated["type"], generated["targets"][0]["format"]) == expected[panel.kind]
        custom = generated["fieldConfig"]["defaults"].get("custom", {})
        if panel.kind == "bars":
            assert custom["drawStyle"] == "bars"
            assert custom["stacking"]["mode"] == "normal"
        if panel.kind == "timeseries":
            assert custom["drawStyle"] == "line"
        if panel.kind == "heatmap":
            assert generated["options"]["calculate"] is False
            assert generated["options"]["rowsFrame"]["layout"] == "unknown"


@pytest.mark.parametrize(("board", "dashboard"), PAIRS, ids=IDS)
def test_idle_buckets_are_gaps_not_lines(board: Board, dashboard: dict) -> None:
    """Every time series inserts a null where points are more than its step apart and
    does not span nulls, so an idle minute (or day) is a gap."""
    steps = {"throughput": 60_000, "latency": 60_000, "alerts_per_minute": 60_000,
             "quarantine_by_reason": 3_600_000, "average_precision": 86_400_000,
             "value_detected": 86_400_000, "label_delay": 86_400_000}
    checked = 0
    for panel, generated in zip(board.panels, dashboard["panels"], strict=True):
        if panel.kind not in ("timeseries", "bars"):
            continue
        custom = generated["fieldConfig"]["defaults"]["custom"]
        assert custom["spanNulls"] is False, panel.key
        assert panel.step is not None, f"{panel.key} has no step"
        assert custom["insertNulls"] == panel.step.total_seconds() * 1000, panel.key
        if panel.key in steps:
            assert custom["insertNulls"] == steps[panel.key], panel.key
            checked += 1
    assert checked >= 3


def test_the_model_board_annotates_champion_changes() -> None:
    model = grafana.dashboard_json(BOARDS[1])
    names = [a["name"] for a in model["annotations"]["list"]]
    assert names == ["Annotations & Alerts", "Champion changes"]
    (annotation,) = [a for a in model["annotations"]["list"] if a["name"] == "Champion changes"]
    assert annotation["datasource"] == grafana.DATASOURCE
    assert "analytics.fct_daily_champions" in annotation["target"]["rawSql"]
    assert "$__timeFilter(day)" in annotation["target"]["rawSql"]


def test_no_panel_filters_on_the_current_status() -> None:
    """History is attributed from the predictions: a panel over the daily marts never
    picks "the champion" by its status now (dim_models.status)."""
    for board in BOARDS:
        for panel in board.panels:
            if "fct_daily" in panel.sql:
                assert "status" not in panel.sql, panel.key


def test_every_kind_is_used() -> None:
    assert {panel.kind for board in BOARDS for panel in board.panels} == set(
        grafana.PANEL_TYPES)


@pytest.mark.parametrize(("board", "dashboard"), PAIRS, ids=IDS)
def test_grid_fits_24_columns_without_overlap(board: Board, dashboard: dict) -> None:
    boxes = [panel["gridPos"] for panel in dashboard["panels"]]
    for box, panel in zip(boxes, board.panels, strict=True):
        assert (box["w"], box["h"]) == (panel.width, panel.height)
        assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["w"] <= 24
    for a, b in itertools.combinations(boxes, 2):
        apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                 or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
        assert apart, f"{a} overlaps {b}"


def test_layout_wraps_left_to_right() -> None:
    def sized(width: int, height: int) -> Panel:
        return Panel(f"p{width}x{height}", "P", "stat", "select 1 as value", width=width,
                     height=height)

    positions = grafana.grid_positions(
        [sized(6, 4), sized(12, 8), sized(12, 8), sized(24, 3), sized(6, 4)])
    assert [(p["x"], p["y"]) for p in positions] == [(0, 0), (6, 0), (0, 8), (0, 16),
                                                     (0, 19)]
    with pytest.raises(ValueError, match="24-column"):
        grafana.grid_positions([sized(25, 4)])


def test_panels_use_the_provisioned_datasource() -> None:
    source = yaml.safe_load(
        (PROVISIONING / "datasources" / "pgfraud.yaml").read_text(encoding="utf-8"))
    assert source["apiVersion"] == 1
    (datasource,) = source["datasources"]
    assert datasource["type"] == grafana.DATASOURCE_TYPE
    assert datasource["jsonData"]["sslmode"] == "disable"
    assert datasource["secureJsonData"]["password"].startswith("$")
    expected = {"type": datasource["type"], "uid": datasource["uid"]}
    for _, dashboard in PAIRS:
        for panel in dashboard["panels"]:
            assert panel["datasource"] == expected
            assert panel["targets"][0]["datasource"] == expected


def test_every_datasource_env_var_is_documented() -> None:
    text = (PROVISIONING / "datasources" / "pgfraud.yaml").read_text(encoding="utf-8")
    comments = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", body))
    assert used, "the datasource should read its connection from the environment"
    for name in used:
        assert name in comments, f"{name} is not documented at the top of the file"


def test_dashboard_provider() -> None:
    config = yaml.safe_load(
        (PROVISIONING / "dashboards" / "pgfraud.yaml").read_text(encoding="utf-8"))
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "pgfraud"
    assert provider["folderUid"] == grafana.FOLDER_UID
    assert provider["allowUiUpdates"] is False
    assert provider["disableDeletion"] is True
    path = provider["options"]["path"]
    assert path.startswith("/") and path != "/" and ".." not in path.split("/")


def test_build_check_detects_a_modified_file(tmp_path: Path) -> None:
    copy = tmp_path / "dashboards"
    shutil.copytree(DASHBOARDS, copy)
    runner = CliRunner()
    assert runner.invoke(cli, ["dashboards", "build", "--out", str(copy), "--check"]
                         ).exit_code == 0

    target = copy / "pgfraud-model.json"
    target.write_text(target.read_text(encoding="utf-8").replace('"now-30d"', '"now-1d"'),
                      encoding="utf-8")
    result = runner.invoke(cli, ["dashboards", "build", "--out", str(copy), "--check"])
    assert result.exit_code == 1
    assert "pgfraud-model.json" in result.output
    assert "pgfraud-operations.json" not in result.output
    assert target.read_text(encoding="utf-8") != grafana.render(BOARDS[1]), "--check wrote"


def test_build_writes_missing_files_then_check_passes(tmp_path: Path) -> None:
    out = tmp_path / "fresh"
    runner = CliRunner()
    missing = runner.invoke(cli, ["dashboards", "build", "--out", str(out), "--check"])
    assert missing.exit_code == 1 and not out.exists()

    built = runner.invoke(cli, ["dashboards", "build", "--out", str(out)])
    assert built.exit_code == 0, built.output
    assert sorted(p.name for p in out.iterdir()) == ["pgfraud-model.json",
                                                     "pgfraud-operations.json"]
    assert runner.invoke(cli, ["dashboards", "build", "--out", str(out), "--check"]
                         ).exit_code == 0
    again = runner.invoke(cli, ["dashboards", "build", "--out", str(out)])
    assert again.output.count("unchanged") == 2


def test_docs_list_every_panel() -> None:
    docs = (PROJECT_ROOT / "docs" / "dashboards.md").read_text(encoding="utf-8")
    for board in BOARDS:
        for panel in board.panels:
            assert f"| {panel.title} |" in docs, f"docs/dashboards.md lacks {panel.title!r}"
