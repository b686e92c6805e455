"""Write transactions to PostgreSQL in COPY batches: tokenized, validated, idempotent.

>>> # ingestor = Ingestor(conn, source="csv", tokenizer=Tokenizer.from_settings())
>>> # ingestor.add(tx); ingestor.flush(); ingestor.stats.accepted

Each batch is one database transaction: valid rows are COPYed (binary, encoded as they
are added: :mod:`producer.staging`) into ``ingest.staged_transactions`` and moved by
``ingest.accept_batch`` (rows the database refuses quarantined, new rows stored,
re-sends skipped, conflicts quarantined); invalid rows are COPYed into
``ingest.quarantine`` with their reason and what an operator needs to fix them (the
fields pgfraud stores, card numbers masked, control characters and bytes that are not
UTF-8 escaped, each field cut to 1,000 characters).

No row stops the stream: anything that goes wrong while preparing one row (a value no
check foresaw included) quarantines that row as ``unprocessable``. Card numbers never
leave the process: the card is tokenized, a card number in merchant or category text is
masked, and a ``trans_num`` holding one is replaced by a keyed token of itself.

A deadlock with a concurrent producer sending the same keys rolls the batch back and
retries. With ``reconnect`` (given the seconds it may wait, it returns a new connection,
e.g. :func:`pgfraud.kernel.db.connect_patiently`), a lost connection (a database restart) is
reopened and the batch is sent again: ``trans_num`` makes that idempotent, so rows that had
committed before the connection dropped count as already stored.

Batches are written by a background thread that owns the connection, so preparing the
next batch (parsing, hashing, tokenizing, encoding) overlaps with the database work on
this one; the writer only sends bytes and waits, so it rarely needs the interpreter
lock the caller's thread holds. At most two batches wait; :meth:`Ingestor.drain`
(called on exit) waits for them and re-raises a writer error. A batch sent again (after
a deadlock or a lost connection) keeps its ``batch_id``: the attempt before was rolled
back, or it committed and its staged rows are gone.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import errors
from psycopg.types.json import Jsonb

from pgfraud.kernel import queries
from pgfraud.kernel.card_numbers import (
    find_card_numbers,
    mask_card_numbers,
    mask_pan,
    may_hold_card_number_field,
)
from pgfraud.kernel.errors import DatabaseUnavailableError, first_line
from pgfraud.kernel.text import escape_controls
from producer.cards import Tokenizer
from producer.records import (
    CardTransaction,
    Incident,
    Rejection,
    problem,
    round_amount,
)
from producer.staging import StagedBatch, encode_payload, payload_sha256

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
#: How long a lost database may stay away before the producer gives up (seconds).
RECONNECT_TIMEOUT_S = 120.0
#: Raw fields that hold a card number, masked to their last 4 in quarantine.
CARD_FIELDS = frozenset({"cc_num", "pan", "card_number"})
#: Raw fields kept in quarantine: what pgfraud stores of an accepted row (Kaggle layout and
#: simulator names), where it came from (file, line) and, for a record that does not
#: split into the layout's columns, its text: what an operator needs to fix the row.
#: Names, street, zip, job, gender and other columns are dropped, as for accepted rows.
QUARANTINE_FIELDS = frozenset({
    "trans_num", "trans_date_trans_time", "transacted_at", "cc_num", "pan", "card_number",
    "amt", "amount", "merchant", "category", "merch_lat", "merch_long", "merchant_lat",
    "merchant_long", "lat", "long", "home_lat", "home_long", "city_pop", "dob", "is_fraud",
    "file", "line", "record",
})
#: Characters kept of each quarantined field (a 1 MB field is cut, with its length noted).
QUARANTINE_FIELD_CHARS = 1000
#: The interpreter's thread switch interval while a background writer runs (seconds).
#: The caller's thread runs Python almost without pause; the writer needs the
#: interpreter lock for a moment each time the database answers, several times a batch,
#: and at Python's default (5 ms) it waited so long for it that the database sat idle: a
#: 100,000-row import took 48 us a row at 5 ms or 1 ms, 33 at 0.5 ms, 29-37 at 0.1 ms.
WRITER_SWITCH_INTERVAL_S = 1e-4
_switching = threading.Lock()
_writers_running = 0
_switch_interval_before = 0.0


@dataclass
class IngestStats:
    """What happened to the rows received; once drained,
    ``accepted + duplicates + conflicts + sum(rejected.values()) == received``."""

    received: int = 0
    accepted: int = 0       # stored, new
    duplicates: int = 0     # already stored with the same payload (re-sent)
    conflicts: int = 0      # already stored with another payload: quarantined as conflict
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)
    quarantined: int = 0    # rows new to ingest.quarantine (a re-sent bad row is kept once)
    masked: int = 0         # stored rows whose merchant or category text was masked
    tokenized_references: int = 0  # stored rows whose trans_num was a card number
    batches: int = 0
    retries: int = 0
    reconnects: int = 0

    @property
    def quarantined_rows(self) -> int:
        """Rows received that went to quarantine (conflicts and rejections)."""
        return self.conflicts + sum(self.rejected.values())

    def quarantined_by_reason(self) -> dict[str, int]:
        """Rows received that went to quarantine, per reason, sorted by reason."""
        reasons = {**({"conflict": self.conflicts} if self.conflicts else {}),
                   **{reason: n for reason, n in self.rejected.items() if n}}
        return dict(sorted(reasons.items()))


@dataclass
class _Batch:
    staged: StagedBatch
    quarantined: list[tuple[Any, ...]]
    incidents: list[Incident]


class Ingestor:
    """Buffers rows; :meth:`flush` hands them to the writer as one batch.

    Use as a context manager, or call :meth:`close`: both wait for every batch.
    """

    def __init__(self, conn: psycopg.Connection[Any], *, source: str, tokenizer: Tokenizer,
                 batch_size: int = 5000, background: bool = True,
                 reconnect: Callable[[float], psycopg.Connection[Any]] | None = None) -> None:
        self.conn = conn
        self._reconnect = reconnect
        self._opened: list[psycopg.Connection[Any]] = []
        self.source = source
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.stats = IngestStats()
        self._staged = StagedBatch(source)
        self._quarantined: list[tuple[Any, ...]] = []
        self._incidents: dict[str, Incident] = {}
        self._sql = queries.load("ingest")
        self._error: BaseException | None = None
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=2)
        self._held: list[_Batch] | None = None  # batches cut while held (see hold)
        self._writer: threading.Thread | None = None
        if background:
            _writer_started()
            self._writer = threading.Thread(target=self._write_forever, name="ingest-writer",
                                            daemon=True)
            self._writer.start()

    def __enter__(self) -> Ingestor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pending(self) -> int:
        return self._staged.rows + len(self._quarantined)

    def add(self, tx: CardTransaction, raw: Mapping[str, Any] | None = None) -> None:
        """Queue one transaction; invalid ones are queued for quarantine instead."""
        self.stats.received += 1
        try:
            rejection = self._stage(tx)
        except Exception as exc:  # noqa: BLE001 - no row may stop the stream
            log.warning("row quarantined as unprocessable: %s", type(exc).__name__)
            self._quarantine(Rejection("unprocessable", f"{type(exc).__name__}: {exc}"),
                             raw if raw is not None else {}, None)
        else:
            if rejection is not None:
                self._quarantine(rejection, raw if raw is not None else _as_raw(tx),
                                 tx.trans_num)
        if self.pending >= self.batch_size:
            self.flush()

    def _stage(self, tx: CardTransaction) -> Rejection | None:
        """Add the staged row for ``tx`` (tokenized, masked) to the batch, or say why it
        cannot be stored."""
        prepared = prepare(tx, self.tokenizer)
        if isinstance(prepared, Rejection):
            return prepared
        self.stats.tokenized_references += prepared.tokenized_reference
        self.stats.masked += prepared.masked
        self._staged.add(tx, prepared.payload, prepared.payload_sha256)
        return None

    def add_parsed(self, parsed: CardTransaction | Rejection, raw: Mapping[str, Any]) -> None:
        """Queue what a file reader yielded: a transaction, or the rejection of a record."""
        if isinstance(parsed, Rejection):
            self.reject(parsed, raw, raw.get("trans_num"))
        else:
            self.add(parsed, raw)

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
        """Hand everything queued to the writer as one batch (one database transaction);
        while held, set the batch aside instead."""
        self._raise_writer_error()
        if not self.pending and not self._incidents:
            return
        batch = _Batch(self._staged, self._quarantined, list(self._incidents.values()))
        self._staged, self._quarantined, self._incidents = StagedBatch(self.source), [], {}
        if self._held is not None:
            self._held.append(batch)
        else:
            self._send(batch)

    def hold(self) -> None:
        """Prepare rows without sending them: until :meth:`release`, :meth:`add` still
        checks, tokenizes and encodes each row, but full batches (and :meth:`flush`,
        :meth:`drain`) set them aside, so the caller can prepare the next rows while the
        writer stores earlier ones and decide when the database gets them. The replay
        prepares a day while the day before is stored, and sends it after that day's
        labels, which its features must see. Rows still held at :meth:`close` are not
        sent: the caller holds them because they must not reach the database yet."""
        if self._held is None:
            self._held = []

    def release(self) -> None:
        """Send every row prepared since :meth:`hold`, in order, and stop holding."""
        if self._held is None:
            return
        self.flush()
        held, self._held = self._held, None
        for batch in held:
            self._send(batch)

    def _send(self, batch: _Batch) -> None:
        """Write ``batch`` now, or queue it for the background writer."""
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
            if self._writer is not None:
                if self._writer.is_alive():
                    self._queue.put(None)
                    self._writer.join()
                self._writer = None
                _writer_stopped()
            for conn in self._opened:
                conn.close()

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
        attempt = 0
        lost_since: float | None = None
        while True:
            try:
                accepted, duplicates, conflicts, refused, quarantined = self._write_once(batch)
                break
            except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
                attempt += 1
                if attempt == MAX_ATTEMPTS:
                    raise
                self.stats.retries += 1
                log.info("batch retried after %s (attempt %d)", type(exc).__name__, attempt)
                time.sleep(0.05 * attempt)
            except psycopg.OperationalError as exc:
                if self._reconnect is None or not _connection_lost(self.conn, exc):
                    raise
                lost_since = lost_since or time.monotonic()
                self._connect_again(exc, lost_since)
        self.stats.accepted += accepted
        self.stats.duplicates += duplicates
        self.stats.conflicts += conflicts
        self.stats.quarantined += quarantined
        self.stats.rejected.update(refused)
        for row in batch.quarantined:
            self.stats.rejected[row[1]] += 1
        self.stats.batches += 1

    def _connect_again(self, exc: Exception, lost_since: float) -> None:
        """Replace the lost connection, waiting (with backoff) for the database to return."""
        assert self._reconnect is not None
        reason = first_line(exc)
        log.warning("database connection lost (%s); reconnecting to send the batch again",
                    reason)
        self.conn.close()
        remaining = RECONNECT_TIMEOUT_S - (time.monotonic() - lost_since)
        try:
            self.conn = self._reconnect(max(remaining, 0.0))
        except DatabaseUnavailableError as unavailable:
            raise DatabaseUnavailableError(
                f"the database has been unreachable for {RECONNECT_TIMEOUT_S:.0f} s "
                f"({unavailable}); {self.stats.accepted:,} rows were stored before"
            ) from None
        self._opened.append(self.conn)
        self.stats.reconnects += 1

    def _write_once(self, batch: _Batch) -> tuple[int, int, int, dict[str, int], int]:
        batch_id = batch.staged.batch_id
        with self.conn.transaction(), self.conn.cursor() as cur:
            if self.conn.info.encoding != "utf-8":  # the staged rows' text is UTF-8
                cur.execute(self._sql["utf8_client_encoding"])
            if batch.staged.rows:
                with cur.copy(self._sql["copy_staged"]) as copy:
                    copy.write(batch.staged.copy_data())
            if batch.quarantined:
                with cur.copy(self._sql["copy_quarantine"]) as copy:
                    for row in batch.quarantined:
                        copy.write_row((batch_id, *row))
            if batch.incidents:
                cur.executemany(self._sql["insert_incident"],
                                [self._incident_params(i) for i in batch.incidents])
            if not (batch.staged.rows or batch.quarantined):
                return 0, 0, 0, {}, 0
            cur.execute(self._sql["accept_batch"], {"batch_id": batch_id})
            result = cur.fetchone()
            assert result is not None
            accepted, duplicates, conflicts, refused, quarantined = result
            return (int(accepted), int(duplicates), int(conflicts),
                    {str(k): int(v) for k, v in refused.items()}, int(quarantined))

    def _incident_params(self, incident: Incident) -> dict[str, Any]:
        token = self.tokenizer.tokenize(incident.pan)[0] if incident.pan else None
        return {
            "incident_id": incident.incident_id, "scenario": incident.scenario,
            "card_token": token, "merchant": incident.merchant,
            "started_at": incident.started_at, "detail": Jsonb(incident.detail),
        }

    def _quarantine(self, rejection: Rejection, raw: Mapping[str, Any],
                    trans_num: str | None) -> None:
        """Queue a quarantine row: never raises (it is what failing rows fall back on)."""
        self._quarantined.append(quarantine_row(self.source, rejection, raw, trans_num))


@dataclass(frozen=True, slots=True)
class Prepared:
    """What staging a valid transaction needs besides the transaction itself."""

    card_token: str
    card_last4: str
    payload: bytes             # the stored fields, binary COPY form (staging.encode_payload)
    payload_sha256: str
    tokenized_reference: bool  # trans_num was a card number: replaced by a keyed token
    masked: bool               # a card number in merchant or category text was masked


def prepare(tx: CardTransaction, tokenizer: Tokenizer) -> Prepared | Rejection:
    """Check ``tx`` and make it storable, in place: the amount rounded to cents, a
    ``trans_num`` that is a card number replaced by a keyed token of itself, card numbers
    in merchant and category masked; with the card's token, the payload as staged and its
    hash. Every source (stream, file, API) stages rows prepared here, so they hash alike.
    Raises ValueError (or struct.error) for a value the database cannot take."""
    rejection = problem(tx)
    if rejection is not None:
        return rejection
    tx.amount = round_amount(tx.amount)
    token, last4 = tokenizer.tokenize(tx.pan)
    tokenized = masked = False
    if (may_hold_card_number_field(tx.trans_num) or may_hold_card_number_field(tx.merchant)
            or may_hold_card_number_field(tx.category)):
        if find_card_numbers(tx.trans_num):
            tx.trans_num = tokenizer.tokenize_reference(tx.trans_num)
            tokenized = True
        merchant, category = mask_card_numbers(tx.merchant), mask_card_numbers(tx.category)
        if (merchant, category) != (tx.merchant, tx.category):
            tx.merchant, tx.category = merchant, category
            masked = True
    payload = encode_payload(tx, token, last4)
    return Prepared(token, last4, payload, payload_sha256(payload), tokenized, masked)


def quarantine_row(source: str, rejection: Rejection, raw: Mapping[str, Any],
                   trans_num: str | None) -> tuple[Any, ...]:
    """A row for ``ingest.staged_quarantine`` (after its batch_id: trans_num, reason,
    detail, raw_payload, raw_sha256, source); never raises (it is what failing rows fall
    back on). The payload keeps only :data:`QUARANTINE_FIELDS`, card numbers masked."""
    try:
        payload = mask_raw(raw)
        row = (safe_text(trans_num, 128) if trans_num else None, rejection.reason,
               safe_text(rejection.detail), payload)
    except Exception as exc:  # noqa: BLE001 - the last resort must not fail
        payload = {"error": f"payload not kept: {type(exc).__name__}"}
        row = (None, rejection.reason, "the row could not be represented", payload)
    digest = hashlib.sha256(
        f"{source}:{rejection.reason}:{json.dumps(payload, sort_keys=True)}".encode()
    ).hexdigest()
    return (row[0], row[1], row[2], Jsonb(payload), digest, source)


def _writer_started() -> None:
    """Shorten the thread switch interval while any background writer runs (the first one
    saves the interval it finds; :data:`WRITER_SWITCH_INTERVAL_S` says why)."""
    global _writers_running, _switch_interval_before
    with _switching:
        if _writers_running == 0:
            _switch_interval_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_interval_before, WRITER_SWITCH_INTERVAL_S))
        _writers_running += 1


def _writer_stopped() -> None:
    """The last background writer to stop restores the switch interval it found."""
    global _writers_running
    with _switching:
        _writers_running -= 1
        if _writers_running == 0:
            sys.setswitchinterval(_switch_interval_before)


def safe_text(value: object, limit: int = QUARANTINE_FIELD_CHARS) -> str:
    """``value`` as text PostgreSQL and a terminal can hold: bytes that were not UTF-8 and
    control characters (NUL included) escaped as ``\\xNN``, every 13-19 digit card
    layout masked, cut to ``limit`` characters.

    >>> safe_text("a\\x00b \\udcff 4111 1111 1111 1111")
    'a\\\\x00b \\\\xff ************1111'
    """
    text = "" if value is None else str(value)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that did not come from undecodable bytes
        text = text.encode("utf-8", "backslashreplace").decode("ascii")
    text = mask_card_numbers(escape_controls(text))
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit:,} more characters)"
    return text


def mask_raw(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The raw payload safe to store: only :data:`QUARANTINE_FIELDS`, card fields cut to
    their last 4, any other card number masked wherever it appears (a shifted CSV column,
    say), every value made safe by :func:`safe_text`."""
    masked: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in QUARANTINE_FIELDS:
            continue
        text = "" if value is None else str(value)
        masked[key] = safe_text(mask_pan(text.strip())[-24:] if key in CARD_FIELDS else text)
    return masked


def _connection_lost(conn: psycopg.Connection[Any], exc: Exception) -> bool:
    """True when ``exc`` means the server went away (restart, crash, network), not a
    statement error."""
    return conn.broken or conn.closed or isinstance(
        exc, (errors.AdminShutdown, errors.CrashShutdown, errors.CannotConnectNow))


def _as_raw(tx: CardTransaction) -> dict[str, Any]:
    return {
        "trans_num": tx.trans_num, "transacted_at": str(tx.transacted_at), "pan": tx.pan,
        "amount": str(tx.amount), "merchant": tx.merchant, "category": tx.category,
        "merchant_lat": tx.merchant_lat, "merchant_long": tx.merchant_long,
        "home_lat": tx.home_lat, "home_long": tx.home_long,
    }
