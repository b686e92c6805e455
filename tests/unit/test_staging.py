"""The staged rows' binary COPY encoding (producer/staging.py) without a database; the
integration test holds it to psycopg's encoding through PostgreSQL."""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal

import pytest

from producer.records import CardTransaction
from producer.staging import HEADER, TRAILER, StagedBatch, _numeric, encode_payload


def tx(**changes: object) -> CardTransaction:
    row = CardTransaction("t", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "4111111111111111",
                          Decimal("1.00"), "m", "c", 1.0, 1.0)
    for name, value in changes.items():
        setattr(row, name, value)
    return row


@pytest.mark.parametrize(("amount", "digits", "weight"), [
    ("0.00", [], 0), ("0.07", [700], -1), ("12.50", [12, 5000], 0), ("12.00", [12], 0),
    ("10000.00", [1], 1), ("10000.01", [1, 0, 100], 1),
    ("9999999999.99", [99, 9999, 9999, 9900], 2),
])
def test_amounts_in_numeric_binary_form(amount: str, digits: list[int], weight: int) -> None:
    """Digit count, weight (of the first base-10000 digit), sign, display scale 2, and no
    leading or trailing zero digit: the bytes numeric_send gives for the stored amount
    (tests/integration/test_payload_hash.py holds the hash of them to the database's)."""
    count = len(digits)
    assert _numeric(Decimal(amount)) == struct.pack(
        f">ihhhh{count}h", 8 + 2 * count, count, weight, 0, 2, *digits)


def test_a_batch_is_one_copy_stream_and_a_row_that_cannot_be_encoded_raises() -> None:
    batch = StagedBatch("csv")
    empty = batch.copy_data()
    assert empty == HEADER + TRAILER
    for bad in (tx(amount=Decimal("1.005")), tx(home_lat=1.0),
                tx(trans_num="\udcff"), tx(city_pop=2**31)):
        with pytest.raises((ValueError, TypeError, UnicodeEncodeError, struct.error)):
            encode_payload(bad, "a" * 64, "1111")
    for bad_card in (("a" * 63, "1111"), ("a" * 64, "111")):
        with pytest.raises(ValueError, match="64 characters"):
            encode_payload(tx(), *bad_card)
    assert batch.rows == 0 and batch.copy_data() == empty
    batch.add(tx(), encode_payload(tx(), "a" * 64, "1111"), "b" * 64)
    batch.add(tx(trans_num="u"), encode_payload(tx(trans_num="u"), "a" * 64, "1111"),
              "b" * 64)
    data = batch.copy_data()
    assert batch.rows == 2 and data.startswith(HEADER) and data.endswith(TRAILER)
    # each row: 20 fields, then the batch id, then ordinal 0 and 1
    first = len(HEADER)
    assert struct.unpack_from(">hi16sii", data, first) == (
        20, 16, batch.batch_id.bytes, 4, 0)
    assert StagedBatch("csv").batch_id != batch.batch_id
