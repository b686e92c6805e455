"""The HTTP service: FastAPI routes over the :class:`~pgfraud.api.service.Authorizer`.

Why FastAPI (over bare Starlette): the request and response are pydantic models, so the
OpenAPI document (``/openapi.json``, ``/docs``) carries their JSON schema with no second
copy to keep in step; it runs on Starlette and uvicorn (uvloop, httptools), the most
used ASGI stack in Python. The authorization body is read and validated by hand, not by
FastAPI's automatic body parameter, so that the order of refusals is ours: the size
limit (413) first, then the token (401), then the fields (422, quarantined).

Handlers run on the event loop; the database work runs on the writer thread, and a
handler waits for it at most until the request's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import ValidationError

from pgfraud import __version__
from pgfraud.api.schema import (
    AuthorizationRequest,
    AuthorizationResponse,
    Problem,
    field_errors,
    rejection_for,
)
from pgfraud.api.service import (
    COMMIT_GRACE_S,
    Authorizer,
    Outcome,
    Overloaded,
    Policy,
    Watcher,
    fallback_body,
    problem_body,
)
from pgfraud.api.service import Request as Pending
from pgfraud.api.tokens import TokenBook
from pgfraud.kernel.names import API_ROLE
from producer.cards import Tokenizer
from producer.ingest import safe_text
from producer.records import Rejection

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5)
#: A database answer older than this makes /readyz fail.
READY_WITHIN_S = 10.0


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    url: str
    tokenizer: Tokenizer
    policy: Policy = Policy()
    max_body_bytes: int = 16_384
    max_batch: int = 256
    max_waiting: int = 20_000
    role: str | None = API_ROLE
    watch_interval_s: float = 2.0


class Metrics:
    """The Prometheus series of one server (its own registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("pgfraud_api_requests", "Authorization requests by status.",
                                ["status"], registry=self.registry)
        self.latency = Histogram("pgfraud_api_request_seconds",
                                 "Server-side time of an authorization, received to answered.",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.decisions = Counter("pgfraud_api_decisions", "Decisions answered.",
                                 ["decision"], registry=self.registry)
        self.fallbacks = Counter("pgfraud_api_fallbacks",
                                 "Decisions the fallback answered, by reason (not retries).",
                                 ["reason"], registry=self.registry)
        self.waiting = Gauge("pgfraud_api_waiting", "Requests waiting for the writer.",
                             registry=self.registry)
        self.batch = Gauge("pgfraud_api_last_batch_size",
                           "Requests in the writer's last transaction.", registry=self.registry)


def create_app(options: ServerOptions) -> FastAPI:
    tokens = TokenBook()
    metrics = Metrics()
    authorizer = Authorizer(options.url, options.policy, max_batch=options.max_batch,
                            max_waiting=options.max_waiting, role=options.role)
    watcher = Watcher(options.url, tokens, authorizer.models,
                      interval=options.watch_interval_s, role=options.role)
    policy = options.policy

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher.start()
        authorizer.start()
        try:
            yield
        finally:
            await asyncio.to_thread(authorizer.stop)
            await asyncio.to_thread(watcher.stop)

    app = FastAPI(
        title="pgfraud authorizations", version=__version__, lifespan=lifespan,
        description="Approve, review or decline a card transaction while the terminal "
                    "waits: stored, featured, scored by the champion and decided in one "
                    "PostgreSQL transaction. Bearer token required (pgfraud tokens create).")
    app.state.authorizer = authorizer
    app.state.watcher = watcher
    app.state.metrics = metrics

    def answer(status: int, body: dict[str, Any], started: float) -> JSONResponse:
        elapsed = time.perf_counter() - started
        metrics.requests.labels(str(status)).inc()
        metrics.latency.observe(elapsed)
        if status == 200:
            metrics.decisions.labels(body["decision"]).inc()
            if body.get("is_fallback") and not body.get("is_replay"):
                metrics.fallbacks.labels(body.get("fallback_reason") or "unknown").inc()
            body = {**body, "latency_ms": round(elapsed * 1000, 3)}
        return JSONResponse(body, status_code=status)

    @app.post(
        "/v1/authorizations", response_model=AuthorizationResponse,
        responses={401: {"model": Problem}, 409: {"model": Problem},
                   413: {"model": Problem}, 422: {"model": Problem},
                   503: {"model": Problem}},
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": AuthorizationRequest.model_json_schema(by_alias=False)}}}},
        summary="Decide a card transaction")
    async def authorize(request: Request) -> Response:
        """Store, score and decide one transaction. A retry with the same trans_num (or
        Idempotency-Key) and payload returns the stored decision; with another payload,
        409."""
        started = time.perf_counter()
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit()
                                     or int(declared) > options.max_body_bytes):
            return answer(413, problem_body(
                "too_large", f"bodies are limited to {options.max_body_bytes:,} bytes"),
                started)
        client_id = tokens.client_id(request.headers.get("authorization"))
        if client_id is None:
            response = answer(401, problem_body(
                "unauthorized", "a valid bearer token is required (pgfraud tokens create)"),
                started)
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > options.max_body_bytes:
                return answer(413, problem_body(
                    "too_large", f"bodies are limited to {options.max_body_bytes:,} bytes"),
                    started)
        pending = _request(bytes(body), request.headers.get("idempotency-key"), client_id,
                           options, started)
        try:
            authorizer.submit(pending)
        except Overloaded as exc:
            log.warning("overloaded: %s; answering with the fallback", exc)
            if pending.rejection is not None:
                return answer(503, problem_body("overloaded", str(exc)), started)
            return answer(200, fallback_body(pending.trans_num, policy, "error"), started)
        metrics.waiting.set(authorizer.waiting)
        outcome = await _wait(pending)
        metrics.batch.set(authorizer.last_batch_size)
        if outcome is None:
            return answer(200, fallback_body(pending.trans_num, policy, "deadline"), started)
        return answer(outcome.status, outcome.body, started)

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="The database answers and a champion is loaded",
             responses={503: {"description": "not ready, with the reason"}})
    async def readyz() -> Response:
        problems = []
        if time.monotonic() - max(watcher.last_ok, authorizer.last_ok) > READY_WITHIN_S:
            problems.append("the database has not answered lately")
        if not watcher.has_champion:
            problems.append("no champion model is deployed (pgfraud train --bootstrap)")
        if not authorizer.warmed:
            problems.append("warming up (the first transaction's plans and models)")
        status = 503 if problems else 200
        return JSONResponse({"ready": not problems, "problems": problems,
                             "models": authorizer.models.describe()}, status_code=status)

    @app.get("/metrics", summary="Prometheus text format", response_class=PlainTextResponse)
    async def prometheus() -> Response:
        metrics.waiting.set(authorizer.waiting)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _request(body: bytes, idempotency_key: str | None, client_id: int,
             options: ServerOptions, started: float) -> Pending:
    """The writer's request for a body: a transaction, or the rejection to quarantine."""
    raw: dict[str, Any] = {}
    tx = None
    rejection: Rejection | None = None
    errors: list[dict[str, Any]] = []
    trans_num = idempotency_key or ""
    parsed: Any = None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as exc:
        rejection = Rejection("bad_json", f"the body is not JSON: {type(exc).__name__}")
    else:
        if not isinstance(parsed, dict):
            rejection = Rejection("bad_json", "the body is not a JSON object")
    if rejection is not None:
        raw = {"record": body[:1000].decode("utf-8", "replace")}
    else:
        raw = parsed
        given = parsed.get("trans_num")
        if isinstance(given, str) and given:
            if idempotency_key and idempotency_key != given:
                rejection = Rejection("bad_field", "trans_num and the Idempotency-Key header "
                                                   "differ")
            trans_num = given
        elif not idempotency_key:
            rejection = Rejection("missing_field", "trans_num: a trans_num or an "
                                                   "Idempotency-Key header is required")
        if rejection is None:
            try:
                model = AuthorizationRequest.model_validate(parsed)
            except ValidationError as exc:
                errors = field_errors(exc)
                rejection = rejection_for(errors)
            else:
                tx = model.transaction(trans_num)
    pending = Pending(client_id, trans_num, tx, rejection, raw,
                      deadline_s=options.policy.deadline_s, tokenizer=options.tokenizer,
                      received=started)
    pending.errors = errors
    return pending


async def _wait(pending: Pending) -> Outcome | None:
    """The writer's outcome; None when the deadline passed and the fallback answers."""
    future = asyncio.wrap_future(pending.future)
    remaining = pending.deadline - time.perf_counter()
    try:
        return await asyncio.wait_for(asyncio.shield(future), max(remaining, 0.0))
    except TimeoutError:
        pass
    if pending.rejection is not None:
        # Nothing to decide: a 422 now; its quarantine row is written when the database
        # answers.
        return Outcome(422, problem_body(pending.rejection.reason,
                                         safe_text(pending.rejection.detail),
                                         quarantined=True, errors=pending.errors))
    if pending.fall_back():
        return None
    # The model's answer is committing: it is the one recorded, so it is the one given.
    try:
        return await asyncio.wait_for(future, COMMIT_GRACE_S)
    except TimeoutError:
        log.error("request %s: a commit took over %.0f s", pending.trans_num[:32],
                  COMMIT_GRACE_S)
        return Outcome(503, problem_body("timeout", "the decision could not be confirmed"))
