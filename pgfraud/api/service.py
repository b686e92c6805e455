"""Deciding authorizations: store, compute features, score and decide in one transaction.

Requests go to one writer thread (:class:`Authorizer`) that owns a database connection.
It takes every request waiting (up to ``max_batch``) and handles them in one database
transaction, as the stream's producer and scorer would, one after the other:

1. the registry lock in shared mode and the deployed models (a promotion waits for the
   transaction in flight; the next one sees it: hot swap without a restart);
2. rows staged and stored by ``ingest.accept_batch`` (``source = 'api'``), the same
   checks, quarantine and idempotency as the stream, and the same insert trigger that
   computes features (``features.compute_batch``) and queues the row for scoring (with the
   feature follower, ``features.compute_pending`` computes them, and those of every row
   stored before, in the same transaction);
3. each request's outcome: a new row to decide; a retry (same ``trans_num`` and payload)
   answered with the decision stored before; a conflicting retry (409); a row the
   database refused (422, quarantined with its reason);
4. the champion scores the new rows in-process (ONNX, the scorer's code), its
   predictions and alerts are written, and the rows leave the queue, or stay in it for
   the shadow models only (``champion_scored``), which score them later, adding nothing
   to the answer's time;
5. one ``api.decisions`` row per transaction, then commit.

Batching is what lets one connection keep up: an idle server handles each request
alone, and under load the requests that arrive while a transaction runs share the next.

The deadline: a request that has no answer when its deadline passes is answered with the
configured fallback decision, and it is still stored and scored; its ``api.decisions``
row says ``is_fallback`` (``deadline``), with the score the model gave. Whether the model
or the fallback answered is settled, under a lock per request, before the transaction
commits, so the row always says what the client was told. A lost database is retried
with backoff; the requests wait in memory (bounded) meanwhile and are stored when it
returns.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import functools
import gc
import logging
import queue
import sys
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pgfraud.api.tokens import TokenBook
from pgfraud.kernel import queries
from pgfraud.kernel.db import connect
from pgfraud.kernel.errors import DatabaseUnavailableError, PgfraudError, first_line
from pgfraud.kernel.names import API_CLIENTS_CHANNEL, API_ROLE, MODELS_CHANNEL
from producer.cards import Tokenizer
from producer.ingest import (
    WRITER_SWITCH_INTERVAL_S,
    Prepared,
    prepare,
    quarantine_row,
    safe_text,
)
from producer.records import CardTransaction, Rejection
from producer.staging import StagedBatch, encode_payload
from scorer.scoring import DeployedModel, ModelCache

log = logging.getLogger(__name__)

DECISIONS = ("approve", "review", "decline")
MAX_BACKOFF_S = 5.0
#: How long a request waits past its deadline for a transaction already committing.
COMMIT_GRACE_S = 10.0

WAITING, ANSWERING, FALLEN_BACK = "waiting", "answering", "fallen_back"


@dataclasses.dataclass(frozen=True)
class Policy:
    """From score to decision. ``review_at`` None: the champion's own alert threshold, so
    a review is exactly what the stream would alert on."""

    decline_at: float = 0.9
    review_at: float | None = None
    fallback: str = "approve"
    deadline_s: float = 0.1

    def __post_init__(self) -> None:
        if self.fallback not in DECISIONS:
            raise PgfraudError(f"fallback must be one of {', '.join(DECISIONS)}")
        for name in ("decline_at", "review_at"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise PgfraudError(f"{name} must be between 0 and 1, not {value}")
        if self.review_at is not None and self.review_at > self.decline_at:
            raise PgfraudError("the review threshold is above the decline threshold")
        if not self.deadline_s > 0:
            raise PgfraudError("the deadline must be positive")

    def decide(self, score: float, threshold: float) -> str:
        """The decision for ``score`` under a champion whose alert threshold is
        ``threshold``.

        >>> Policy(decline_at=0.9).decide(0.95, 0.5), Policy().decide(0.6, 0.5)
        ('decline', 'review')
        """
        if score >= self.decline_at:
            return "decline"
        review_at = threshold if self.review_at is None else self.review_at
        return "review" if score >= review_at else "approve"


@dataclasses.dataclass
class Outcome:
    """An answer: the HTTP status and its JSON body (without the latency)."""

    status: int
    body: dict[str, Any]


class Request:
    """One authorization in flight. The handler waits on :attr:`future`; whether the
    model or the fallback answers is settled once, under :attr:`_lock`."""

    def __init__(self, client_id: int, trans_num: str, tx: CardTransaction | None,
                 rejection: Rejection | None, raw: dict[str, Any], *, deadline_s: float,
                 tokenizer: Tokenizer, received: float | None = None) -> None:
        self.client_id = client_id
        self.tx = tx
        self.rejection = rejection
        self.raw = raw
        self.received = time.perf_counter() if received is None else received
        self.deadline = self.received + deadline_s
        self.future: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
        self.prepared: Prepared | None = None
        self.errors: list[dict[str, Any]] = []  # a body's field errors, for the 422
        self._state = WAITING
        self._lock = threading.Lock()
        if tx is not None and rejection is None:
            try:  # checked, tokenized and masked as every source is, before the writer
                prepared = prepare(tx, tokenizer)
            except Exception as exc:  # noqa: BLE001 - no request may stop the writer
                prepared = Rejection("unprocessable", f"{type(exc).__name__}: {exc}")
            if isinstance(prepared, Rejection):
                self.rejection = prepared
            else:
                self.prepared = prepared
        # As stored: a trans_num that is a card number is replaced by a token of itself,
        # so none is answered, quarantined or logged in clear.
        self.trans_num = tx.trans_num if self.prepared is not None and tx else safe_text(
            trans_num, 128)

    def fall_back(self) -> bool:
        """The deadline passed (handler side): True when the fallback answers; False when
        the model's decision is committing and will answer."""
        with self._lock:
            if self._state == WAITING:
                self._state = FALLEN_BACK
            return self._state == FALLEN_BACK

    def answer_with_model(self) -> bool:
        """Before the commit (writer side): True when the model's decision answers."""
        with self._lock:
            if self._state == WAITING:
                self._state = ANSWERING
            return self._state == ANSWERING

    def reopen(self) -> None:
        """The transaction failed: the model has not answered after all."""
        with self._lock:
            if self._state == ANSWERING:
                self._state = WAITING

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.received) * 1000

    def resolve(self, outcome: Outcome) -> None:
        if not self.future.done():
            self.future.set_result(outcome)


def fallback_body(trans_num: str, policy: Policy, reason: str) -> dict[str, Any]:
    return {"transaction_id": None, "trans_num": trans_num, "decision": policy.fallback,
            "score": None, "reasons": [], "model_version": None, "is_fallback": True,
            "fallback_reason": reason, "is_replay": False}


def problem_body(error: str, detail: str, *, quarantined: bool = False,
                 errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": error, "detail": detail, "errors": errors or [],
            "quarantined": quarantined}


class Overloaded(PgfraudError):
    """More requests wait than the server keeps in memory."""


class Authorizer:
    """The writer thread and its connection; :meth:`submit` hands it a request."""

    def __init__(self, url: str, policy: Policy, *,
                 max_batch: int = 256, max_waiting: int = 20_000,
                 role: str | None = API_ROLE) -> None:
        self.url = url
        self.policy = policy
        self.max_batch = max_batch
        self.role = role
        self.models = ModelCache()
        self.last_batch_size = 0  # requests in the last transaction (a metric)
        self._queue: queue.Queue[Request] = queue.Queue(maxsize=max_waiting)
        self._conn: psycopg.Connection[Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="api-writer", daemon=True)
        self._api = queries.load("api")
        self._scoring = queries.load("scoring")
        self._ingest = queries.load("ingest")
        self.last_ok = 0.0
        self.warmed = False

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        # The writer needs the interpreter lock for a moment after each database answer
        # while the event loop holds it parsing requests; at Python's default switch
        # interval (5 ms) it waited up to that long each time, ten times a transaction
        # (the producer's writer thread found the same: producer/ingest.py).
        sys.setswitchinterval(WRITER_SWITCH_INTERVAL_S)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Store what waits (up to ``timeout``), then stop."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        self._stop.set()
        self._thread.join(timeout=max(deadline - time.monotonic(), 1.0))
        if self._conn is not None:
            self._conn.close()

    def submit(self, request: Request) -> None:
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            raise Overloaded(f"{self._queue.maxsize:,} requests are waiting") from None

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    # ---------------------------------------------------------------- the writer
    def warm_up(self) -> None:
        """One transaction as a request makes, rolled back, before the first request: it
        opens the connection, loads the models and makes the plans of the ingest
        trigger's statements, which took the first request 1.1-1.3 s, ten times the
        default deadline. It holds the ingest lock meanwhile, as any batch does."""
        conn = self._connection()
        tx = CardTransaction(f"pgfraud-warm-up-{uuid.uuid4()}", dt.datetime.now(dt.UTC), "",
                             Decimal("1.00"), "pgfraud warm-up", "misc_pos", 0.0, 0.0)
        staged = StagedBatch("api")
        staged.add(tx, encode_payload(tx, "0" * 64, "0000"), "0" * 64)
        with conn.transaction(force_rollback=True):
            conn.execute(self._scoring["lock_models_shared"])
            self.models.refresh(conn)
            self._accept(conn, staged, [])
            conn.execute(self._api["features_before_scoring"])
            row = conn.execute(self._api["stored_rows"], {"trans_nums": [tx.trans_num]},
                               ).fetchone()
            champion = self.models.champion
            if row is not None and champion is not None:
                _, writes = self._champion_scores(conn, champion, [int(row[1])])
                with conn.pipeline():
                    for query, params in writes:
                        conn.execute(query, params)
        self.warmed = True

    def _run(self) -> None:
        try:
            self.warm_up()
        except (psycopg.Error, PgfraudError) as exc:  # the loop reconnects and retries
            log.warning("warm-up failed (%s); the first requests may be slow",
                        first_line(exc))
        quiet_garbage_collector()
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._until_stored(batch)

    def _until_stored(self, batch: list[Request]) -> None:
        """Handle ``batch``, retrying while the database is away; a batch that fails for
        another reason is handled one request at a time, so one bad row fails alone."""
        backoff = 0.1
        while True:
            try:
                outcomes = self._handle(batch)
            except (psycopg.OperationalError, DatabaseUnavailableError) as exc:
                self._reset(batch)
                if self._stop.is_set():
                    return
                log.warning("database unavailable (%s); %d requests wait, retrying in %.1f s",
                            first_line(exc), len(batch) + self.waiting, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            except Exception as exc:  # noqa: BLE001 - no request may stop the writer
                self._reset(batch)
                if len(batch) > 1:
                    for request in batch:
                        self._until_stored([request])
                    return
                self._failed(batch[0], exc)
                return
            self.last_ok = time.monotonic()
            self.warmed = True
            self.last_batch_size = len(batch)
            for request, outcome in zip(batch, outcomes, strict=True):
                request.resolve(outcome)
            return

    def _reset(self, batch: list[Request]) -> None:
        for request in batch:
            request.reopen()
        if self._conn is not None and (self._conn.broken or self._conn.closed):
            self._conn.close()
            self._conn = None
        elif self._conn is not None:
            self._conn.rollback()

    def _failed(self, request: Request, exc: Exception) -> None:
        """A request that cannot be handled (a bug, not its input): quarantined as
        ``unprocessable`` so it is not lost, answered by the fallback."""
        log.error("request %s not handled (%s: %s); quarantined, fallback answered",
                  request.trans_num[:32], type(exc).__name__, safe_text(first_line(exc), 200))
        answered = request.fall_back()
        try:
            conn = self._connection()
            row = quarantine_row("api", Rejection("unprocessable", type(exc).__name__),
                                 request.raw, request.trans_num)
            with conn.transaction():
                self._accept(conn, StagedBatch("api"), [row])
        except Exception as again:  # noqa: BLE001
            log.error("request %s could not be quarantined either: %s",
                      request.trans_num[:32], safe_text(first_line(again), 200))
        if answered:
            request.resolve(Outcome(200, fallback_body(request.trans_num, self.policy,
                                                       "error")))

    def _accept(self, conn: psycopg.Connection[Any], staged: StagedBatch,
                quarantined: list[tuple[Any, ...]]) -> None:
        """Stage rows and rejections under ``staged``'s batch id and hand them to
        ``ingest.accept_batch``, as the producer's writer does."""
        with conn.cursor() as cur:
            if staged.rows:
                with cur.copy(self._ingest["copy_staged"]) as copy:
                    copy.write(staged.copy_data())
            if quarantined:
                with cur.copy(self._ingest["copy_quarantine"]) as copy:
                    for row in quarantined:
                        copy.write_row((staged.batch_id, *row))
            cur.execute(self._ingest["accept_batch"], {"batch_id": staged.batch_id})

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.url, role=self.role)
            self._conn.execute(self._ingest["utf8_client_encoding"])
            self._conn.execute(self._api["generic_plans"])
            self._conn.commit()
        return self._conn

    # ---------------------------------------------------------------- one transaction
    def _handle(self, batch: list[Request]) -> list[Outcome]:
        conn = self._connection()
        outcomes: dict[int, Outcome] = {}
        staged = StagedBatch("api")
        quarantined: list[tuple[Any, ...]] = []
        valid: list[int] = []
        for i, request in enumerate(batch):
            if request.rejection is not None or request.prepared is None:
                rejection = request.rejection or Rejection("unprocessable", "not prepared")
                quarantined.append(quarantine_row("api", rejection, request.raw,
                                                  request.trans_num))
                outcomes[i] = Outcome(422, problem_body(
                    rejection.reason, safe_text(rejection.detail), quarantined=True,
                    errors=request.errors))
            else:
                assert request.tx is not None and request.prepared is not None
                staged.add(request.tx, request.prepared.payload,
                           request.prepared.payload_sha256)
                valid.append(i)

        with conn.transaction():
            conn.execute(self._scoring["lock_models_shared"])
            self.models.refresh(conn)
            self._accept(conn, staged, quarantined)
            if valid:
                # With the feature follower (features.compute_mode), the rows stored so far
                # get their features here, the requests' own rows last; at ingest, none waits.
                conn.execute(self._api["features_before_scoring"])
                self._decide(conn, batch, valid, outcomes)
        return [outcomes[i] for i in range(len(batch))]

    def _decide(self, conn: psycopg.Connection[Any], batch: list[Request], valid: list[int],
                outcomes: dict[int, Outcome]) -> None:
        trans_nums = [batch[i].tx.trans_num for i in valid]  # type: ignore[union-attr]
        stored = {r[0]: r[1:] for r in conn.execute(
            self._api["stored_rows"], {"trans_nums": trans_nums}).fetchall()}
        before = {row[0]: row[3:] for row in stored.values() if row[3] is not None}
        refused_nums = [n for n in trans_nums if n not in stored]
        refusals = {r[0]: r[1:] for r in conn.execute(
            self._api["refusals"], {"trans_nums": refused_nums}).fetchall()} if refused_nums else {}

        new: dict[int, list[int]] = {}  # transaction_id -> requests (the first decides)
        for i in valid:
            request = batch[i]
            assert request.tx is not None and request.prepared is not None
            row = stored.get(request.tx.trans_num)
            if row is None:
                reason, detail = refusals.get(request.tx.trans_num,
                                              ("refused", "the database refused the row"))
                outcomes[i] = Outcome(422, problem_body(reason, safe_text(detail),
                                                        quarantined=True))
            elif row[1] != request.prepared.payload_sha256:
                outcomes[i] = Outcome(409, problem_body(
                    "conflict", f"trans_num {request.trans_num!r} was stored with another "
                    "payload; this one is quarantined as a conflict", quarantined=True))
            elif row[0] in before:
                outcomes[i] = Outcome(200, _replayed(before[row[0]], request.trans_num))
            elif row[2] != "api":
                outcomes[i] = Outcome(409, problem_body(
                    "conflict", f"trans_num {request.trans_num!r} belongs to a transaction "
                    f"stored from {row[2]}, which the API did not decide"))
            else:
                new.setdefault(int(row[0]), []).append(i)
        if new:
            self._score(conn, batch, new, outcomes)

    def _score(self, conn: psycopg.Connection[Any], batch: list[Request],
               new: dict[int, list[int]], outcomes: dict[int, Outcome]) -> None:
        ids = list(new)
        champion = self.models.champion
        scores: dict[int, tuple[float, str, list[dict[str, Any]]]] = {}
        writes: list[tuple[str, dict[str, Any]]] = []
        if champion is not None:
            scores, writes = self._champion_scores(conn, champion, ids)
            # Shadow models score it later, through the queue; else it leaves the queue.
            queue_op = self._api["shadows_only"] if self.models.shadows else self._api[
                "leave_queue"]
            writes.append((queue_op, {"ids": ids}))
        rows: dict[str, list[Any]] = {k: [] for k in (
            "transaction_id", "client_id", "decision", "model_version", "score", "reasons",
            "is_fallback", "fallback_reason", "latency_ms")}
        for transaction_id, requests in new.items():
            first = batch[requests[0]]
            answered = first.answer_with_model()
            score = scores.get(transaction_id)
            model_version: int | None = None
            value: float | None = None
            reasons: list[dict[str, Any]] = []
            fallback_reason: str | None
            if score is None:
                decision, fallback_reason = self.policy.fallback, "no_champion"
            else:
                assert champion is not None
                value, decision, reasons = score
                model_version = champion.version
                fallback_reason = None if answered else "deadline"
                if fallback_reason:
                    decision = self.policy.fallback
            body = {"transaction_id": transaction_id, "trans_num": first.trans_num,
                    "decision": decision, "score": value, "reasons": reasons,
                    "model_version": model_version, "is_fallback": fallback_reason is not None,
                    "fallback_reason": fallback_reason, "is_replay": False}
            for key in ("transaction_id", "decision", "model_version", "score",
                        "is_fallback", "fallback_reason"):
                rows[key].append(body[key])
            rows["client_id"].append(first.client_id)
            rows["reasons"].append(Jsonb(body["reasons"]))
            rows["latency_ms"].append(first.elapsed_ms())
            outcomes[requests[0]] = Outcome(200, body)
            for i in requests[1:]:  # the same transaction twice in one batch: a retry
                outcomes[i] = Outcome(200, {**body, "trans_num": batch[i].trans_num,
                                            "is_replay": True})
        # The writes need no answer: sent together, one round trip instead of four.
        with conn.pipeline():
            for query, params in writes:
                conn.execute(query, params)
            conn.execute(self._api["insert_decisions"], rows)

    def _champion_scores(self, conn: psycopg.Connection[Any], champion: DeployedModel,
                         ids: list[int],
                         ) -> tuple[dict[int, tuple[float, str, list[dict[str, Any]]]],
                                    list[tuple[str, dict[str, Any]]]]:
        """Score ``ids`` with the champion as the scorer does. Returns transaction_id ->
        (score, decision, reasons), and the writes of its predictions and alerts (the
        scorer's own queries)."""
        query = _model_input_query(tuple(champion.feature_names))
        found = conn.execute(query, {"ids": ids}, binary=True).fetchall()
        if len(found) != len(ids):
            missing = sorted(set(ids) - {r[0] for r in found})
            raise PgfraudError(f"transactions {missing[:5]} have no features")
        found_ids = [int(r[0]) for r in found]
        features = np.array([r[1:] for r in found], dtype=np.float64).astype(np.float32)
        scores = np.clip(champion.onnx.predict(features), 0.0, 1.0)
        is_alert = scores >= champion.threshold
        decisions = [self.policy.decide(float(s), champion.threshold) for s in scores]
        explain = [i for i, d in enumerate(decisions) if d != "approve" or is_alert[i]]
        reasons: list[list[dict[str, Any]]] = [[] for _ in found_ids]
        for i, r in zip(explain, champion.reasons(features[explain]) if explain else [],
                        strict=True):
            reasons[i] = r
        n = len(found_ids)
        writes = [(self._scoring["insert_predictions"], {
            "transaction_id": found_ids, "model_version": [champion.version] * n,
            "feature_set_version": [champion.feature_set_version] * n,
            "is_shadow": [False] * n, "score": scores.tolist(),
            "threshold": [champion.threshold] * n, "is_alert": is_alert.tolist(),
        })]
        alerts = np.flatnonzero(is_alert).tolist()
        if alerts:
            writes.append((self._scoring["insert_alerts"], {
                "transaction_id": [found_ids[i] for i in alerts],
                "model_version": [champion.version] * len(alerts),
                "reasons": [Jsonb(reasons[i]) for i in alerts],
            }))
        return {t: (float(s), d, r) for t, s, d, r in zip(
            found_ids, scores.tolist(), decisions, reasons, strict=True)}, writes


def quiet_garbage_collector() -> None:
    """Keep the collector's pauses out of the answers' tail. Everything alive once the
    models are loaded (the app, the models, the libraries) stays alive: frozen, the
    collector never walks it again; and a young collection every 20,000 allocations
    instead of 700 runs a few times a second instead of hundreds. Measured with
    bench_api at 1,000 requests/s: p99 240 ms -> 102 ms client-side, fallbacks 358 -> 96
    (200 and 500 requests/s: p99 17.2 -> 8.6 ms and 21.8 -> 19.7 ms)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 1_000)


@functools.lru_cache(maxsize=8)
def _model_input_query(names: tuple[str, ...]) -> bytes:
    """The model-input query for these feature columns, composed once (psycopg would
    otherwise compose and convert it again for every transaction)."""
    return queries.with_columns(queries.load("api")["model_input"], names, "m").as_bytes(None)


def _replayed(row: tuple[Any, ...], trans_num: str) -> dict[str, Any]:
    transaction_id, decision, model_version, score, reasons, is_fallback, reason = row
    return {"transaction_id": int(transaction_id), "trans_num": trans_num,
            "decision": decision, "score": score, "reasons": reasons,
            "model_version": model_version, "is_fallback": bool(is_fallback),
            "fallback_reason": reason, "is_replay": True}


class Watcher:
    """A second connection that keeps the token book and the model cache current and
    says whether the database answers: LISTEN for token and model changes, and a check
    every ``interval`` seconds whatever happens."""

    def __init__(self, url: str, tokens: TokenBook, models: ModelCache, *,
                 interval: float = 2.0, role: str | None = API_ROLE) -> None:
        self.url = url
        self.tokens = tokens
        self.models = models
        self.interval = interval
        self.role = role
        self.has_champion = False
        self.last_ok = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="api-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)

    def check(self, conn: psycopg.Connection[Any]) -> None:
        self.tokens.load(conn)
        has_champion = self.models.preload(conn)
        if not self.last_ok:  # the first check: say what would make every request fail
            if not self.tokens:
                log.warning("no client has a token yet: every request gets 401 until one "
                            "does (pgfraud tokens create NAME)")
            if not has_champion:
                log.warning("no champion model: the fallback answers every request (pgfraud "
                            "train --bootstrap, or pgfraud models promote V)")
        self.has_champion = has_champion
        self.last_ok = time.monotonic()

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                with connect(self.url, role=self.role, autocommit=True) as conn:
                    for channel in (API_CLIENTS_CHANNEL, MODELS_CHANNEL):
                        conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))
                    backoff = 0.5
                    while not self._stop.is_set():
                        self.check(conn)
                        for _ in conn.notifies(timeout=self.interval, stop_after=1):
                            pass
            except (psycopg.Error, PgfraudError) as exc:
                log.warning("watcher: %s; retrying in %.1f s", first_line(exc), backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
