"""The producer's binary COPY rows (producer/staging.py) against psycopg's: any row the
ingestor may stage arrives in ingest.staged_transactions exactly as psycopg's own
encoding of the same values does (psycopg is the reference; the producer encodes on its
own thread for speed)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgfraud.kernel import queries
from producer.records import MAX_AMOUNT, SCENARIOS, CardTransaction
from producer.staging import StagedBatch, encode_payload

#: The types of the copy_staged columns, for psycopg's encoding of the same rows.
STAGED_TYPES = (
    "uuid", "int4", "text", "timestamptz", "text", "text", "numeric", "text", "text",
    "float8", "float8", "float8", "float8", "int4", "date", "text", "text", "bool", "text",
    "text",
)
COLUMNS = ("ordinal, trans_num, transacted_at, card_token, card_last4, amount, merchant, "
           "category, merchant_lat, merchant_long, home_lat, home_long, city_pop, "
           "cardholder_birth_date, payload_sha256, source, is_fraud, fraud_scenario, "
           "incident_id")
# PostgreSQL text holds no NUL; the ingestor refuses control characters and stray bytes
# before it stages a row, but the encoding must not depend on that.
text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
               max_size=300)
cents = st.integers(min_value=0, max_value=int(MAX_AMOUNT * 100)).map(
    lambda n: Decimal(n).scaleb(-2))
coordinate = st.floats(min_value=-90, max_value=90)
times = st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(9998, 1, 1),
                     timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-9)),
                                                zoneinfo.ZoneInfo("Asia/Kolkata")]))
hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@st.composite
def staged(draw: st.DrawFn) -> tuple[CardTransaction, str, str, str]:
    has_home = draw(st.booleans())
    tx = CardTransaction(
        trans_num=draw(text), transacted_at=draw(times), pan="4111111111111111",
        amount=draw(st.one_of(cents, st.sampled_from([Decimal("0.00"), MAX_AMOUNT,
                                                       Decimal("0.01"), Decimal("1E+2")]))),
        merchant=draw(text), category=draw(text),
        merchant_lat=draw(st.one_of(coordinate, st.just(-0.0))),
        merchant_long=draw(st.floats(min_value=-180, max_value=180)),
        home_lat=draw(coordinate) if has_home else None,
        home_long=draw(coordinate) if has_home else None,
        city_pop=draw(st.none() | st.integers(min_value=0, max_value=2**31 - 1)),
        birth_date=draw(st.none() | st.dates(min_value=dt.date(1900, 1, 1))),
        is_fraud=draw(st.booleans()), scenario=draw(st.none() | st.sampled_from(SCENARIOS)),
        incident_id=draw(st.none() | text))
    return tx, draw(hex64), draw(st.text(alphabet="0123456789", min_size=4, max_size=4)), \
        draw(hex64)


@pytest.fixture
def conn(db_url: str) -> Any:
    with psycopg.connect(db_url) as conn:
        yield conn


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=st.lists(staged(), min_size=1, max_size=20),
       source=st.sampled_from(["stream", "csv", "replay"]))
def test_staged_rows_arrive_as_psycopg_would_send_them(
        conn, rows: list[tuple[CardTransaction, str, str, str]], source: str) -> None:
    copy_staged = queries.load("ingest")["copy_staged"]
    batch = StagedBatch(source)
    for tx, token, last4, digest in rows:
        batch.add(tx, encode_payload(tx, token, last4), digest)
    reference = StagedBatch(source).batch_id
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        with cur.copy(copy_staged) as copy:
            copy.write(batch.copy_data())
        with cur.copy(copy_staged) as copy:
            copy.set_types(STAGED_TYPES)
            for ordinal, (tx, token, last4, payload) in enumerate(rows):
                copy.write_row((
                    reference, ordinal, tx.trans_num, tx.transacted_at, token, last4,
                    tx.amount, tx.merchant, tx.category, tx.merchant_lat, tx.merchant_long,
                    tx.home_lat, tx.home_long, tx.city_pop, tx.birth_date, payload, source,
                    tx.is_fraud, tx.scenario, tx.incident_id))
        ours, theirs = (cur.execute(
            f"select {COLUMNS}, amount::text, merchant_lat::text, transacted_at::text"
            f" from ingest.staged_transactions where batch_id = %s order by ordinal",
            (batch_id,)).fetchall() for batch_id in (batch.batch_id, reference))
    assert len(ours) == len(rows)
    assert ours == theirs
