"""docker compose, run for real: ``make test-compose`` (not part of ``make test``).

The Makefile target first makes sure there is an engine and Compose v2
(tests/compose/engine.sh) and the base images, real or stand-in
(tests/compose/standin_images.sh), then runs this module, which drives ``docker
compose`` as a user would: build, up, kill, down and up, down -v. Its assertions are SQL
run in the ``postgres`` container.

Grafana is not started: no Grafana server image can be pulled or built on the machines
this runs on. What Grafana would ask of PostgreSQL is checked instead: every panel's SQL
runs inside the compose network as the data source's own login (grafana_panels.py).
tests/unit/test_compose.py keeps the static checks of its provisioning.

The tests run in file order and share one stack, like the steps of a runbook (`make
test-compose` stops at the first failure, saving every container's log); timings
go to benchmarks/compose.json (BENCHMARKS.md's compose section).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks.common import machine
from pgfraud.kernel.settings import PROJECT_ROOT
from pgfraud.monitoring.panels import BOARDS

pytestmark = pytest.mark.compose

PROJECT = "pgfraud-compose-test"   # not the file's `pgfraud`: a user's own stack is left alone
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
SERVICES: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
STACK = [name for name in SERVICES if name != "grafana"]   # no Grafana image here
ONE_SHOT = [name for name in STACK if SERVICES[name].get("restart") == "no"]
LONG_RUNNING = [name for name in STACK if name not in ONE_SHOT]
PGFRAUD_SERVICES = [name for name in STACK if SERVICES[name].get("image") == "pgfraud:latest"]
TIMINGS_FILE = PROJECT_ROOT / "benchmarks" / "compose.json"
TIMINGS: dict[str, float | str] = {}


def compose(*args: str, check: bool = True, stdin: str | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess[str]:
    command = ["docker", "compose", "--project-directory", str(PROJECT_ROOT),
               "-f", str(COMPOSE_FILE), "-p", PROJECT, *args]
    done = subprocess.run(command, input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(command[5:])} exited {done.returncode}:\n"
                             f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def sql(query: str, **params: object) -> list[list[str]]:
    """Rows of ``query`` run by psql in the postgres container, as the owner; ``params``
    are psql variables, which the query quotes as ``:'name'``."""
    variables = [arg for name, value in params.items() for arg in ("-v", f"{name}={value}")]
    out = compose("exec", "-T", "postgres", "psql", "-X", "-q", "-A", "-t", "-F", "\t",
                  "-v", "ON_ERROR_STOP=1", *variables, "-U", "pgfraud", "-d", "pgfraud",
                  "-f", "-", stdin=query).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def scalar(query: str, **params: object) -> int:
    return int(sql(query, **params)[0][0])


def wait_for(what: str, condition: Callable[[], bool], timeout: float,
             every: float = 2.0) -> float:
    """Poll ``condition`` until it holds; the seconds it took. Fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(every)
    return time.monotonic() - started


def states() -> dict[str, dict[str, Any]]:
    """Each service's container as `docker compose ps -a` reports it."""
    out = compose("ps", "-a", "--format", "json").stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {row["Service"]: row for row in rows}


def healthy() -> bool:
    """Every long-running service healthy and every one-shot done (bootstrap trains
    beside the others); fails at once if a one-shot failed."""
    now = states()
    for name in ONE_SHOT:
        row = now.get(name)
        if row and row["State"] == "exited" and row["ExitCode"] != 0:
            raise AssertionError(f"{name} exited {row['ExitCode']}:\n"
                                 + compose("logs", "--no-color", name).stdout[-3000:])
    return (all(now.get(name, {}).get("Health") == "healthy" for name in LONG_RUNNING)
            and all(now.get(name, {}).get("State") == "exited" for name in ONE_SHOT))


def one_shots_succeeded() -> None:
    now = states()
    for name in ONE_SHOT:
        assert (now[name]["State"], now[name]["ExitCode"]) == ("exited", 0), now[name]


CHAMPION_SCORED = "select count(*) from scoring.scores where not is_shadow"
LOST = """select count(*) from ingest.transactions as t
          where not exists (select from scoring.scores as s
                            where s.transaction_id = t.transaction_id and not s.is_shadow)
            and not exists (select from scoring.pending as p
                            where p.transaction_id = t.transaction_id)"""
DUPLICATED = """select count(*) from (select transaction_id from scoring.scores
                                      where not is_shadow group by transaction_id
                                      having count(*) > 1) as d"""


LOGS = Path("/tmp") / f"{PROJECT}.log"


def save_logs(when: str) -> None:
    """Append every container's log to LOGS (read it when a step fails)."""
    text = compose("logs", "--no-color", "--timestamps", check=False).stdout
    with LOGS.open("a") as out:
        out.write(f"===== compose logs {when}\n{text}")


def up() -> None:
    compose("up", "--detach", "--no-build", *STACK)


@pytest.fixture(scope="module", autouse=True)
def stack() -> Iterator[None]:
    compose("down", "--volumes", "--remove-orphans")
    started = time.monotonic()
    compose("build")
    TIMINGS["image build"] = time.monotonic() - started
    LOGS.write_text("")
    try:
        yield
    finally:
        save_logs("at the end")
        print(f"\ncompose logs: {LOGS}")
        compose("down", "--volumes", "--remove-orphans", check=False)
        size = subprocess.run(["docker", "image", "inspect", "pgfraud:latest", "--format",
                               "{{.Size}}"], capture_output=True, text=True, check=False)
        if size.returncode == 0:
            TIMINGS["image size MB"] = int(size.stdout) / 1e6
        record_timings()
        print(json.dumps(TIMINGS, indent=2, sort_keys=True))


def record_timings() -> None:
    """benchmarks/compose.json, for BENCHMARKS.md (benchmarks/bench_compose.py)."""
    if "PGFRAUD_COMPOSE_STARTED" in os.environ:   # run by make test-compose
        TIMINGS["whole run"] = time.time() - float(os.environ["PGFRAUD_COMPOSE_STARTED"])
        TIMINGS["base images"] = float(os.environ["PGFRAUD_COMPOSE_IMAGES_SECONDS"])
    python = os.environ.get("PGFRAUD_PYTHON_IMAGE", "the pinned defaults")
    TIMINGS["images"] = (
        "stand-ins built from Debian packages (no registry reachable)"
        if python.startswith("pgfraud-standin/") else f"{python}, "
        + os.environ.get("PGFRAUD_POSTGRES_IMAGE", "the pinned postgres"))
    TIMINGS["measured at"] = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    TIMINGS["machine"] = machine()
    # Tenths of a second: the precision the figures have, and no long digit runs in a
    # committed file for the card-number scans to look at twice.
    rounded = {k: round(v, 1) if isinstance(v, float) else v for k, v in TIMINGS.items()}
    TIMINGS_FILE.write_text(json.dumps(rounded, indent=2, sort_keys=True) + "\n")


def test_the_stack_comes_up_healthy_and_scores() -> None:
    started = time.monotonic()
    up()
    TIMINGS["up to healthy"] = wait_for("every long-running service healthy", healthy, 300)
    one_shots_succeeded()
    wait_for("a first champion prediction", lambda: scalar(CHAMPION_SCORED) > 0, 300)
    TIMINGS["up to first prediction"] = time.monotonic() - started


def test_transactions_flow_each_with_exactly_one_champion_prediction() -> None:
    wait_for("1,000 transactions scored", lambda: scalar(CHAMPION_SCORED) >= 1000, 300)
    assert scalar("select count(*) from ingest.transactions") >= 1000
    assert scalar(LOST) == 0
    assert scalar(DUPLICATED) == 0


# Stored rows the card windows have passed (every one computed) that have no features.
WITHOUT_FEATURES = """select count(*) from ingest.transactions as t
                      cross join features.card_windows_through as w
                      where t.transaction_id <= w.through_id
                        and not exists (select from features.transaction_features as f
                                        where f.transaction_id = t.transaction_id)"""


def pgfraud(service: str, *args: str) -> str:
    """``pgfraud ARGS`` run in ``service``'s container, as an operator would; stdout."""
    return compose("exec", "-T", service, "pgfraud", *args).stdout


def test_the_feature_follower_takes_over_and_hands_back_losing_nothing() -> None:
    """The features service idles while features are computed at ingest (the default).
    Switched to it, as an operator would, it computes the stream's rows, which are then
    queued and scored, each once; switched back, every row it had not reached is computed
    first, and the trigger takes over again."""
    assert "features computed by  ingest" in pgfraud("features", "features", "mode")
    pgfraud("features", "features", "mode", "follower")
    switched = scalar("select max(transaction_id) from ingest.transactions")
    scored_after = ("select count(*) from scoring.scores"
                    " where not is_shadow and transaction_id > :'id'")
    wait_for("rows stored after the switch computed by the follower and scored",
             lambda: scalar(scored_after, id=switched) >= 100, 300)
    assert scalar(WITHOUT_FEATURES) == 0
    logs = compose("logs", "--no-color", "features")
    assert "following" in logs.stdout + logs.stderr
    pgfraud("features", "features", "mode", "ingest")
    handed_back = scalar("select max(transaction_id) from ingest.transactions")
    assert scalar("select count(*) from ingest.transactions as t"
                  " cross join features.card_windows_through as w"
                  " where t.transaction_id > w.through_id") == 0
    wait_for("rows stored after the switch back scored",
             lambda: scalar(scored_after, id=handed_back) >= 100, 300)
    assert scalar(WITHOUT_FEATURES) == 0
    assert scalar(LOST) == 0
    assert scalar(DUPLICATED) == 0


# The API, from the host, as a client would call it. No proxy: a host whose egress goes
# through one (HTTP_PROXY) must still reach 127.0.0.1 directly.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
API: dict[str, str] = {}   # the published address and the token, for the later steps


def authorize(trans_num: str, token: str | None) -> tuple[int, dict[str, Any]]:
    """POST one authorization to the published API port; its status and JSON body."""
    # Now in event time: the stream's clock runs ahead of the wall clock.
    (clock,) = sql("select to_json(max_transacted_at) from ingest.event_clock")
    transacted_at = json.loads(clock[0])
    body = {"trans_num": trans_num, "transacted_at": transacted_at,
            "card_number": "4111111111111111", "amount": "12.50",
            "merchant": "compose-test merchant", "category": "grocery_pos",
            "merchant_lat": 40.1, "merchant_long": -74.2}
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{API['url']}/v1/authorizations", method="POST",
                                     data=json.dumps(body).encode(), headers=headers)
    try:
        with DIRECT.open(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, {"text": text}


def champion_predictions(transaction_id: int) -> list[list[str]]:
    return sql("""select model_version, score from scoring.scores
                  where transaction_id = :'id' and not is_shadow""", id=transaction_id)


def decided(token: str) -> dict[str, Any]:
    """POST a new authorization and check it in the database: stored from the API, with
    exactly one champion prediction, and api.decisions saying what the client was told.
    The answer."""
    trans_num = f"compose-api-{uuid.uuid4()}"
    status, answer = authorize(trans_num, token)
    assert status == 200, answer
    assert answer["trans_num"] == trans_num
    assert answer["decision"] in ("approve", "review", "decline"), answer

    def stored() -> list[list[str]]:
        return sql("""select transaction_id, source, card_last4 from ingest.transactions
                      where trans_num = :'t'""", t=trans_num)

    # When the deadline's fallback answered, the transaction commits just after.
    wait_for("the authorization stored", lambda: bool(stored()), 30, every=0.5)
    ((transaction_id, source, last4),) = stored()
    assert (source, last4) == ("api", "1111")   # the card number itself is not stored
    # Exactly one champion prediction, by the champion; the scorer does not score it
    # again (checked for every transaction once the queue drains, below).
    ((version, score),) = champion_predictions(int(transaction_id))
    assert sql("select model_version from ml.models where status = 'champion'") == [[version]]
    ((decision, is_fallback, told_version, told_score),) = sql(
        """select decision, is_fallback, model_version, score from api.decisions
           where transaction_id = :'id'""", id=transaction_id)
    assert (decision, is_fallback == "t") == (answer["decision"], answer["is_fallback"])
    assert (told_version, float(told_score)) == (version, float(score))
    if not answer["is_fallback"]:   # the model's answer: the prediction it was told
        assert answer["transaction_id"] == int(transaction_id)
        assert answer["model_version"] == int(version)
        assert abs(answer["score"] - float(score)) < 1e-9
    return answer


def test_the_api_decides_an_authorization_with_the_champion() -> None:
    host, port = compose("port", "api", "8080").stdout.strip().rsplit(":", 1)
    assert host == "127.0.0.1"
    API["url"] = f"http://127.0.0.1:{port}"
    token = compose("exec", "-T", "api", "pgfraud", "tokens", "create", "compose-test").stdout
    assert len(token.splitlines()) == 1 and token.strip(), token   # the token, nothing else
    API["token"] = token.strip()
    # The model answers within the server's deadline (100 ms); a first request on a busy
    # machine may get the fallback (checked as well), so up to three.
    answers = [decided(API["token"])]
    while answers[-1]["is_fallback"] and len(answers) < 3:
        answers.append(decided(API["token"]))
    assert not answers[-1]["is_fallback"], answers


def test_the_api_refuses_a_request_without_a_valid_token() -> None:
    for token in (None, "not-a-token", API["token"][:-1]):
        trans_num = f"compose-api-{uuid.uuid4()}"
        status, answer = authorize(trans_num, token)
        assert status == 401, (token, answer)
        assert scalar("select count(*) from ingest.transactions where trans_num = :'t'",
                      t=trans_num) == 0


def _outward_address() -> str | None:
    """This host's address on its default route (a UDP connect sends nothing), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))   # TEST-NET-1: never routed anywhere real
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_every_published_port_binds_the_loopback_address_only() -> None:
    published: dict[str, list[str]] = {}
    for name in STACK:
        for container in compose("ps", "-q", name).stdout.split():
            ports = json.loads(inspect(container, "{{json .NetworkSettings.Ports}}")) or {}
            for bindings in ports.values():
                published.setdefault(name, []).extend(
                    f"{b['HostIp']}:{b['HostPort']}" for b in bindings or [])
    assert set(published) == {"postgres", "api"}, published
    assert all(binding.startswith("127.0.0.1:") for bindings in published.values()
               for binding in bindings), published
    # And from another address of this host, nothing answers on the API's port.
    address = _outward_address()
    if address is not None:
        with pytest.raises(OSError):
            socket.create_connection((address, int(API["url"].rsplit(":", 1)[1])),
                                     timeout=5).close()


def test_alerts_are_raised_and_analysts_labels_land() -> None:
    wait_for("alerts", lambda: scalar("select count(*) from scoring.alerts") > 0, 300)
    wait_for("labels", lambda: scalar(
        "select count(*) from scoring.labels where true_value is not null") > 0, 300)
    # Alerts are champion decisions: each names a transaction the champion alerted on.
    assert scalar("""select count(*) from scoring.alerts as a
                     where not exists (select from scoring.scores as s
                                       where s.transaction_id = a.transaction_id
                                         and not s.is_shadow and s.is_alert)""") == 0


def _report_written_after(moment: int) -> bool:
    done = compose("exec", "-T", "dbt", "stat", "-c", "%Y %s", "/reports/report.html",
                   check=False)
    if done.returncode != 0:
        return False
    mtime, size = map(int, done.stdout.split())
    return mtime >= moment and size > 10_000


def test_the_marts_are_built_and_the_report_written_where_the_docs_say() -> None:
    # The dbt service builds at start and then every five minutes; a restart builds now,
    # on the traffic that has flowed since.
    moment = int(compose("exec", "-T", "dbt", "date", "+%s").stdout)
    compose("restart", "dbt")
    wait_for("report.html rewritten", lambda: _report_written_after(moment), 300, every=5)
    assert scalar("select count(*) from analytics.fct_scoring_minutes") > 0
    assert scalar("select count(*) from analytics.fct_daily_model_performance") > 0
    head = compose("exec", "-T", "dbt", "head", "-c", "2000", "/reports/report.html").stdout
    assert "<html" in head.lower()


def test_every_dashboard_panel_runs_as_grafanas_login_in_the_compose_network() -> None:
    grafana = SERVICES["grafana"]["environment"]
    variables = [arg for name in ("PGFRAUD_GRAFANA_DB_HOST", "PGFRAUD_GRAFANA_DB_NAME",
                                  "PGFRAUD_GRAFANA_DB_USER")
                 for arg in ("-e", f"{name}={grafana[name]}")]
    script = (Path(__file__).parent / "grafana_panels.py").read_text()
    done = compose("run", "--rm", "--no-deps", "-T", *variables, "grafana-login",
                   "python", "-", stdin=script)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["user"] == "pgfraud_grafana"
    assert result["outside"] == "permission denied"
    for board in BOARDS:
        for panel in board.panels:   # each draws what its query returns
            assert tuple(result["columns"][panel.key]) == panel.expected_columns, panel.key
        assert all(f"annotation:{a.name}" in result["rows"] for a in board.annotations)
    assert result["rows"]["transactions_scored"] > 0
    assert result["rows"]["throughput"] > 0


def test_no_secret_in_an_image_layer_or_in_docker_inspect() -> None:
    values = [p.read_text().strip() for p in (PROJECT_ROOT / "secrets").iterdir()]
    ids = compose("ps", "-a", "-q").stdout.split()
    inspected = subprocess.run(["docker", "inspect", *ids, "pgfraud:latest"],
                               capture_output=True, text=True, check=True).stdout
    history = subprocess.run(["docker", "history", "--no-trunc", "pgfraud:latest"],
                             capture_output=True, text=True, check=True).stdout
    for value in values:
        assert value not in inspected
        assert value not in history
    # Nor the API's bearer token in any log (it has been sent, and refused cut short).
    logs = compose("logs", "--no-color").stdout
    assert API["token"] not in logs and API["token"][:-1] not in logs
    for name in PGFRAUD_SERVICES:
        if name in LONG_RUNNING:
            assert compose("exec", "-T", name, "id", "-u").stdout.strip() != "0", name


def test_the_image_holds_ci_versions_and_no_dev_tools() -> None:
    lock = dict(line.split("==", 1) for line in
                (PROJECT_ROOT / "requirements.lock").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    freeze = compose("run", "--rm", "--no-deps", "-T", "migrate", "pip", "freeze",
                     "--exclude-editable").stdout.split()
    installed = dict(line.split("==", 1) for line in freeze if "==" in line)
    normal = {name.lower().replace("_", "-"): version for name, version in lock.items()}
    for name, version in installed.items():
        assert normal.get(name.lower().replace("_", "-")) == version, (name, version)
    for dev_tool in ("pytest", "mypy", "ruff", "playwright", "hypothesis"):
        assert dev_tool not in {n.lower() for n in installed}, dev_tool
    assert {"lightgbm", "onnxruntime", "dbt-core", "psycopg"} <= {n.lower() for n in installed}


def inspect(container: str, template: str) -> str:
    return subprocess.run(["docker", "inspect", "--format", template, container],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_a_scorer_killed_with_sigkill_loses_and_duplicates_nothing() -> None:
    (container,) = compose("ps", "-q", "scorer").stdout.split()
    before = scalar(CHAMPION_SCORED)
    # SIGKILL to the scorer's process from the host, as a crash or the OOM killer would:
    # the restart policy (unless-stopped) must bring it back. (`docker kill` would not
    # test that: Docker takes it as a deliberate stop and does not restart.)
    pid = inspect(container, "{{.State.Pid}}")
    subprocess.run(["kill", "-KILL", pid], check=True)
    wait_for("the scorer restarted by its restart policy", lambda: (
        inspect(container, "{{.RestartCount}} {{.State.Running}}") == "1 true"), 120, every=1)
    wait_for("scoring resumes", lambda: scalar(CHAMPION_SCORED) > before + 200, 300)
    compose("stop", "producer")
    wait_for("every transaction scored", lambda: scalar(
        "select count(*) from scoring.pending") == 0, 300)
    assert scalar(LOST) == 0
    assert scalar(DUPLICATED) == 0
    assert scalar(CHAMPION_SCORED) == scalar("select count(*) from ingest.transactions")


def test_down_and_up_keeps_the_data_and_scoring_resumes() -> None:
    transactions = scalar("select count(*) from ingest.transactions")
    models = scalar("select count(*) from ml.models")
    save_logs("before down")
    compose("down")
    assert not compose("ps", "-a", "-q").stdout.strip()
    started = time.monotonic()
    up()
    wait_for("healthy again", healthy, 300)
    TIMINGS["up to healthy, volume kept"] = time.monotonic() - started
    one_shots_succeeded()   # migrate, the login and bootstrap are idempotent
    assert scalar("select count(*) from ml.models") == models   # no second bootstrap
    assert scalar("select count(*) from ingest.transactions") >= transactions
    wait_for("scoring resumes", lambda: scalar(CHAMPION_SCORED) > transactions + 200, 300)
    assert scalar(DUPLICATED) == 0
    decided(API["token"])   # the API's token is kept in the database: it still works


def _leftovers() -> dict[str, list[str]]:
    found = {}
    for kind in ("container", "volume", "network"):
        extra = ["--all"] if kind == "container" else []
        out = subprocess.run(["docker", kind, "ls", *extra, "--quiet", "--filter",
                              f"label=com.docker.compose.project={PROJECT}"],
                             capture_output=True, text=True, check=True).stdout
        found[kind] = out.split()
    return found


def test_down_with_volumes_leaves_nothing_behind() -> None:
    assert any(_leftovers().values())
    compose("down", "--volumes")
    assert _leftovers() == {"container": [], "volume": [], "network": []}
