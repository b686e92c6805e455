"""``pgfraud dashboards push`` against a stand-in Grafana HTTP API.

No Grafana server runs here, so a small real HTTP server answers the three endpoints the
push uses (GET /api/folders/<uid>, POST /api/folders, POST /api/dashboards/db) the way
Grafana does, checks the bearer token and records every request. The real ``pgfraud``
executable talks to it over TCP.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pgfraud.kernel.errors import PgfraudError
from pgfraud.monitoring import grafana
from pgfraud.monitoring.panels import BOARDS

TOKEN = "glsa_test-token-0123456789"
PGFRAUD = Path(sys.executable).with_name("pgfraud")


@dataclasses.dataclass
class FakeGrafana:
    """State of the stand-in server; ``requests`` holds (method, path, body)."""

    url: str = ""
    folders: dict[str, str] = dataclasses.field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = dataclasses.field(default_factory=list)
    versions: dict[str, int] = dataclasses.field(default_factory=dict)
    dashboard_error: tuple[int, str] | None = None

    def calls(self, method: str, path: str) -> list[Any]:
        return [body for m, p, body in self.requests if (m, p) == (method, path)]


def handler_for(state: FakeGrafana) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def reply(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length)) if length else None

        def authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                return True
            self.reply(401, {"message": "invalid API key", "messageId": "api-key.invalid",
                             "statusCode": 401, "traceID": ""})
            return False

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            state.requests.append(("GET", self.path, None))
            if not self.authorised():
                return
            if self.path.startswith("/api/folders/"):
                uid = self.path.removeprefix("/api/folders/")
                if uid in state.folders:
                    self.reply(200, {"id": 1, "uid": uid, "title": state.folders[uid],
                                     "url": f"/dashboards/f/{uid}/{uid}", "version": 1})
                else:
                    self.reply(404, {"message": "folder not found", "status": "not-found"})
                return
            self.reply(404, {"message": "Not found"})

        def do_POST(self) -> None:  # noqa: N802
            body = self.body()
            state.requests.append(("POST", self.path, body))
            if not self.authorised():
                return
            if self.path == "/api/folders":
                state.folders[body["uid"]] = body["title"]
                self.reply(200, {"id": 7, "uid": body["uid"], "title": body["title"],
                                 "url": f"/dashboards/f/{body['uid']}/", "version": 1})
            elif self.path == "/api/dashboards/db":
                if state.dashboard_error:
                    status, message = state.dashboard_error
                    self.reply(status, {"message": message, "status": "error"})
                    return
                uid = body["dashboard"]["uid"]
                state.versions[uid] = state.versions.get(uid, 0) + 1
                self.reply(200, {"id": 10 + len(state.versions), "uid": uid,
                                 "url": f"/d/{uid}/{uid}", "status": "success",
                                 "version": state.versions[uid], "slug": uid})
            else:
                self.reply(404, {"message": "Not found"})

    return Handler


@pytest.fixture
def fake_grafana() -> Iterator[FakeGrafana]:
    state = FakeGrafana()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def pgfraud(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed ``pgfraud`` entry point (its real error handling included)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GRAFANA_")}
    environ.update(env or {})
    return subprocess.run([str(PGFRAUD), *args], capture_output=True, text=True, env=environ,
                          timeout=60, check=False)


def test_push_uploads_every_board_as_generated(fake_grafana: FakeGrafana) -> None:
    result = pgfraud("dashboards", "push", "--url", fake_grafana.url, "--token", TOKEN)
    assert result.returncode == 0, result.stderr

    uploads = fake_grafana.calls("POST", "/api/dashboards/db")
    assert [u["dashboard"] for u in uploads] == [
        json.loads(grafana.render(board)) for board in BOARDS]
    assert all(u["overwrite"] is True and u["folderUid"] == "pgfraud" for u in uploads)
    assert fake_grafana.calls("POST", "/api/folders") == [{"title": "pgfraud",
                                                           "uid": "pgfraud"}]
    assert "created folder pgfraud" in result.stdout
    for board in BOARDS:
        assert f"{board.uid}  {fake_grafana.url}/d/{board.uid}/{board.uid}" in result.stdout
    assert TOKEN not in result.stdout + result.stderr


def test_push_reuses_an_existing_folder_and_reads_the_environment(
    fake_grafana: FakeGrafana,
) -> None:
    fake_grafana.folders["pgfraud"] = "pgfraud"
    for expected_version in (1, 2):
        result = pgfraud("dashboards", "push",
                         env={"GRAFANA_URL": fake_grafana.url, "GRAFANA_TOKEN": TOKEN})
        assert result.returncode == 0, result.stderr
        assert f"(version {expected_version})" in result.stdout
    assert fake_grafana.calls("POST", "/api/folders") == []
    assert len(fake_grafana.calls("POST", "/api/dashboards/db")) == 2 * len(BOARDS)


def test_push_into_another_folder(fake_grafana: FakeGrafana) -> None:
    result = pgfraud("dashboards", "push", "--url", fake_grafana.url, "--token", TOKEN,
                     "--folder", "fraud-ops")
    assert result.returncode == 0, result.stderr
    assert {u["folderUid"] for u in fake_grafana.calls("POST", "/api/dashboards/db")} == {
        "fraud-ops"}
    assert fake_grafana.calls("POST", "/api/folders") == [{"title": "fraud-ops",
                                                           "uid": "fraud-ops"}]


def test_a_bad_token_is_one_clear_line(fake_grafana: FakeGrafana) -> None:
    result = pgfraud("dashboards", "push", "--url", fake_grafana.url, "--token", "wrong-token")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: Grafana at {fake_grafana.url} rejected the token (401 Unauthorized); "
        f"use a service account token with the Editor role"]
    assert "Traceback" not in result.stderr and "wrong-token" not in result.stderr
    assert fake_grafana.calls("POST", "/api/dashboards/db") == []


def test_other_http_errors_show_grafanas_message(fake_grafana: FakeGrafana) -> None:
    fake_grafana.dashboard_error = (400, "Cannot save provisioned dashboard")
    result = pgfraud("dashboards", "push", "--url", fake_grafana.url, "--token", TOKEN)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: Grafana at {fake_grafana.url} answered 400: Cannot save provisioned dashboard"]


def test_an_unreachable_grafana_is_one_clear_line() -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = pgfraud("dashboards", "push", "--url", url, "--token", TOKEN)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: cannot reach Grafana at {url}")
    assert TOKEN not in result.stderr


@pytest.mark.parametrize("url", ["localhost:3000", "ftp://grafana", "http://"])
def test_a_malformed_url_is_refused_before_any_request(url: str) -> None:
    result = pgfraud("dashboards", "push", "--url", url, "--token", TOKEN)
    assert result.returncode == 1
    assert result.stderr.startswith("error: the Grafana URL must look like http://host:3000")


def test_missing_token_is_a_usage_error(fake_grafana: FakeGrafana) -> None:
    result = pgfraud("dashboards", "push", "--url", fake_grafana.url)
    assert result.returncode == 2
    assert "--token" in result.stderr and "Traceback" not in result.stderr
    assert fake_grafana.requests == []


def test_user_info_in_the_url_is_not_echoed() -> None:
    assert grafana.display_url("http://admin:secret@grafana:3000/x") == "http://grafana:3000/x"
    assert grafana.display_url("http://grafana:3000") == "http://grafana:3000"


def test_a_sub_path_url_keeps_its_prefix() -> None:
    api = grafana.client("https://example.org/grafana/", TOKEN)
    assert api.client.url == "https://example.org/grafana/api"
    assert grafana.client("http://[::1]:3000", TOKEN).client.url == "http://[::1]:3000/api"


def test_a_grafana_that_never_answers_times_out_with_one_line() -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(PgfraudError, match=f"^cannot reach Grafana at {url}: .*timed out"
                           ) as caught:
            grafana.push(url, TOKEN, timeout=0.5)
    assert "\n" not in str(caught.value) and TOKEN not in str(caught.value)


def test_a_server_that_is_not_grafana_is_named_as_such() -> None:
    class NotGrafana(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            data = b"\x89PNG not json"
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotGrafana)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(PgfraudError, match="did not answer .*like Grafana's HTTP API"):
            grafana.push(url, TOKEN)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
