"""No input stops the stream and no row is lost: property-based tests of every input path.

CSV files with arbitrary bytes mixed into valid rows (NUL, bytes that are not UTF-8,
fields far over any limit, numbers and dates of every kind, junk lines), and simulated
transactions with arbitrary values, go through the same code as ``pgfraud import`` and
``pgfraud produce`` into a real PostgreSQL. Whatever comes in, every valid row is stored
exactly once, every other row is in quarantine with a reason, stored + quarantined = rows
read, and no exception escapes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgfraud.kernel.card_numbers import find_card_numbers, pan_problem
from pgfraud.kernel.db import connect
from producer import kaggle
from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.records import CardTransaction
from producer.stream import StreamConfig, TransactionStream

KEY = b"hostile-input-test-key-0123456789"
START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])
#: Columns pgfraud does not keep: anything may be in them and the row is still valid.
UNUSED = ("first", "last", "gender", "street", "city", "state", "zip", "job", "unix_time")
#: Text that is never a valid value of a stored field, with the reason it gets.
BAD_TEXT = {
    "control_character": st.sampled_from(["shop\x00", "a\x01b", "\x1b[2Jwipe", "x\x7f",
                                          "tab\there", "new\nline"]),
    "bad_encoding": st.just("caf\udce9"),         # a Latin-1 byte, kept by surrogateescape
    # over the field limit; over the csv module's old 128 KiB limit; over the line limit
    "field_too_long": st.sampled_from([300, 200_000, 1_100_000]).map(lambda n: "m" * n),
}


def valid_records(prefix: str, count: int) -> list[dict[str, str]]:
    """Clean Kaggle-layout records from the simulator, trans_num made unique by prefix."""
    config = StreamConfig(seed=count, start=START, cards=50, merchants=30)
    rows = [tx for tx, _ in itertools.islice(TransactionStream(config), count)]
    records = []
    for index, tx in enumerate(rows):
        at = tx.transacted_at.astimezone(dt.UTC)
        records.append({
            "": str(index), "trans_date_trans_time": at.strftime("%Y-%m-%d %H:%M:%S"),
            "cc_num": tx.pan, "merchant": tx.merchant, "category": tx.category,
            "amt": f"{tx.amount:.2f}", "first": "Ann", "last": "Lee", "gender": "F",
            "street": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701",
            "lat": str(tx.home_lat), "long": str(tx.home_long), "city_pop": str(tx.city_pop),
            "job": "Analyst", "dob": tx.birth_date.isoformat() if tx.birth_date else "",
            "trans_num": f"{prefix}-{index}", "unix_time": str(int(at.timestamp())),
            "merch_lat": str(tx.merchant_lat), "merch_long": str(tx.merchant_long),
            "is_fraud": str(int(tx.is_fraud)),
        })
    return records


#: A mutation makes a record invalid (returns True) or leaves it valid (False).
Mutation = Callable[[dict[str, str], st.DataObject], bool]


def _bad_text(record: dict[str, str], data: st.DataObject) -> bool:
    field = data.draw(st.sampled_from(["merchant", "category", "trans_num"]))
    kind = data.draw(st.sampled_from(sorted(BAD_TEXT)))
    value = data.draw(BAD_TEXT[kind])
    if kind == "field_too_long" and field == "category":
        value = value[:100]
    record[field] = (record[field] + value) if field == "trans_num" else value
    return True


def _bad_amount(record: dict[str, str], data: st.DataObject) -> bool:
    record["amt"] = data.draw(st.one_of(
        st.sampled_from(["1e26", "1" + "0" * 30, "NaN", "inf", "-1", "1_000", "١٢", "12,50",
                         "99999999999.999", "", "--1", "0x10"]),
        st.text(max_size=30).filter(lambda t: not kaggle._AMOUNT.fullmatch(t.strip())),
    ))
    return True


def _bad_time(record: dict[str, str], data: st.DataObject) -> bool:
    record["trans_date_trans_time"] = data.draw(st.one_of(
        st.sampled_from(["0001-01-01 00:00:00", "1900-06-01 12:00:00", "2999-01-01 00:00:00",
                         "9999-12-31 23:59:59", "9999-12-31T23:59:59-01:00",
                         "0001-01-01T00:30:00+01:00", "2026-13-45 25:61:00", "yesterday"]),
        st.datetimes(max_value=dt.datetime(1999, 12, 31)).map(str),
        st.datetimes(min_value=dt.datetime(2100, 1, 1)).map(str),
    ))
    return True


def _bad_number(record: dict[str, str], data: st.DataObject) -> bool:
    field = data.draw(st.sampled_from(["merch_lat", "merch_long", "lat", "long", "city_pop"]))
    # each one wrong for every numeric field: not plain ASCII, not finite, or out of range
    record[field] = data.draw(st.sampled_from(["nan", "inf", "-1e400", "1e5", "-181", "1_0",
                                               "\u0663", "9" * 5000, "0x1p3", "-"]))
    return True


def _bad_card(record: dict[str, str], data: st.DataObject) -> bool:
    record["cc_num"] = data.draw(st.one_of(
        st.sampled_from(["4111111111111112", "4111 1111", "\u0664\u0661\u0661\u0661", ""]),
        st.text(max_size=25).filter(lambda t: pan_problem(t.strip()) is not None)))
    return True


def _junk_in_unused(record: dict[str, str], data: st.DataObject) -> bool:
    field = data.draw(st.sampled_from(UNUSED))
    raw = data.draw(st.binary(max_size=60))
    record[field] = raw.decode("utf-8", "surrogateescape")
    return False  # pgfraud does not keep these columns: the row stays valid


MUTATIONS: list[Mutation] = [_bad_text, _bad_amount, _bad_time, _bad_number, _bad_card,
                             _junk_in_unused]


@dataclass
class Generated:
    path: Path
    valid: set[str]       # trans_nums that must be stored
    records: int          # CSV records in the file (valid, invalid and junk lines)


def write_file(path: Path, records: list[dict[str, str]], junk: list[bytes]) -> None:
    """Records through csv.writer (so quoting is right whatever the bytes), junk lines
    between them, encoded back to the bytes they came from."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(("", *kaggle.COLUMNS))
    lines = [buffer.getvalue()]
    for index, record in enumerate(records):
        buffer = io.StringIO(newline="")
        csv.writer(buffer).writerow([record[""], *(record[c] for c in kaggle.COLUMNS)])
        lines.append(buffer.getvalue())
        if index < len(junk):
            lines.append(junk[index].decode("utf-8", "surrogateescape") + "\r\n")
    path.write_bytes("".join(lines).encode("utf-8", "surrogateescape"))


@st.composite
def hostile_files(draw: st.DrawFn, tmp: Path) -> Generated:
    prefix = uuid.uuid4().hex[:12]
    records = valid_records(prefix, draw(st.integers(min_value=5, max_value=40)))
    data = draw(st.data())
    valid = set()
    for record in records:
        mutation = draw(st.sampled_from([None, None, *MUTATIONS]))
        invalid = mutation(record, data) if mutation is not None else False
        if not invalid:
            valid.add(record["trans_num"])
    # Junk lines: arbitrary bytes, no quote or line break (those would join the next
    # record, which is CSV, not a defect), each unique so quarantine keeps every one.
    junk = [draw(st.binary(min_size=1, max_size=80).filter(
                lambda b: not set(b) & set(b'"\r\n'))) + f" {prefix}-junk{i}".encode()
            for i in range(draw(st.integers(min_value=0, max_value=5)))]
    path = tmp / f"{prefix}.csv"
    write_file(path, records, junk)
    return Generated(path, valid, len(records) + len(junk))


def quarantine_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from ingest.quarantine").fetchone()
    assert row is not None
    return int(row[0])


def stored_with_prefix(url: str, prefix: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(
            "select trans_num from ingest.transactions where trans_num like %s",
            (prefix + "-%",))}


@pytest.fixture
def tmp_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@SETTINGS
@given(data=st.data())
def test_any_csv_bytes_store_every_valid_row_once_and_quarantine_the_rest(
        db_url: str, tmp_files: Path, data: st.DataObject) -> None:
    generated = data.draw(hostile_files(tmp_files))
    prefix = generated.path.stem
    before = quarantine_count(db_url)
    with connect(db_url, role="pgfraud_producer") as conn, Ingestor(
            conn, source="csv", tokenizer=Tokenizer(KEY), batch_size=7) as ingestor:
        for parsed, raw in kaggle.read_rows(generated.path):
            ingestor.add_parsed(parsed, raw)
    stats = ingestor.stats
    stored = stored_with_prefix(db_url, prefix)
    assert stored == generated.valid, "every valid row stored, nothing else"
    assert stats.received == generated.records
    assert stats.accepted == len(generated.valid) and stats.duplicates == 0
    assert stats.accepted + stats.quarantined_rows == stats.received
    assert quarantine_count(db_url) - before == stats.quarantined == stats.quarantined_rows


def _amounts() -> st.SearchStrategy[Decimal]:
    return st.one_of(st.decimals(allow_nan=True, allow_infinity=True),
                     st.decimals(min_value=0, max_value=10**10, places=4),
                     st.sampled_from([Decimal("1e26"), Decimal("-0"), Decimal("9999999999.995"),
                                      Decimal("sNaN")]))


def _texts() -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=40), st.text(max_size=400),
                     st.sampled_from(["Shop 4111 1111 1111 1111", "ref4111111111111111",
                                      "4111.1111.1111.1111", "a\x00b", "\udcff"]))


@SETTINGS
@given(data=st.data())
def test_any_simulated_values_never_stop_the_stream(db_url: str, data: st.DataObject) -> None:
    """The stream path (pgfraud produce, replay): CardTransaction values of any kind."""
    prefix = uuid.uuid4().hex[:12]
    clean = [tx for tx, _ in itertools.islice(TransactionStream(
        StreamConfig(seed=5, start=START, cards=40, merchants=30)), 30)]
    hostile: list[CardTransaction] = []
    for index, tx in enumerate(clean):
        tx.trans_num = f"{prefix}-{index}"
        if data.draw(st.booleans()):
            field = data.draw(st.sampled_from(["amount", "merchant", "category",
                                               "transacted_at", "merchant_lat", "city_pop",
                                               "birth_date", "pan"]))
            value: Any = {
                "amount": _amounts(), "merchant": _texts(), "category": _texts(),
                "transacted_at": st.datetimes(timezones=st.timezones()),
                "merchant_lat": st.floats(), "city_pop": st.integers(),
                "birth_date": st.dates(), "pan": st.text(max_size=25),
            }[field]
            setattr(tx, field, data.draw(value))
        hostile.append(tx)
    before = quarantine_count(db_url)
    with connect(db_url, role="pgfraud_producer") as conn, Ingestor(
            conn, source="stream", tokenizer=Tokenizer(KEY), batch_size=6) as ingestor:
        for tx in hostile:
            ingestor.add(tx)
    stats = ingestor.stats
    assert stats.received == len(hostile)
    assert stats.accepted + stats.duplicates + stats.quarantined_rows == len(hostile)
    assert quarantine_count(db_url) - before == stats.quarantined
    with psycopg.connect(db_url) as conn:
        texts = conn.execute(
            "select coalesce(string_agg(trans_num || ' ' || merchant || ' ' || category, ' '),"
            " '') from ingest.transactions").fetchone()
        clock = conn.execute("select max_transacted_at from ingest.event_clock").fetchone()
    assert texts is not None and find_card_numbers(texts[0]) == []
    assert clock is not None and clock[0] <= dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
