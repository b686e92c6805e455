"""``pgfraud serve`` as a real process on a real database: decisions equal to the
stream's scores bit for bit, idempotent retries and 409s, 422s with quarantine rows,
401s, the deadline fallback, hot swap under load, shadows scoring later, metrics, and no
card number in the server's output or at rest."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from pgfraud.api import tokens
from producer.cards import Tokenizer
from producer.ingest import Ingestor
from scorer.scoring import Scorer
from tests.api_server import PGFRAUD, Server, body, continuing, make_token
from tests.conftest import Databases
from tests.history import produce, quick_model

CARDS = 200
DAYS = 3
SLOW_DEADLINE_MS = "20000"


ONE_CHAMPION_EACH = """
select count(*) filter (where n <> 1)
from (select t.transaction_id, count(s.transaction_id) as n
      from ingest.transactions as t
      left join scoring.scores as s on s.transaction_id = t.transaction_id and not s.is_shadow
      where t.source = 'api'
      group by t.transaction_id) as per_transaction
"""


@pytest.fixture(scope="module")
def history(databases: Databases) -> tuple[str, int]:
    """Simulated traffic with a champion trained on it; (url, transactions sent)."""
    url = databases.create()
    sent = produce(url, days=DAYS, cards=CARDS)
    quick_model(url, seed=1, status="champion")
    with psycopg.connect(url) as conn:  # the history needs no scoring
        conn.execute("delete from scoring.pending")
    return url, sent


@pytest.fixture(scope="module")
def served(databases: Databases, history: tuple[str, int],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    """One server for the module's ordinary tests: (server, database url, token)."""
    url = databases.clone(history[0])
    token = make_token(url, "tests")
    # A deadline no busy CI machine reaches: these tests want the model's answers.
    server = Server(url, "--access-log", "--deadline-ms", SLOW_DEADLINE_MS,
                    log_dir=tmp_path_factory.mktemp("serve"))
    server.wait_ready()
    yield server, url, token
    server.stop()


@pytest.fixture(scope="module")
def client(served: tuple[Server, str, str]) -> Iterator[httpx.Client]:
    server, _, token = served
    with httpx.Client(base_url=server.base, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


_fresh = itertools.count()


def fresh(history: tuple[str, int], n: int) -> list[dict[str, Any]]:
    """``n`` transactions after the history, each with a trans_num no test used before."""
    run = next(_fresh)
    out = []
    for tx in itertools.islice(continuing(after=history[1], cards=CARDS), n):
        tx.trans_num = f"api-{run}-{tx.trans_num}"
        out.append(body(tx))
    return out


def one(url: str, query: str, params: Any = None) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0] if len(row) == 1 else row


def test_decisions_equal_the_streams_scores_bit_for_bit(
        databases: Databases, history: tuple[str, int], client: httpx.Client,
        served: tuple[Server, str, str]) -> None:
    """The same transactions after the same history: through the API into one copy of
    the database, through the producer and the scorer into another. Features and scores
    are equal to the last bit, every API transaction has exactly one champion prediction
    and one decision, and nothing of it is left in the queue."""
    _, url, _ = served
    stream_url = databases.clone(history[0])
    bodies = fresh(history, 60)
    answers = [client.post("/v1/authorizations", json=b) for b in bodies]
    assert [a.status_code for a in answers] == [200] * len(bodies), answers[0].text
    decided = {a.json()["trans_num"]: a.json() for a in answers}
    assert not any(d["is_fallback"] for d in decided.values())
    assert {d["decision"] for d in decided.values()} <= {"approve", "review", "decline"}

    txs = list(itertools.islice(continuing(after=history[1], cards=CARDS), 60))
    for tx, b in zip(txs, bodies, strict=True):
        tx.trans_num = b["trans_num"]
    with psycopg.connect(stream_url) as conn, Ingestor(
            conn, source="stream", tokenizer=Tokenizer(b"k" * 32), background=False) as ing:
        for tx in txs:
            ing.add(tx)
    with Scorer(stream_url, role=None) as scorer:
        scorer.drain()

    compare = """
        select t.trans_num, s.score, s.is_alert, to_jsonb(f) - 'transaction_id'
               - 'computed_at', t.payload_sha256, t.payload_sha256 = ingest.payload_sha256(t)
        from ingest.transactions as t
        join scoring.scores as s on s.transaction_id = t.transaction_id and not s.is_shadow
        join features.transaction_features as f on f.transaction_id = t.transaction_id
        where t.trans_num = any(%s) order by t.trans_num"""
    names = [b["trans_num"] for b in bodies]
    with psycopg.connect(url) as a, psycopg.connect(stream_url) as s:
        via_api = a.execute(compare, (names,)).fetchall()
        via_stream = s.execute(compare, (names,)).fetchall()
    assert len(via_api) == len(bodies)
    assert via_api == via_stream
    for trans_num, score, _, _, _, as_recomputed in via_api:
        assert decided[trans_num]["score"] == score  # float64 through JSON, exactly
        assert as_recomputed  # the payload hash: what the database computes from the row
    assert one(url, ONE_CHAMPION_EACH) == 0
    assert one(url, "select count(*) from scoring.pending p join ingest.transactions t "
                    "using (transaction_id) where t.source = 'api'") == 0
    assert one(url, "select count(*) from api.decisions d join ingest.transactions t "
                    "using (transaction_id) where t.trans_num = any(%s)", (names,)) == 60


def test_a_retry_returns_the_stored_decision_and_a_changed_one_gets_409(
        history: tuple[str, int], client: httpx.Client, served: tuple[Server, str, str],
        ) -> None:
    _, url, _ = served
    first, other = fresh(history, 2)
    answered = client.post("/v1/authorizations", json=first).json()
    again = client.post("/v1/authorizations", json=first)
    assert again.status_code == 200
    assert again.json()["is_replay"] is True
    keep = ("transaction_id", "decision", "score", "reasons", "model_version", "is_fallback")
    assert {k: again.json()[k] for k in keep} == {k: answered[k] for k in keep}

    changed = client.post("/v1/authorizations", json={**first, "amount": "99999.99"})
    assert changed.status_code == 409
    assert changed.json()["error"] == "conflict"
    assert one(url, "select count(*) from ingest.transactions where trans_num = %s",
               (first["trans_num"],)) == 1
    assert one(url, "select count(*) from ingest.quarantine where reason = 'conflict' and "
                    "source = 'api' and trans_num = %s", (first["trans_num"],)) == 1

    # The Idempotency-Key header is the key when the body has no trans_num.
    key = other.pop("trans_num")
    by_header = [client.post("/v1/authorizations", json=other,
                             headers={"Idempotency-Key": key}) for _ in range(2)]
    assert [r.status_code for r in by_header] == [200, 200]
    assert by_header[0].json()["transaction_id"] == by_header[1].json()["transaction_id"]
    assert by_header[1].json()["is_replay"]
    mismatch = client.post("/v1/authorizations", json={**other, "trans_num": "x" + key},
                           headers={"Idempotency-Key": key})
    assert mismatch.status_code == 422


def test_concurrent_retries_store_one_row(history: tuple[str, int], client: httpx.Client,
                                          served: tuple[Server, str, str]) -> None:
    """Ten copies of one request at once (a client retrying before the answer): one row,
    one decision, the same answer to all."""
    _, url, _ = served
    (b,) = fresh(history, 1)
    results: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: results.append(
        client.post("/v1/authorizations", json=b))) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * 10
    assert len({r.json()["transaction_id"] for r in results}) == 1
    assert sum(not r.json()["is_replay"] for r in results) == 1
    assert one(url, "select count(*) from ingest.transactions where trans_num = %s",
               (b["trans_num"],)) == 1


@pytest.mark.parametrize(("change", "reason"), [
    ({"card_number": "4111111111111112"}, "bad_card_number"),
    ({"amount": "-5"}, "negative_amount"),
    ({"merchant": "shop\u0000"}, "control_character"),
    ({"merchant_lat": 91}, "bad_coordinates"),
    ({"transacted_at": "2026-09-01T10:00:00"}, "bad_field"),      # no time zone
    ({"amount": "lots"}, "bad_field"),
    ({"card_number": None}, "bad_field"),
    ({"transacted_at": "1990-01-01T00:00:00Z"}, "implausible_time"),  # refused by the database
])
def test_bad_input_is_422_and_quarantined(history: tuple[str, int], client: httpx.Client,
                                          served: tuple[Server, str, str],
                                          change: dict[str, Any], reason: str) -> None:
    _, url, _ = served
    (b,) = fresh(history, 1)
    response = client.post("/v1/authorizations", json={**b, **change})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == reason
    assert response.json()["quarantined"] is True
    assert "4111111111111112" not in response.text
    assert one(url, "select count(*) from ingest.transactions where trans_num = %s",
               (b["trans_num"],)) == 0
    assert one(url, "select count(*) from ingest.quarantine where source = 'api' and "
                    "reason = %s and trans_num = %s", (reason, b["trans_num"])) == 1


def test_unparseable_and_oversized_bodies(client: httpx.Client,
                                          served: tuple[Server, str, str]) -> None:
    _, url, _ = served
    before = one(url, "select count(*) from ingest.quarantine where reason = 'bad_json'")
    for content in (b"{not json", b"[1, 2]", b"\xff\xfe", b"null"):
        response = client.post("/v1/authorizations", content=content,
                               headers={"Content-Type": "application/json"})
        assert response.status_code == 422, content
        assert response.json()["error"] in {"bad_json", "missing_field"}
    missing = client.post("/v1/authorizations", json={"amount": "1"})
    assert missing.status_code == 422
    assert missing.json()["error"] == "missing_field"
    assert one(url, "select count(*) from ingest.quarantine where reason = 'bad_json'") > before
    huge = client.post("/v1/authorizations", content=b"{" + b" " * 100_000 + b"}")
    assert huge.status_code == 413


def test_no_token_no_decision(served: tuple[Server, str, str],
                              history: tuple[str, int]) -> None:
    server, url, _ = served
    (b,) = fresh(history, 1)
    for headers in ({}, {"Authorization": "Bearer pgf_wrong"}, {"Authorization": "Basic x"}):
        response = httpx.post(server.base + "/v1/authorizations", json=b, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert one(url, "select count(*) from ingest.transactions where trans_num = %s",
               (b["trans_num"],)) == 0

    # A token revoked while the server runs stops working without a restart.
    token = make_token(url, "short-lived")
    auth = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 10
    while httpx.post(server.base + "/v1/authorizations", json=b,
                     headers=auth).status_code == 401:
        assert time.monotonic() < deadline, "a new token was not picked up"
        time.sleep(0.1)
    with psycopg.connect(url) as conn:
        tokens.revoke(conn, "short-lived")
    deadline = time.monotonic() + 10
    while httpx.post(server.base + "/v1/authorizations", json=b,
                     headers=auth).status_code != 401:
        assert time.monotonic() < deadline, "a revoked token still works"
        time.sleep(0.1)
    with psycopg.connect(url) as conn:
        stored = conn.execute("select token_sha256 from api.clients").fetchall()
    assert all(token not in row[0] for row in stored)
    assert (tokens.token_sha256(token),) in stored


def test_health_readiness_and_metrics(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = {s.labels.get("status"): s.value for s in families["pgfraud_api_requests"].samples
                if s.name == "pgfraud_api_requests_total"}
    assert requests["200"] >= 60 and requests["422"] >= 1 and requests["401"] >= 1
    latency = [s for s in families["pgfraud_api_request_seconds"].samples
               if s.name == "pgfraud_api_request_seconds_count"]
    assert latency[0].value == sum(requests.values())
    decided = sum(s.value for s in families["pgfraud_api_decisions"].samples
                  if s.name == "pgfraud_api_decisions_total")
    assert decided == requests["200"]
    schema = client.get("/openapi.json").json()
    request_schema = schema["paths"]["/v1/authorizations"]["post"]["requestBody"]
    assert "card_number" in str(request_schema)


def test_deadline_fallback_is_answered_and_recorded(
        databases: Databases, history: tuple[str, int], tmp_path: Path) -> None:
    """The database cannot answer in time (another session holds the ingest lock): the
    fallback answers within the deadline; once the lock is released the transaction is
    stored, scored and its decision recorded as a fallback, with the model's score."""
    url = databases.clone(history[0])
    token = make_token(url, "deadline")
    server = Server(url, "--deadline-ms", "200", "--fallback", "review", log_dir=tmp_path)
    try:
        server.wait_ready()
        (b,) = fresh(history, 1)
        with psycopg.connect(url) as blocker:
            blocker.execute("select features.lock_ingest()")
            started = time.perf_counter()
            response = httpx.post(server.base + "/v1/authorizations", json=b, timeout=30,
                                  headers={"Authorization": f"Bearer {token}"})
            waited = time.perf_counter() - started
            assert response.status_code == 200
            answer = response.json()
            assert answer["is_fallback"] is True
            assert answer["fallback_reason"] == "deadline"
            assert answer["decision"] == "review"
            assert answer["transaction_id"] is None
            assert waited < 5  # answered at the deadline, not when the lock went
            assert one(url, "select count(*) from ingest.transactions where trans_num = %s",
                       (b["trans_num"],)) == 0
            blocker.rollback()
        deadline = time.monotonic() + 20
        while one(url, "select count(*) from api.decisions d join ingest.transactions t "
                       "using (transaction_id) where t.trans_num = %s",
                  (b["trans_num"],)) == 0:
            assert time.monotonic() < deadline, "the fallen-back request was never stored"
            time.sleep(0.1)
        decision, is_fallback, reason, score = one(
            url, "select d.decision, d.is_fallback, d.fallback_reason, d.score "
                 "from api.decisions d join ingest.transactions t using (transaction_id) "
                 "where t.trans_num = %s", (b["trans_num"],))
        assert (decision, is_fallback, reason) == ("review", True, "deadline")
        assert score is not None
        assert one(url, ONE_CHAMPION_EACH) == 0
        retry = httpx.post(server.base + "/v1/authorizations", json=b, timeout=30,
                           headers={"Authorization": f"Bearer {token}"}).json()
        assert retry["is_replay"] and retry["is_fallback"] and retry["decision"] == "review"
        assert 'pgfraud_api_fallbacks_total{reason="deadline"} 1.0' in httpx.get(
            server.base + "/metrics").text
    finally:
        server.stop()


def test_without_a_champion_the_fallback_answers_and_workers_score_later(
        databases: Databases, history: tuple[str, int], tmp_path: Path) -> None:
    url = databases.clone(history[0])
    with psycopg.connect(url) as conn:
        conn.execute("update ml.models set status = 'retired' where status = 'champion'")
    token = make_token(url, "nochampion")
    server = Server(url, "--fallback", "decline", "--deadline-ms", SLOW_DEADLINE_MS,
                    log_dir=tmp_path)
    try:
        server.wait_ready(champion=False)
        assert httpx.get(server.base + "/readyz").status_code == 503
        (b,) = fresh(history, 1)
        answer = httpx.post(server.base + "/v1/authorizations", json=b, timeout=30,
                            headers={"Authorization": f"Bearer {token}"}).json()
        assert (answer["decision"], answer["fallback_reason"]) == ("decline", "no_champion")
        assert answer["transaction_id"] is not None
        # Still queued for the workers, which score it once a champion exists.
        assert one(url, "select count(*) from scoring.pending where transaction_id = %s "
                        "and not champion_scored", (answer["transaction_id"],)) == 1
    finally:
        server.stop()


def test_shadow_models_score_api_transactions_later_through_the_queue(
        databases: Databases, history: tuple[str, int], tmp_path: Path) -> None:
    url = databases.clone(history[0])
    shadow = quick_model(url, seed=2, status="shadow")
    token = make_token(url, "shadowed")
    server = Server(url, "--deadline-ms", SLOW_DEADLINE_MS, log_dir=tmp_path)
    try:
        server.wait_ready()
        bodies = fresh(history, 20)
        with httpx.Client(base_url=server.base, timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as c:
            ids = [c.post("/v1/authorizations", json=b).json()["transaction_id"]
                   for b in bodies]
        assert one(url, "select count(*) from scoring.pending where champion_scored and "
                        "transaction_id = any(%s)", (ids,)) == 20
        alerts = one(url, "select count(*) from scoring.alerts where transaction_id = any(%s)",
                     (ids,))
        with Scorer(url, role=None) as scorer:
            scorer.drain()
        assert one(url, "select count(*) from scoring.scores where is_shadow and "
                        "model_version = %s and transaction_id = any(%s)", (shadow, ids)) == 20
        assert one(url, ONE_CHAMPION_EACH) == 0
        assert one(url, "select count(*) from scoring.alerts where transaction_id = any(%s)",
                   (ids,)) == alerts
        assert one(url, "select count(*) from scoring.pending") == 0
    finally:
        server.stop()


def test_hot_swap_under_load_fails_no_request(databases: Databases,
                                              history: tuple[str, int],
                                              tmp_path: Path) -> None:
    """Requests keep coming from four threads while another model is promoted: every one
    is answered 200 by a model (no fallback), the answers switch to the new champion
    without a restart, and every transaction has exactly one champion prediction."""
    url = databases.clone(history[0])
    challenger = quick_model(url, seed=3, status="candidate")
    token = make_token(url, "swap")
    server = Server(url, "--deadline-ms", SLOW_DEADLINE_MS, log_dir=tmp_path)
    bodies = iter(fresh(history, 4000))
    lock = threading.Lock()
    answers: list[tuple[int, dict[str, Any]]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=server.base, timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as c:
            while not stop.is_set():
                with lock:
                    b = next(bodies, None)
                if b is None:
                    return
                r = c.post("/v1/authorizations", json=b)
                with lock:
                    answers.append((r.status_code, r.json()))

    try:
        server.wait_ready()
        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        with psycopg.connect(url) as conn:
            conn.execute("select ml.promote(%s)", (challenger,))
        promoted_at = len(answers)
        time.sleep(1.5)
        stop.set()
        for t in threads:
            t.join()
    finally:
        server.stop()
    assert promoted_at > 10 and len(answers) > promoted_at + 10
    assert [s for s, _ in answers if s != 200] == []
    assert not [a for _, a in answers if a["is_fallback"]]
    versions = [a["model_version"] for _, a in answers]
    assert versions[-1] == challenger and versions[0] != challenger
    assert one(url, ONE_CHAMPION_EACH) == 0
    # Each transaction was decided by the model that was champion when it committed.
    assert one(url, "select count(*) from api.decisions d join scoring.scores s using "
                    "(transaction_id) where not s.is_shadow and "
                    "s.model_version <> d.model_version") == 0


def test_no_card_number_in_the_servers_output_or_at_rest(
        history: tuple[str, int], client: httpx.Client,
        served: tuple[Server, str, str]) -> None:
    server, url, _ = served
    bodies = fresh(history, 3)
    pans = {b["card_number"] for b in bodies}
    client.post("/v1/authorizations", json=bodies[0])
    # A card number where none belongs: in trans_num, in the merchant, in a bad body.
    client.post("/v1/authorizations", json={**bodies[1], "trans_num": bodies[1]["card_number"]})
    client.post("/v1/authorizations",
                json={**bodies[2], "merchant": f"shop {bodies[2]['card_number']}"})
    client.post("/v1/authorizations", json={**bodies[2], "amount": bodies[2]["card_number"],
                                            "trans_num": "bad-" + bodies[2]["trans_num"]})
    client.post("/v1/authorizations", content=b'{"card_number": "' +
                bodies[0]["card_number"].encode() + b'", ')
    log = server.log()
    assert "POST /v1/authorizations" in log  # the access log is on, and it is there
    assert not [pan for pan in pans if pan in log]
    with psycopg.connect(url) as conn:
        for pan in pans:
            hits = conn.execute(
                "select count(*) from ingest.transactions t where t::text like %s",
                (f"%{pan}%",)).fetchone()
            assert hits == (0,)
            hits = conn.execute("select count(*) from ingest.quarantine q where q::text like %s",
                                (f"%{pan}%",)).fetchone()
            assert hits == (0,)


# ---------------------------------------------------------------- hostile input
JSON_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))


def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.lists(inner, max_size=3),
                     st.dictionaries(st.text(max_size=8), inner, max_size=3))


JSON_VALUES = st.recursive(JSON_SCALARS, _nested, max_leaves=8)
FIELDS = ("trans_num", "transacted_at", "card_number", "amount", "merchant", "category",
          "merchant_lat", "merchant_long", "home_lat", "home_long", "city_pop", "birth_date",
          "cc_num", "amt", "dob")
DATES = st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31),
                     timezones=st.one_of(st.none(), st.timezones())).map(lambda d: d.isoformat())
NUMBERS = st.sampled_from(["1e400", "-0", "NaN", "Infinity", "1e-400", "99999999999.999",
                           "0.005", "١٢", "12,50"]) | st.decimals().map(str)


@st.composite
def hostile_bodies(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """A body a messy or hostile client could send, and extra headers."""
    template = {"trans_num": "p", "transacted_at": "2026-09-04T10:00:00+00:00",
                "card_number": "4111111111111111", "amount": "12.50", "merchant": "m",
                "category": "grocery_pos", "merchant_lat": 40.0, "merchant_long": -74.0}
    kind = draw(st.sampled_from(["bytes", "object", "one_field", "dates", "numbers"]))
    if kind == "bytes":
        content = draw(st.binary(max_size=300))
    elif kind == "object":
        content = json.dumps(draw(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8),
                                                  JSON_VALUES, max_size=12))).encode()
    else:
        field = draw(st.sampled_from(FIELDS))
        value = (draw(DATES) if kind == "dates" else draw(NUMBERS) if kind == "numbers"
                 else draw(JSON_VALUES))
        body = {**template, "trans_num": f"prop-{draw(st.uuids())}", field: value}
        content = json.dumps(body).encode()
    headers = {}
    if draw(st.booleans()):
        # What an HTTP client can send as a header value: visible ASCII, inner spaces.
        headers["Idempotency-Key"] = draw(st.text(
            st.characters(min_codepoint=0x20, max_codepoint=0x7e), min_size=1, max_size=200,
        ).filter(lambda key: key.strip() == key))
    return content, headers


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostile_bodies())
def test_any_body_gets_a_clear_answer_never_a_server_error(
        client: httpx.Client, body_and_headers: tuple[bytes, dict[str, str]]) -> None:
    content, headers = body_and_headers
    response = client.post("/v1/authorizations", content=content,
                           headers={"Content-Type": "application/json", **headers})
    assert response.status_code in {200, 409, 413, 422}, response.text
    answer = response.json()
    if response.status_code == 200:
        assert answer["decision"] in {"approve", "review", "decline"}
    else:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", answer["error"]), answer
        assert answer["detail"]


def test_the_server_still_decides_after_hostile_input(history: tuple[str, int],
                                                      client: httpx.Client,
                                                      served: tuple[Server, str, str]) -> None:
    _, url, _ = served
    (b,) = fresh(history, 1)
    response = client.post("/v1/authorizations", json=b)
    assert response.status_code == 200 and not response.json()["is_fallback"]
    # Every request the hostile test sent was stored, quarantined, or refused before
    # reading (413, 401): none is half-stored.
    assert one(url, "select count(*) from ingest.transactions t where t.source = 'api' and "
                    "not exists (select from api.decisions d "
                    "where d.transaction_id = t.transaction_id)") == 0
    assert one(url, ONE_CHAMPION_EACH) == 0


def test_the_tokens_verbs(databases: Databases) -> None:
    """`pgfraud tokens create` prints the token alone on stdout (scripts capture it), list
    shows the client, revoke refuses twice with one clear line."""
    url = databases.create()
    env = {**os.environ, "DATABASE_URL": url, "PGFRAUD_TOKEN_KEY": "k" * 32}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PGFRAUD, "tokens", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    created = run("create", "checkout")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert created.stdout.count("\n") == 1 and token.startswith("pgf_")
    assert token not in created.stderr
    again = run("create", "checkout")
    assert again.returncode == 1 and "revoke it first" in again.stderr
    assert "Traceback" not in again.stderr
    assert run("create", "bad name!").returncode != 0
    listed = run("list")
    assert "checkout" in listed.stdout and "live" in listed.stdout and token not in listed.stdout
    assert run("revoke", "checkout").returncode == 0
    twice = run("revoke", "checkout")
    assert twice.returncode == 1 and "no live token" in twice.stderr
    assert "revoked" in run("list").stdout
    assert run("create", "checkout").returncode == 0  # a revoked name can start again
