"""The payload hash (``ingest.transactions.payload_sha256``) tells a faithful re-send from
a changed one. The producer hashes the payload's binary COPY form as it stages it
(producer/staging.py); the database recomputes the same from a stored row
(``ingest.payload_sha256``), for any value a row can hold. Revision 0023 moved to this
form from a text rendering of the fields and rewrote every stored hash; its downgrade
writes the text form back, so that rows stored before either change stay duplicates
when they are sent again."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgfraud.kernel import migrate
from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.records import CardTransaction, round_amount
from producer.stream import StreamConfig, TransactionStream
from tests.integration.test_staging import staged
from tests.unit.test_kaggle_and_records import PINNED_HASHES, payload_hash

COLUMNS = ("trans_num, transacted_at, card_token, card_last4, amount, merchant, category, "
           "merchant_lat, merchant_long, home_lat, home_long, city_pop, "
           "cardholder_birth_date, payload_sha256, source")
Row = tuple[CardTransaction, str, str]  # transaction, card token, last 4


def text_form_sha256(tx: CardTransaction, card_token: str) -> str:
    """The hash revision 0022's producers stored (``records.payload_sha256`` until 0023):
    the fields as text joined by U+001F. The reference for 0023's downgrade."""
    birth_date = tx.birth_date
    text = (f"{tx.trans_num}\x1f{tx.transacted_at.astimezone(dt.UTC).isoformat()}"
            f"\x1f{card_token}\x1f{round_amount(tx.amount)!s}\x1f{tx.merchant}"
            f"\x1f{tx.category}\x1f{float(tx.merchant_lat)!r}\x1f{float(tx.merchant_long)!r}"
            f"\x1f{tx.home_lat!r}\x1f{tx.home_long!r}\x1f{tx.city_pop!r}"
            f"\x1f{birth_date.isoformat() if birth_date else ''}")
    return hashlib.sha256(text.encode()).hexdigest()


def store(conn: psycopg.Connection[Any], rows: list[Row], digests: list[str]) -> None:
    """The rows straight into the table as its owner, encoded by psycopg (not by the
    producer's encoder), with the given stored hashes; the insert triggers (features,
    scoring queue) are off while they go in."""
    conn.execute("alter table ingest.transactions disable trigger user")
    with conn.cursor().copy(f"copy ingest.transactions ({COLUMNS}) from stdin") as copy:
        for (tx, token, last4), digest in zip(rows, digests, strict=True):
            copy.write_row((tx.trans_num, tx.transacted_at, token, last4, tx.amount,
                            tx.merchant, tx.category, tx.merchant_lat, tx.merchant_long,
                            tx.home_lat, tx.home_long, tx.city_pop, tx.birth_date, digest,
                            "csv"))
    conn.execute("alter table ingest.transactions enable trigger user")


def stored_hashes(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, str]]:
    """trans_num -> (stored hash, the database's recomputation from the row)."""
    return {r[0]: (r[1], r[2]) for r in conn.execute(
        "select trans_num, payload_sha256, ingest.payload_sha256(t) "
        "from ingest.transactions as t")}


rows_of_any_value = st.lists(staged().map(lambda s: (s[0], s[1], s[2])), min_size=1,
                             max_size=20, unique_by=lambda r: r[0].trans_num)


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=rows_of_any_value)
def test_the_database_recomputes_the_hash_the_producer_made(db_url: str,
                                                            rows: list[Row]) -> None:
    """Any text, time zone, amount (0.00, whole, cents only, the maximum), coordinate
    (-0.0, subnormal, the bounds) and missing value: the hash of the producer's bytes is
    the database's hash of the stored columns."""
    with psycopg.connect(db_url) as conn, conn.transaction(force_rollback=True):
        store(conn, rows, [payload_hash(*row) for row in rows])
        hashes = stored_hashes(conn)
    assert len(hashes) == len(rows)
    assert all(stored == recomputed for stored, recomputed in hashes.values()), hashes


def test_rows_of_every_path_are_stored_with_the_databases_hash(db_url: str) -> None:
    """The ingestor's rows (the stream, a file, the API stage the same way): every stored
    hash is the recomputed one, and a re-send of the same rows is all duplicates."""
    stream = TransactionStream(StreamConfig(seed=3, cards=50, merchants=20))
    txs = [tx for tx, _ in itertools.islice(stream, 300)]
    resent = [dataclasses.replace(tx) for tx in txs]
    with psycopg.connect(db_url) as conn:
        for source, batch in (("stream", txs), ("csv", resent)):
            with Ingestor(conn, source=source, tokenizer=Tokenizer(b"k" * 32),
                          background=False) as ingestor:
                for tx in batch:
                    ingestor.add(tx)
            if source == "csv":
                assert ingestor.stats.duplicates == len(txs)
                assert ingestor.stats.conflicts == 0
        hashes = stored_hashes(conn)
    assert len(hashes) == len(txs)
    assert all(stored == recomputed for stored, recomputed in hashes.values())


def _at_0022_then_up_and_down(url: str, rows: list[Row]) -> tuple[dict[str, str], ...]:
    """Rows stored as revision 0022's producers stored them; their stored hashes after
    upgrading to head, then after downgrading to 0022 again."""
    with psycopg.connect(url) as conn:
        conn.execute("truncate ingest.transactions cascade")
        store(conn, rows, [text_form_sha256(tx, token) for tx, token, _ in rows])
    migrate.upgrade(url)
    with psycopg.connect(url) as conn:
        upgraded = {k: v[0] for k, v in stored_hashes(conn).items()}
    migrate.downgrade(url, "0022")
    with psycopg.connect(url) as conn:
        downgraded: dict[str, str] = dict(conn.execute(
            "select trans_num, payload_sha256 from ingest.transactions").fetchall())
    return upgraded, downgraded


@settings(max_examples=25, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=rows_of_any_value)
def test_revision_0023_rewrites_stored_hashes_and_its_downgrade_writes_them_back(
        empty_db_url: str, rows: list[Row]) -> None:
    if migrate.current_revision(empty_db_url) != "0022":
        migrate.upgrade(empty_db_url, "0022")
    upgraded, downgraded = _at_0022_then_up_and_down(empty_db_url, rows)
    assert upgraded == {tx.trans_num: payload_hash(tx, token, last4)
                        for tx, token, last4 in rows}
    assert downgraded == {tx.trans_num: text_form_sha256(tx, token) for tx, token, _ in rows}


def test_revision_0023_gives_the_pinned_hashes(empty_db_url: str) -> None:
    """The pinned rows of tests/unit/test_kaggle_and_records.py, as a producer of either
    revision stored them."""
    migrate.upgrade(empty_db_url, "0022")
    rows = [(dataclasses.replace(tx, amount=round_amount(tx.amount)), "ab" * 32, "1111")
            for tx, _, _ in PINNED_HASHES]
    assert [text_form_sha256(tx, token) for tx, token, _ in rows] == [
        text for _, _, text in PINNED_HASHES]
    upgraded, downgraded = _at_0022_then_up_and_down(empty_db_url, rows)
    assert list(upgraded.values()) == [digest for _, digest, _ in PINNED_HASHES]
    assert list(downgraded.values()) == [text for _, _, text in PINNED_HASHES]
