"""docker-compose.yml and the Dockerfile, checked without a Docker engine (there is none
on the machines this is built and tested on): the compose specification's JSON schema,
every service command parsed by the pgfraud CLI itself, environment, secrets, ports,
start order, mounted paths, and the image's install against CI's."""

from __future__ import annotations

import copy
import http.server
import importlib.resources
import json
import re
import stat
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml

from pgfraud.cli import cli
from pgfraud.kernel.settings import PROJECT_ROOT, Settings

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PGFRAUD = {name: s for name, s in SERVICES.items() if s.get("image") == "pgfraud:latest"}
SECRET = re.compile(r"/run/secrets/([a-z_]+)")


def compose_schema() -> dict[str, Any]:
    """The compose specification's schema, as check-jsonschema vendors it."""
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendored / "compose-spec.json").read_text())
    return schema


def validate(document: dict[str, Any]) -> None:
    schema = compose_schema()
    jsonschema.validators.validator_for(schema)(schema).validate(document)


def test_the_file_is_valid_against_the_compose_specification() -> None:
    assert compose_schema()["title"] == "Compose Specification"
    validate(COMPOSE)


@pytest.mark.parametrize("breakage", ["unknown service key", "bad depends_on condition",
                                      "healthcheck as text"])
def test_the_schema_check_rejects_a_broken_file(breakage: str) -> None:
    broken = copy.deepcopy(COMPOSE)
    match breakage:
        case "unknown service key":
            broken["services"]["scorer"]["comand"] = ["pgfraud", "score"]
        case "bad depends_on condition":
            broken["services"]["scorer"]["depends_on"]["migrate"]["condition"] = "when_ready"
        case _:
            broken["services"]["postgres"]["healthcheck"] = "pg_isready"
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def parse_command(args: list[str]) -> click.Command:
    """Parse ``pgfraud …`` as the CLI would, without running it; the leaf command."""
    assert args[0] == "pgfraud"
    ctx = cli.make_context("pgfraud", list(args[1:]), resilient_parsing=False)
    command: click.Command = cli
    while isinstance(command, click.Group):
        with warnings.catch_warnings():  # Click 8.2+: protected_args merges into args in 9
            warnings.simplefilter("ignore", DeprecationWarning)
            pending = [*ctx.protected_args, *ctx.args]
        name, sub, rest = command.resolve_command(ctx, pending)
        assert sub is not None, f"no command {name!r} in {args}"
        ctx = sub.make_context(name or "", rest, parent=ctx)
        command = sub
    assert not ctx.args, f"unexpected arguments {ctx.args} in {args}"
    return command


@pytest.mark.parametrize("name", sorted(PGFRAUD))
def test_every_service_command_is_a_valid_pgfraud_invocation(name: str) -> None:
    command = parse_command(PGFRAUD[name]["command"])
    assert command.callback is not None


def test_a_bad_command_would_be_caught() -> None:
    with pytest.raises(click.UsageError):
        parse_command(["pgfraud", "score", "--wrokers", "2"])
    with pytest.raises(click.BadParameter):
        parse_command(["pgfraud", "refresh", "--every", "soon"])


def test_the_python_services_are_the_expected_ones() -> None:
    commands = {name: " ".join(s["command"][1:3]) for name, s in PGFRAUD.items()}
    assert commands == {
        "migrate": "migrate", "grafana-login": "db login", "bootstrap": "train --bootstrap",
        "producer": "produce --rate", "scorer": "score --workers",
        "features": "features follow", "api": "serve --host",
        "analysts": "analysts --follow", "dbt": "refresh --every"}
    assert pinned_default(SERVICES["postgres"]["image"]).startswith("postgres:15")
    assert SERVICES["grafana"]["image"].startswith("grafana/grafana")


_DEFAULT = re.compile(r"^\$\{PGFRAUD_[A-Z_]+_IMAGE:-([^}]+)\}$")


def pinned_default(image: str) -> str:
    """The image a user gets: the default of a ``${PGFRAUD_…_IMAGE:-…}`` override (which
    only tests/compose/standin_images.sh sets), or the name itself."""
    match = _DEFAULT.match(image)
    return match.group(1) if match else image


def test_every_image_is_pinned_to_a_release() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    (python,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    build_arg = PGFRAUD["migrate"]["build"]["args"]["PYTHON_IMAGE"]
    assert pinned_default(build_arg) == python     # one pinned default, in both files
    images = [python, *(pinned_default(s["image"]) for s in SERVICES.values()
                        if s["image"] != "pgfraud:latest")]
    for image in images:
        name, tag = image.rsplit(":", 1)
        # a patch release (15.10, 3.11.11, 11.3.0), not a moving major tag like 15 or latest
        assert re.match(r"^\d+\.\d+(\.\d+)?(-|$)", tag), image


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        if service.get("restart") != "no":
            test = service["healthcheck"]["test"]
            assert test[0] in ("CMD", "CMD-SHELL"), name
    # PostgreSQL is checked over TCP: the socket answers during the image's first-start
    # initialisation, before the real server listens.
    assert "-h 127.0.0.1" in SERVICES["postgres"]["healthcheck"]["test"][1]


# A host port may be a ``${VARIABLE:-default}`` (the API's PGFRAUD_API_PORT).
_LOOPBACK_ONLY = re.compile(r"^127\.0\.0\.1:(\d+|\$\{[A-Z_]+:-\d+\}):\d+$")


def test_only_postgres_the_api_and_grafana_publish_ports_on_localhost() -> None:
    published = {name: s["ports"] for name, s in SERVICES.items() if "ports" in s}
    for name, ports in published.items():
        for port in ports:  # IP:HOST_PORT:CONTAINER_PORT, the IP the loopback address
            assert _LOOPBACK_ONLY.match(port), (name, port)
    assert published == {"postgres": ["127.0.0.1:5432:5432"],
                         "api": ["127.0.0.1:${PGFRAUD_API_PORT:-8080}:8080"],
                         "grafana": ["127.0.0.1:3000:3000"]}
    assert not any("expose" in s for s in SERVICES.values())


def test_the_api_listens_on_the_port_it_publishes_and_probes() -> None:
    api = SERVICES["api"]
    command = api["command"]
    port = command[command.index("--port") + 1]
    # All interfaces inside the container (else the published port reaches nothing);
    # the host publishes it on 127.0.0.1 only.
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert [p.rsplit(":", 1)[1] for p in api["ports"]] == [port]
    probe = api["healthcheck"]["test"]
    assert probe[:3] == ["CMD", "python", "-c"]   # the slim image has no curl
    assert f"'http://127.0.0.1:{port}/readyz'" in probe[3]


class _Probed(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        type(self).paths.append(self.path)
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False), (404, False)])
def test_the_api_healthcheck_passes_only_on_a_2xx(status: int, healthy: bool) -> None:
    """The healthcheck's own script, run against a stand-in server answering ``status``
    (an unready API answers 503)."""
    probe = SERVICES["api"]["healthcheck"]["test"][3]
    _Probed.status, _Probed.paths = status, []
    with http.server.HTTPServer(("127.0.0.1", 0), _Probed) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        script = probe.replace(":8080/", f":{server.server_address[1]}/")
        done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                              timeout=30, check=False)
        server.shutdown()
    assert _Probed.paths == ["/readyz"]
    assert (done.returncode == 0) is healthy, done.stderr


def test_services_wait_for_health_and_the_migration() -> None:
    assert SERVICES["postgres"]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert "pg_isready" in SERVICES["postgres"]["healthcheck"]["test"][1]
    assert SERVICES["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert SERVICES["migrate"]["restart"] == "no"
    for name, service in PGFRAUD.items():
        if name != "migrate":
            assert service["depends_on"]["migrate"] == {
                "condition": "service_completed_successfully"}, name
    grafana = SERVICES["grafana"]["depends_on"]
    assert grafana["postgres"]["condition"] == "service_healthy"
    assert grafana["grafana-login"]["condition"] == "service_completed_successfully"


def _mounted_secrets(service: dict[str, Any]) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_secret_a_service_reads_is_mounted(name: str) -> None:
    service = SERVICES[name]
    text = json.dumps({k: service.get(k) for k in ("environment", "command")})
    for secret in SECRET.findall(text):
        assert secret in _mounted_secrets(service), (name, secret)
        assert secret in COMPOSE["secrets"]
    assert _mounted_secrets(service) <= set(COMPOSE["secrets"])


@pytest.mark.parametrize("name", sorted(PGFRAUD))
def test_python_services_use_the_compose_database_not_an_embedded_one(name: str) -> None:
    env = {k: str(v) for k, v in PGFRAUD[name]["environment"].items()}
    assert env["DATABASE_PASSWORD_FILE"].startswith("/run/secrets/")
    postgres = SERVICES["postgres"]["environment"]
    assert env["DATABASE_URL"] == (f"postgresql://{postgres['POSTGRES_USER']}@postgres:5432/"
                                   f"{postgres['POSTGRES_DB']}")
    assert env["DATABASE_PASSWORD_FILE"] == postgres["POSTGRES_PASSWORD_FILE"]
    # The settings object sees a server (no embedded cluster would be started) whose
    # password comes from the secret file.
    settings = Settings.from_env({"DATABASE_URL": env["DATABASE_URL"]})
    assert not settings.uses_embedded
    assert env["PGFRAUD_TOKEN_KEY_FILE"] == "/run/secrets/token_key"
    assert "PGFRAUD_TOKEN_KEY" not in env


def test_grafana_gets_every_variable_its_provisioning_reads() -> None:
    grafana = SERVICES["grafana"]
    provisioning = (PROJECT_ROOT / "dashboards/provisioning/datasources/pgfraud.yaml").read_text()
    body = "\n".join(line for line in provisioning.splitlines() if not line.startswith("#"))
    variables = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)\}", body))
    assert variables and variables <= set(grafana["environment"])
    for secret in SECRET.findall(body):
        assert secret in _mounted_secrets(grafana)
    # Grafana logs in as the login the grafana-login service creates, in the reader role.
    login = SERVICES["grafana-login"]["command"]
    assert grafana["environment"]["PGFRAUD_GRAFANA_DB_USER"] == login[3]
    assert login[login.index("--role") + 1] == "pgfraud_reader"
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] == (
        "/run/secrets/grafana_admin_password")


def test_mounted_paths_exist_and_match_the_provisioning() -> None:
    mounts = {}
    for volume in SERVICES["grafana"]["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            assert (PROJECT_ROOT / source).is_dir(), source
            mounts[target] = PROJECT_ROOT / source
    provider = yaml.safe_load(
        (PROJECT_ROOT / "dashboards/provisioning/dashboards/pgfraud.yaml").read_text())
    dashboards_dir = mounts[provider["providers"][0]["options"]["path"]]
    assert sorted(p.name for p in dashboards_dir.glob("*.json")) == [
        "pgfraud-model.json", "pgfraud-operations.json"]
    assert (mounts["/etc/grafana/provisioning/datasources"] / "pgfraud.yaml").exists()
    assert (PROJECT_ROOT / "dbt" / "dbt_project.yml").exists()
    dbt_env = SERVICES["dbt"]["environment"]
    assert dbt_env["DBT_TARGET_PATH"].startswith("/tmp/")


def test_make_secrets_creates_every_secret_file_privately(tmp_path: Path) -> None:
    subprocess.run(["make", "-s", "-C", str(PROJECT_ROOT), "secrets",
                    f"SECRETS_DIR={tmp_path}"], check=True, capture_output=True)
    expected = {Path(s["file"]).name for s in COMPOSE["secrets"].values()}
    assert {Path(s["file"]).parent.name for s in COMPOSE["secrets"].values()} == {"secrets"}
    assert {p.name for p in tmp_path.iterdir()} == expected
    # The folder is private; the files are readable by the containers' users (compose
    # bind-mounts file secrets with their host permissions).
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    values = set()
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
        values.add(path.read_text().strip())
        assert len(path.read_text().strip()) >= 32
    assert len(values) == len(expected)
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    subprocess.run(["make", "-s", "-C", str(PROJECT_ROOT), "secrets",
                    f"SECRETS_DIR={tmp_path}"], check=True, capture_output=True)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before  # never replaced
    ignored = subprocess.run(["git", "-C", str(PROJECT_ROOT), "check-ignore", "-q",
                              "secrets/postgres_password"], check=False)
    assert ignored.returncode == 0, "secrets/ must be ignored by git"


def test_the_image_installs_what_ci_installs() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.", dockerfile, re.MULTILINE)
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\}$", dockerfile, re.MULTILINE)
    # The runtime dependencies, at the lock's versions (tests/compose compares the built
    # image's `pip freeze` with the lock).
    assert "pip install --constraint requirements.lock --requirement /tmp/runtime.txt" in (
        dockerfile)
    assert '["project"]["dependencies"]' in dockerfile
    assert "--requirement requirements.lock" in makefile  # CI runs make test → install
    assert "--no-deps --no-build-isolation --editable ." in dockerfile
    copied = set(re.findall(r"^COPY (\S+) \./", dockerfile, re.MULTILINE))
    for needed in ("scorer", "producer", "sql", "migrations", "dbt", "dashboards"):
        assert needed in copied, needed
    assert re.search(r"^USER (?!root)", dockerfile, re.MULTILINE)
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert {"secrets", ".pgfraud", ".venv"} <= set(ignored)
    # LightGBM loads libgomp at import; the slim image lacks it (found by the first run).
    assert "libgomp1" in dockerfile
    # A new named volume takes the owner of the image's folder: the report is writable.
    assert re.search(r"mkdir /reports && chown pgfraud /reports", dockerfile)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_password_or_key_is_written_in_the_compose_file(name: str) -> None:
    secretive = [v for v in SERVICES[name].get("environment", {})
                 if "PASSWORD" in v or "KEY" in v]
    for variable in secretive:
        assert variable.endswith("_FILE"), f"{name}: {variable} holds a secret in the file"
        assert str(SERVICES[name]["environment"][variable]).startswith("/run/secrets/")
