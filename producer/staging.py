"""A batch of staged rows in PostgreSQL's binary COPY format, built where rows are prepared.

:class:`StagedBatch` encodes each row for ``ingest.staged_transactions`` (the columns of
the ``copy_staged`` query, sql/queries/ingest.sql) as the row is added, on the caller's
thread, so the ingestor's writer thread only sends bytes: formatting rows there held the
interpreter lock against the caller and made it part of every batch's time on the
database. Binary, not text, because the database parses binary for less (2.6 instead
of 3.9 us a row here), and the database is the slower side.

The format (PostgreSQL docs, "COPY", binary format): a header, then per row the field
count and each field as its length and bytes in the type's binary form (-1 for NULL),
then a trailer. Text is UTF-8 (the writer makes it the session's client encoding).

The payload columns of a row (:func:`encode_payload`) are encoded once, when the row is
prepared (``producer.ingest.prepare``): their bytes are both what is sent and what the
payload hash is made of (:func:`payload_sha256`, 0.5 us a row here; hashing a text
rendering of the fields took 3.6 us, a sixth of the import's Python time).

>>> import datetime as dt
>>> from decimal import Decimal
>>> tx = CardTransaction("t1", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "4111111111111111",
...                      Decimal("12.50"), "shop", "grocery_pos", 40.0, -74.0)
>>> payload = encode_payload(tx, "ab" * 32, "1111")
>>> batch = StagedBatch("csv")
>>> batch.add(tx, payload, payload_sha256(payload))
>>> batch.rows, len(batch.copy_data())
(1, 312)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
import uuid
from decimal import Decimal

from producer.records import CardTransaction

#: Columns per row (batch_id ... incident_id, as copy_staged names them).
FIELDS = 20
HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no header extension
TRAILER = b"\xff\xff"
_NULL = b"\xff\xff\xff\xff"
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # PostgreSQL's timestamp epoch
_EPOCH_DAY = dt.date(2000, 1, 1).toordinal()
_MICROSECOND = dt.timedelta(microseconds=1)
_NUMERIC_NEGATIVE = 0x4000

# Fields are packed in runs: each struct below is one or more (length, value) pairs.
_LENGTH = struct.Struct(">i").pack
_HEAD = struct.Struct(">hi").pack                # field count, length of the batch_id
_ORDINAL = struct.Struct(">ii").pack
_TIMESTAMP = struct.Struct(">iq").pack
_PLACE = struct.Struct(">idid").pack             # two float8
_INT4 = struct.Struct(">ii").pack                # int4, and date (days since 2000-01-01)
_NUMERIC = {n: struct.Struct(f">ihhhh{n}h").pack for n in range(5)}
_NO_PLACE = _NULL + _NULL
_TOKEN_LENGTH = _LENGTH(64)
_LAST4_LENGTH = _LENGTH(4)


class StagedBatch:
    """Rows for ``ingest.staged_transactions`` under one fresh ``batch_id``, each one's
    ordinal its position in the batch, as one binary COPY stream (:meth:`copy_data`)."""

    def __init__(self, source: str) -> None:
        self.batch_id = uuid.uuid4()
        self.rows = 0
        self._data = bytearray()
        self._head = _HEAD(FIELDS, 16) + self.batch_id.bytes
        source_field = _text(source)
        self._tails = {flag: source_field + (b"\x00\x00\x00\x01\x01" if flag
                                             else b"\x00\x00\x00\x01\x00")
                       for flag in (False, True)}

    def add(self, tx: CardTransaction, payload: bytes, payload_sha256: str) -> None:
        """Append ``tx`` as stored: ``payload`` is its :func:`encode_payload` (token, not
        card number) and ``payload_sha256`` that payload's hash."""
        self._data += b"".join((
            self._head, _ORDINAL(4, self.rows), payload, _text(payload_sha256),
            self._tails[bool(tx.is_fraud)],
            _NULL if tx.scenario is None else _text(tx.scenario),
            _NULL if tx.incident_id is None else _text(tx.incident_id),
        ))
        self.rows += 1

    def copy_data(self) -> bytes:
        """The batch as a binary COPY stream: header, rows, trailer."""
        return HEADER + self._data + TRAILER


def encode_payload(tx: CardTransaction, card_token: str, card_last4: str) -> bytes:
    """The stored payload of ``tx`` (the columns ``trans_num`` to ``cardholder_birth_date``
    of ``ingest.transactions``, card token and last 4 digits instead of the card number)
    as consecutive fields of a binary COPY row: what :meth:`StagedBatch.add` sends and
    what :func:`payload_sha256` hashes. Raises ValueError (or struct.error) for a value
    that cannot be encoded."""
    trans_num = tx.trans_num.encode()
    token = card_token.encode("ascii")
    last4 = card_last4.encode("ascii")
    if len(token) != 64 or len(last4) != 4:
        raise ValueError("a card token has 64 characters and a last 4 has 4")
    home_lat, city_pop, birth_date = tx.home_lat, tx.city_pop, tx.birth_date
    return b"".join((
        _LENGTH(len(trans_num)), trans_num,
        _TIMESTAMP(8, (tx.transacted_at - _EPOCH) // _MICROSECOND),
        _TOKEN_LENGTH, token, _LAST4_LENGTH, last4,
        _numeric(tx.amount), _text(tx.merchant), _text(tx.category),
        _PLACE(8, tx.merchant_lat, 8, tx.merchant_long),
        _NO_PLACE if home_lat is None and tx.home_long is None
        else _PLACE(8, home_lat, 8, tx.home_long),
        _NULL if city_pop is None else _INT4(4, city_pop),
        _NULL if birth_date is None else _INT4(4, birth_date.toordinal() - _EPOCH_DAY),
    ))


def payload_sha256(payload: bytes) -> str:
    """The payload hash stored with a row (``ingest.transactions.payload_sha256``): equal
    for a faithful re-send, different for any change to a stored field; ground truth
    (is_fraud, scenario) is not part of it. ``ingest.payload_sha256`` (SQL) computes the
    same from a stored row, from each column's binary send form."""
    return hashlib.sha256(payload).hexdigest()


def _text(value: str) -> bytes:
    data = value.encode()
    return _LENGTH(len(data)) + data


def _numeric(amount: Decimal) -> bytes:
    """``amount`` (to the cent: two decimals) in numeric's binary form as PostgreSQL sends
    a stored value (``numeric_send``): digit count, weight, sign, display scale 2, then
    base-10000 digits without leading or trailing zero digits (zero has none), so that
    the bytes hashed here are those the database recomputes from the stored amount."""
    scaled = amount.scaleb(2)
    cents = int(scaled)
    if cents != scaled:
        raise ValueError(f"amount {amount} is not rounded to the cent")
    sign = _NUMERIC_NEGATIVE if cents < 0 else 0
    whole, cents = divmod(abs(cents), 100)
    digits = []
    while whole:
        whole, digit = divmod(whole, 10000)
        digits.append(digit)
    weight = len(digits) - 1  # of the first digit, in powers of 10000
    digits.reverse()
    digits.append(cents * 100)
    while digits and not digits[-1]:
        digits.pop()
    if not digits:
        weight = sign = 0
    count = len(digits)
    pack = _NUMERIC.get(count) or struct.Struct(f">ihhhh{count}h").pack
    return pack(8 + 2 * count, count, weight, sign, 2, *digits)
