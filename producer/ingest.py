"""Write transactions to PostgreSQL in COPY batches: tokenized, validated, idempotent.

>>> # ingestor = Ingestor(conn, source="csv", tokenizer=Tokenizer.from_settings())
>>> # ingestor.add(tx); ingestor.flush(); ingestor.stats.accepted

Each batch is one database transaction: valid rows are COPYed (binary) into
``ingest.staged_transactions`` and moved by ``ingest.accept_batch`` (new rows stored,
re-sends skipped, conflicts quarantined); invalid rows are COPYed into
``ingest.quarantine`` with their reason and the raw payload, card numbers masked. A
deadlock with a concurrent producer sending the same keys rolls the batch back and retries.

Batches are written by a background thread that owns the connection, so preparing the
next batch (parsing, hashing, tokenizing) overlaps with the database work on this one.
At most two batches wait; :meth:`Ingestor.drain` (called on exit) waits for them and
re-raises a writer error.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
from psycopg import errors
from psycopg.types.json import Jsonb

from producer.cards import Tokenizer, mask_card_numbers, mask_pan
from producer.records import CardTransaction, Rejection, payload_sha256, problem
from scorer import queries

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
STAGED_TYPES = (
    "uuid", "int4", "text", "timestamptz", "text", "text", "numeric", "text", "text",
    "float8", "float8", "float8", "float8", "int4", "date", "text", "text", "bool", "text",
    "text",
)
MAX_ATTEMPTS = 5
#: Raw fields that hold a card number, masked to their last 4 in quarantine.
CARD_FIELDS = frozenset({"cc_num", "pan", "card_number"})


@dataclass
class Incident:
    """A simulated fraud incident, recorded in ``truth.fraud_incidents``."""

    incident_id: str
    scenario: str
    started_at: Any
    pan: str | None = None
    merchant: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class IngestStats:
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    quarantined: int = 0    # rows new to ingest.quarantine (a re-sent bad row is kept once)
    batches: int = 0
    retries: int = 0


@dataclass
class _Batch:
    staged: list[tuple[Any, ...]]
    quarantined: list[tuple[Any, ...]]
    incidents: list[Incident]


class Ingestor:
    """Buffers rows; :meth:`flush` hands them to the writer as one batch.

    Use as a context manager, or call :meth:`close`: both wait for every batch.
    """

    def __init__(self, conn: psycopg.Connection[Any], *, source: str, tokenizer: Tokenizer,
                 batch_size: int = 5000, background: bool = True) -> None:
        self.conn = conn
        self.source = source
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.stats = IngestStats()
        self._staged: list[tuple[Any, ...]] = []
        self._quarantined: list[tuple[Any, ...]] = []
        self._incidents: dict[str, Incident] = {}
        self._sql = queries.load("ingest")
        self._error: BaseException | None = None
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=2)
        self._writer: threading.Thread | None = None
        if background:
            self._writer = threading.Thread(target=self._write_forever, name="ingest-writer",
                                            daemon=True)
            self._writer.start()

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pending(self) -> int:
        return len(self._staged) + len(self._quarantined)

    def add(self, tx: CardTransaction, raw: Mapping[str, Any] | None = None) -> None:
        """Queue one transaction; invalid ones are queued for quarantine instead."""
        self.stats.received += 1
        if tx.amount.is_finite():
            tx.amount = tx.amount.quantize(CENT, rounding=ROUND_HALF_UP)
        rejection = problem(tx)
        if rejection is not None:
            self._quarantine(rejection, raw if raw is not None else _as_raw(tx), tx.trans_num)
        else:
            token, last4 = self.tokenizer.tokenize(tx.pan)
            self._staged.append((
                len(self._staged), tx.trans_num, tx.transacted_at, token, last4, tx.amount,
                tx.merchant, tx.category, tx.merchant_lat, tx.merchant_long, tx.home_lat,
                tx.home_long, tx.city_pop, tx.birth_date, payload_sha256(tx, token),
                self.source, tx.is_fraud, tx.scenario, tx.incident_id,
            ))
        if self.pending >= self.batch_size:
            self.flush()

    def reject(self, rejection: Rejection, raw: Mapping[str, Any],
               trans_num: str | None = None) -> None:
        """Queue a row that could not even be parsed."""
        self.stats.received += 1
        self._quarantine(rejection, raw, trans_num)
        if self.pending >= self.batch_size:
            self.flush()

    def add_incident(self, incident: Incident) -> None:
        self._incidents.setdefault(incident.incident_id, incident)

    def flush(self) -> None:
        """Hand everything queued to the writer as one batch (one database transaction)."""
        self._raise_writer_error()
        if not self.pending and not self._incidents:
            return
        batch = _Batch(self._staged, self._quarantined, list(self._incidents.values()))
        self._staged, self._quarantined, self._incidents = [], [], {}
        if self._writer is None:
            self._write(batch)
        else:
            self._queue.put(batch)

    def drain(self) -> None:
        """Flush, then wait until every batch is committed; re-raise a writer error."""
        self.flush()
        self._queue.join()
        self._raise_writer_error()

    def close(self) -> None:
        try:
            self.drain()
        finally:
            if self._writer is not None and self._writer.is_alive():
                self._queue.put(None)
                self._writer.join()

    # ------------------------------------------------------------- writer side
    def _write_forever(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    return
                if self._error is None:
                    self._write(batch)
            except BaseException as exc:  # handed to the caller's thread
                self._error = exc
            finally:
                self._queue.task_done()

    def _raise_writer_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _write(self, batch: _Batch) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                accepted, duplicates, conflicts, quarantined = self._write_once(batch)
                break
            except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
                if attempt == MAX_ATTEMPTS:
                    raise
                self.stats.retries += 1
                log.info("batch retried after %s (attempt %d)", type(exc).__name__, attempt)
                time.sleep(0.05 * attempt)
        self.stats.accepted += accepted
        self.stats.duplicates += duplicates
        self.stats.conflicts += conflicts
        self.stats.quarantined += quarantined
        for row in batch.quarantined:
            self.stats.rejected[row[1]] += 1
        self.stats.batches += 1

    def _write_once(self, batch: _Batch) -> tuple[int, int, int, int]:
        batch_id = uuid.uuid4()
        with self.conn.transaction(), self.conn.cursor() as cur:
            if batch.staged:
                with cur.copy(self._sql["copy_staged"]) as copy:
                    copy.set_types(STAGED_TYPES)
                    for row in batch.staged:
                        copy.write_row((batch_id, *row))
            if batch.quarantined:
                with cur.copy(self._sql["copy_quarantine"]) as copy:
                    for row in batch.quarantined:
                        copy.write_row((batch_id, *row))
            if batch.incidents:
                cur.executemany(self._sql["insert_incident"],
                                [self._incident_params(i) for i in batch.incidents])
            if not (batch.staged or batch.quarantined):
                return 0, 0, 0, 0
            cur.execute(self._sql["accept_batch"], {"batch_id": batch_id})
            result = cur.fetchone()
            assert result is not None
            return int(result[0]), int(result[1]), int(result[2]), int(result[3])

    def _incident_params(self, incident: Incident) -> dict[str, Any]:
        token = self.tokenizer.tokenize(incident.pan)[0] if incident.pan else None
        return {
            "incident_id": incident.incident_id, "scenario": incident.scenario,
            "card_token": token, "merchant": incident.merchant,
            "started_at": incident.started_at, "detail": Jsonb(incident.detail),
        }

    def _quarantine(self, rejection: Rejection, raw: Mapping[str, Any],
                    trans_num: str | None) -> None:
        payload = mask_raw(raw)
        digest = hashlib.sha256(
            f"{self.source}:{rejection.reason}:{json.dumps(payload, sort_keys=True)}".encode()
        ).hexdigest()
        self._quarantined.append((
            trans_num or None, rejection.reason, mask_card_numbers(rejection.detail),
            Jsonb(payload), digest, self.source,
        ))


def mask_raw(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The raw payload safe to store: card fields cut to their last 4, and any other
    13-19 digit run masked wherever it appears (a shifted CSV column, say)."""
    masked: dict[str, Any] = {}
    for key, value in raw.items():
        text = "" if value is None else str(value)
        masked[str(key)] = mask_pan(text.strip()) if key in CARD_FIELDS else mask_card_numbers(text)
    return masked


def _as_raw(tx: CardTransaction) -> dict[str, Any]:
    return {
        "trans_num": tx.trans_num, "transacted_at": str(tx.transacted_at), "pan": tx.pan,
        "amount": str(tx.amount), "merchant": tx.merchant, "category": tx.category,
        "merchant_lat": tx.merchant_lat, "merchant_long": tx.merchant_long,
        "home_lat": tx.home_lat, "home_long": tx.home_long,
    }
