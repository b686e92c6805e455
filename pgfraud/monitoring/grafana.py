"""Grafana dashboards as code: every :class:`pgfraud.monitoring.panels.Board` as dashboard JSON.

The JSON is generated, committed under ``dashboards/`` (Grafana provisions it from
there) and can be pushed over Grafana's HTTP API. Uids and panel ids are fixed, keys are
sorted, so regenerating gives byte-identical files and diffs stay readable.

>>> board = dashboard_json(BOARDS[0])
>>> board["uid"], [p["gridPos"]["x"] for p in board["panels"][:5]]
('pgfraud-operations', [0, 6, 12, 18, 0])
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import niquests
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, TokenAuth

from pgfraud import __version__
from pgfraud.kernel.errors import PgfraudError
from pgfraud.monitoring.panels import BOARDS, Annotation, Board, Panel

__all__ = ["BOARDS", "DATASOURCE", "dashboard_json", "push", "render", "stale", "write_all"]

#: The PostgreSQL data source every panel queries (provisioned with this uid by
#: ``dashboards/provisioning/datasources/pgfraud.yaml``).
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE_UID = "pgfraud-postgres"
DATASOURCE: dict[str, str] = {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}

SCHEMA_VERSION = 39   # Grafana 10.4 / 11.x dashboard schema
GRID_COLUMNS = 24
TAG = "pgfraud"
FOLDER_UID = "pgfraud"

#: Grafana panel type and query format per panel kind.
#: A ``curve`` (points not over time, e.g. a reliability curve) is a table in Grafana;
#: the HTML report draws it.
PANEL_TYPES: dict[str, str] = {"stat": "stat", "timeseries": "timeseries",
                               "bars": "timeseries", "heatmap": "heatmap", "table": "table",
                               "curve": "table"}
QUERY_FORMATS: dict[str, str] = {"stat": "table", "table": "table", "timeseries": "time_series",
                                 "bars": "time_series", "heatmap": "time_series",
                                 "curve": "table"}

JSON = dict[str, Any]


# --- layout -------------------------------------------------------------------------


def grid_positions(panels: Iterable[Panel]) -> list[dict[str, int]]:
    """Left to right, wrapping to a new row when the next panel would pass column 24;
    a row is as tall as its tallest panel."""
    positions: list[dict[str, int]] = []
    x = y = row_height = 0
    for panel in panels:
        if not 1 <= panel.width <= GRID_COLUMNS or panel.height < 1:
            raise ValueError(f"panel {panel.key}: size {panel.width}x{panel.height} does not "
                             f"fit a {GRID_COLUMNS}-column grid")
        if x + panel.width > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        positions.append({"x": x, "y": y, "w": panel.width, "h": panel.height})
        x += panel.width
        row_height = max(row_height, panel.height)
    return positions


# --- panels -------------------------------------------------------------------------


def target(panel: Panel) -> JSON:
    """The panel's one query: raw SQL in code mode."""
    return {"datasource": dict(DATASOURCE), "editorMode": "code",
            "format": QUERY_FORMATS[panel.kind], "rawQuery": True, "rawSql": panel.sql,
            "refId": "A"}


def _field_config(panel: Panel, color: str, custom: JSON | None = None) -> JSON:
    defaults: JSON = {
        "color": {"mode": color}, "unit": panel.unit,
        "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": None}]},
    }
    if custom is not None:
        defaults["custom"] = custom
    return {"defaults": defaults, "overrides": []}


def _legend_and_tooltip() -> JSON:
    return {"legend": {"calcs": [], "displayMode": "list", "placement": "bottom",
                       "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "none"}}


def _stat(panel: Panel) -> tuple[JSON, JSON]:
    options = {"colorMode": "value", "graphMode": "none", "justifyMode": "auto",
               "orientation": "auto", "textMode": "auto", "showPercentChange": False,
               "wideLayout": True,
               "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    return _field_config(panel, "thresholds"), options


def _series_style(panel: Panel, draw: str, fill: int, stacking: str) -> JSON:
    """Lines never span missing buckets: ``insertNulls`` (Grafana >= 10) puts a null
    where consecutive points are more than the panel's step apart, and ``spanNulls:
    false`` draws it as a gap."""
    step_ms = int(panel.step.total_seconds() * 1000) if panel.step else False
    return {"drawStyle": draw, "lineInterpolation": "linear", "lineWidth": 1,
            "fillOpacity": fill, "gradientMode": "none", "pointSize": 4,
            "showPoints": "auto" if draw == "line" else "never", "spanNulls": False,
            "insertNulls": step_ms, "axisPlacement": "auto", "barAlignment": 0,
            "stacking": {"group": "A", "mode": stacking}}


def _timeseries(panel: Panel) -> tuple[JSON, JSON]:
    return (_field_config(panel, "palette-classic", _series_style(panel, "line", 10, "none")),
            _legend_and_tooltip())


def _bars(panel: Panel) -> tuple[JSON, JSON]:
    return (_field_config(panel, "palette-classic",
                          _series_style(panel, "bars", 80, "normal")),
            _legend_and_tooltip())


def _heatmap(panel: Panel) -> tuple[JSON, JSON]:
    """Pre-bucketed: each series (one per ``metric``) is a row, named on the y axis."""
    custom = {"hideFrom": {"legend": False, "tooltip": False, "viz": False},
              "scaleDistribution": {"type": "linear"}}
    options = {
        "calculate": False, "cellGap": 1, "cellValues": {"unit": panel.unit},
        "color": {"exponent": 0.5, "fill": "dark-orange", "min": 0, "mode": "scheme",
                  "reverse": False, "scale": "exponential", "scheme": "Oranges", "steps": 64},
        "filterValues": {"le": 1e-9}, "legend": {"show": True},
        "rowsFrame": {"layout": "unknown"}, "showValue": "never",
        "tooltip": {"mode": "single", "showColorScale": False, "yHistogram": False},
        "yAxis": {"axisPlacement": "left", "reverse": False},
    }
    return _field_config(panel, "scheme", custom), options


def _table(panel: Panel) -> tuple[JSON, JSON]:
    custom = {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}
    options = {"cellHeight": "sm", "showHeader": True,
               "footer": {"countRows": False, "fields": "", "reducer": ["sum"], "show": False}}
    return _field_config(panel, "thresholds", custom), options


_STYLES = {"stat": _stat, "timeseries": _timeseries, "bars": _bars, "heatmap": _heatmap,
           "table": _table, "curve": _table}


def panel_json(panel: Panel, panel_id: int, grid_pos: Mapping[str, int]) -> JSON:
    """One Grafana panel: type, position, query and display options."""
    field_config, options = _STYLES[panel.kind](panel)
    return {"id": panel_id, "type": PANEL_TYPES[panel.kind], "title": panel.title,
            "description": panel.description, "gridPos": dict(grid_pos),
            "datasource": dict(DATASOURCE), "targets": [target(panel)],
            "fieldConfig": field_config, "options": options}


# --- dashboards ---------------------------------------------------------------------


def annotation_json(annotation: Annotation) -> JSON:
    """A board annotation from SQL (columns ``time`` and ``text``) on the data source."""
    return {"datasource": dict(DATASOURCE), "enable": True, "hide": False,
            "iconColor": "rgba(163, 82, 204, 1)", "name": annotation.name,
            "target": {"editorMode": "code", "format": "table", "rawQuery": True,
                       "rawSql": annotation.sql, "refId": "Anno"}}


def dashboard_json(board: Board) -> JSON:
    """The board as a Grafana dashboard model (``id`` null: Grafana matches on ``uid``)."""
    panels = [panel_json(panel, number, position) for number, (panel, position)
              in enumerate(zip(board.panels, grid_positions(board.panels), strict=True), 1)]
    return {
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard"},
            *(annotation_json(a) for a in board.annotations)]},
        "description": board.description, "editable": False, "fiscalYearStartMonth": 0,
        "graphTooltip": 1, "id": None, "liveNow": False,
        "links": [{"asDropdown": False, "icon": "external link", "includeVars": False,
                   "keepTime": True, "tags": [TAG], "targetBlank": False, "title": "pgfraud",
                   "type": "dashboards"}],
        "panels": panels, "refresh": board.refresh, "schemaVersion": SCHEMA_VERSION,
        "tags": [TAG], "templating": {"list": []},
        "time": {"from": board.time_from, "to": "now"}, "timepicker": {},
        "timezone": "utc", "title": board.title, "uid": board.uid, "weekStart": "",
    }


def render(board: Board) -> str:
    """The dashboard file's exact text (sorted keys, so regenerating is stable)."""
    return json.dumps(dashboard_json(board), sort_keys=True, indent=2) + "\n"


def filename(board: Board) -> str:
    return f"{board.uid}.json"


def _is_current(path: Path, board: Board) -> bool:
    return path.is_file() and path.read_text(encoding="utf-8") == render(board)


def write_all(directory: Path, boards: Iterable[Board] = BOARDS) -> list[Path]:
    """Write ``<uid>.json`` for every board into ``directory`` (created if missing);
    files already up to date are left untouched. Returns every board's path."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for board in boards:
        path = directory / filename(board)
        if not _is_current(path, board):
            path.write_text(render(board), encoding="utf-8")
        paths.append(path)
    return paths


def stale(directory: Path, boards: Iterable[Board] = BOARDS) -> list[str]:
    """Names of the board files in ``directory`` that are missing or differ from what
    the code generates (empty: everything is up to date)."""
    return [filename(board) for board in boards
            if not _is_current(directory / filename(board), board)]


# --- push over the HTTP API ---------------------------------------------------------


_UID = re.compile(r"[A-Za-z0-9_-]{1,40}")


@dataclass(frozen=True)
class Pushed:
    """One uploaded board: where Grafana serves it and its new version."""

    uid: str
    url: str
    version: int | None


def display_url(url: str) -> str:
    """``url`` without any user:password part, for messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def client(url: str, token: str, timeout: float = 10.0) -> GrafanaApi:
    """A Grafana API client for ``url`` (e.g. ``http://grafana:3000`` or a sub-path such
    as ``https://example.org/grafana``) authenticated with a bearer token."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PgfraudError(f"the Grafana URL must look like http://host:3000, not "
                           f"{display_url(url)!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    prefix = parts.path.strip("/")
    try:
        port = parts.port
    except ValueError as exc:
        raise PgfraudError(f"bad port in the Grafana URL {display_url(url)!r}") from exc
    return GrafanaApi(auth=TokenAuth(token), host=host, port=port, protocol=parts.scheme,
                      url_path_prefix=f"{prefix}/" if prefix else "", timeout=timeout)


def _answer(value: object, what: str, url: str) -> JSON:
    if not isinstance(value, dict):
        raise PgfraudError(f"{display_url(url)} did not answer {what} like Grafana's HTTP API "
                           f"(is this the Grafana base URL?)")
    return value


def ensure_folder(api: GrafanaApi, uid: str, url: str) -> bool:
    """Create the folder ``uid`` (titled the same) unless it exists; True if created."""
    try:
        _answer(api.folder.get_folder(uid), "GET /api/folders/<uid>", url)
        return False
    except GrafanaClientError as exc:
        if exc.status_code != 404:
            raise
    _answer(api.folder.create_folder(uid, uid=uid), "POST /api/folders", url)
    return True


def upload(api: GrafanaApi, board: Board, folder_uid: str, url: str) -> Pushed:
    """Create or overwrite one board in ``folder_uid``."""
    answer = _answer(api.dashboard.update_dashboard({
        "dashboard": dashboard_json(board), "folderUid": folder_uid, "overwrite": True,
        "message": f"pgfraud {__version__}: generated from pgfraud/monitoring/panels.py",
    }), "POST /api/dashboards/db", url)
    return Pushed(uid=str(answer.get("uid", board.uid)),
                  url=urljoin(url, str(answer.get("url", f"/d/{board.uid}"))),
                  version=answer.get("version"))


def _explain(exc: Exception, url: str) -> PgfraudError:
    """One line for a failed request; never includes the token."""
    where = display_url(url)
    if isinstance(exc, niquests.exceptions.JSONDecodeError):
        return PgfraudError(f"{where} did not answer with JSON like Grafana's HTTP API "
                            f"(is this the Grafana base URL?)")
    if isinstance(exc, GrafanaException):
        status = exc.status_code
        if status == 401:
            return PgfraudError(f"Grafana at {where} rejected the token (401 Unauthorized); "
                                f"use a service account token with the Editor role")
        if status == 403:
            return PgfraudError(f"Grafana at {where} refused (403 Forbidden: "
                                f"{_message(exc)}); the service account needs the Editor role")
        if status == 404:
            return PgfraudError(f"Grafana at {where} answered 404 ({_message(exc)}); is that "
                                f"the Grafana base URL?")
        if status:
            return PgfraudError(f"Grafana at {where} answered {status}: {_message(exc)}")
    return PgfraudError(f"cannot reach Grafana at {where}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection error, without urllib3's object reprs."""
    inner = exc
    for _ in range(5):
        cause = getattr(inner, "reason", None)
        if not isinstance(cause, BaseException) and inner.args:
            cause = inner.args[0]
        if not isinstance(cause, BaseException):
            cause = inner.__cause__
        if not isinstance(cause, BaseException):
            break
        inner = cause
    text = re.sub(r"<[^<>]* object at 0x[0-9a-f]+>:\s*", "", str(inner)).strip()
    return text.splitlines()[0] if text else type(inner).__name__


def _message(exc: GrafanaException) -> str:
    response = exc.response
    if isinstance(response, dict) and response.get("message"):
        return str(response["message"])
    text = str(response or "").strip()
    return text.splitlines()[0][:200] if text else "no message"


@dataclass(frozen=True)
class PushResult:
    """What :func:`push` did: whether it created the folder, and each board."""

    folder_created: bool
    boards: list[Pushed]


def push(url: str, token: str, folder_uid: str = FOLDER_UID,
         boards: Iterable[Board] = BOARDS, timeout: float = 10.0) -> PushResult:
    """Upload every board into the folder ``folder_uid`` (created if missing), replacing
    whatever version Grafana has. Failures raise :class:`PgfraudError`."""
    if not token:
        raise PgfraudError("no Grafana token given (--token or GRAFANA_TOKEN)")
    if not _UID.fullmatch(folder_uid):
        raise PgfraudError(f"folder {folder_uid!r} is not a Grafana uid (1 to 40 letters, "
                           f"digits, '-' or '_')")
    api = client(url, token, timeout)
    try:
        created = ensure_folder(api, folder_uid, url)
        return PushResult(created, [upload(api, board, folder_uid, url) for board in boards])
    except (GrafanaException, niquests.exceptions.RequestException) as exc:
        raise _explain(exc, url) from None
    finally:
        api.client.s.close()
