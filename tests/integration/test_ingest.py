"""Ingestion against a real PostgreSQL: CSV import, quarantine, idempotency, conflicts,
concurrent producers, and no raw card number anywhere in a full dump."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import hashlib
import itertools
import os
import random
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgfraud.kernel.card_numbers import find_card_numbers
from pgfraud.kernel.db import connect
from pgfraud.kernel.pgbin import find_server_binaries
from pgfraud.kernel.text import CONTROL_CHARACTERS
from producer import kaggle
from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.records import MAX_TEXT, CardTransaction
from producer.stream import StreamConfig, TransactionStream
from tests.unit.test_cards import EXAMPLES, adversarial_text

PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))
KEY = "test-token-key-0123456789abcdef"
START = dt.datetime(2026, 2, 2, tzinfo=dt.UTC)

# (reason the row must be quarantined with, how to break a CSV record)
DEFECTS = [
    ("bad_card_number", lambda r: r.update(cc_num=r["cc_num"][:-1] + str(
        (int(r["cc_num"][-1]) + 1) % 10))),
    ("bad_amount", lambda r: r.update(amt="twelve")),
    ("negative_amount", lambda r: r.update(amt="-" + r["amt"])),
    ("missing_field", lambda r: r.update(amt="")),
    ("bad_timestamp", lambda r: r.update(trans_date_trans_time="2026-13-45 25:61:00")),
    ("bad_coordinates", lambda r: r.update(merch_lat="123.4")),
    ("missing_field", lambda r: r.update(merchant="")),
    ("bad_field", lambda r: r.update(dob="not a date")),
    ("bad_row", None),  # a truncated line
]


def stream_rows(count: int, seed: int = 21, fraud_rate: float = 0.02) -> list[CardTransaction]:
    config = StreamConfig(seed=seed, start=START, fraud_rate=fraud_rate, cards=300,
                          merchants=120)
    return [tx for tx, _ in itertools.islice(TransactionStream(config), count)]


def write_csv_with_defects(path: Path, rows: list[CardTransaction],
                           every: int = 100) -> dict[str, str]:
    """Write ``rows`` in the Kaggle layout, breaking one row in ``every`` (1%).
    Returns {trans_num: expected quarantine reason} for every broken row."""
    clean = path.with_suffix(".clean.csv")
    kaggle.write_rows(clean, rows)
    expected: dict[str, str] = {}
    with open(clean, newline="") as source, open(path, "w", newline="") as target:
        reader, writer = csv.reader(source), csv.writer(target)
        header = next(reader)
        writer.writerow(header)
        defects = itertools.cycle(DEFECTS)
        for number, line in enumerate(reader):
            if number % every == every - 1:
                reason, breaker = next(defects)
                record = dict(zip(header, line, strict=True))
                expected[record["trans_num"]] = reason
                if breaker is None:
                    writer.writerow(line[:10] + [record["trans_num"]])
                    continue
                breaker(record)
                line = [record[name] for name in header]
            writer.writerow(line)
    return expected


def pgfraud(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "PGFRAUD_TOKEN_KEY": KEY}
    result = subprocess.run([PGFRAUD, *args], env=env, capture_output=True, text=True,
                            timeout=300, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    return result


def reported(output: str, label: str) -> int:
    """A number from the command's closing summary, e.g. reported(out, "stored")."""
    match = re.search(rf"^\s*{re.escape(label)}\s+([\d,]+)\b", output, re.MULTILINE)
    assert match, f"{label!r} not in summary:\n{output}"
    return int(match.group(1).replace(",", ""))


def counts(url: str) -> tuple[int, int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select (select count(*) from ingest.transactions),"
            " (select count(*) from ingest.quarantine),"
            " (select count(*) from truth.fraud_transactions)"
        ).fetchone()
    assert row is not None
    return row


@pytest.fixture
def csv_file(tmp_path: Path) -> Iterator[tuple[Path, list[CardTransaction], dict[str, str]]]:
    rows = stream_rows(3000)
    path = tmp_path / "fraudTest.csv"
    expected = write_csv_with_defects(path, rows)
    yield path, rows, expected


def test_import_keeps_every_good_row_and_quarantines_every_bad_one(db_url: str,
                                                                   csv_file) -> None:
    path, rows, expected = csv_file
    assert len(expected) == 30  # 1% of 3,000
    result = pgfraud("import", str(path), url=db_url)
    assert reported(result.stdout, "stored (new)") == 2970

    good = [tx for tx in rows if tx.trans_num not in expected]
    with psycopg.connect(db_url) as conn:
        stored = {r[0] for r in conn.execute("select trans_num from ingest.transactions")}
        quarantined = conn.execute(
            "select trans_num, reason from ingest.quarantine order by 1, 2").fetchall()
        frauds = {r[0] for r in conn.execute("select trans_num from truth.fraud_transactions")}
        payloads = [r[0] for r in conn.execute("select raw_payload::text from ingest.quarantine")]
    assert stored == {tx.trans_num for tx in good}
    # A truncated line has no reliable trans_num: it is quarantined without one.
    def order(item: tuple[str | None, str]) -> tuple[str, str]:
        return item[0] or "", item[1]

    assert sorted(quarantined, key=order) == sorted(
        (((None if reason == "bad_row" else key), reason) for key, reason in expected.items()),
        key=order,
    ), "every bad row quarantined once, with its reason"
    assert frauds == {tx.trans_num for tx in good if tx.is_fraud}
    assert all('"cc_num": "*' in p or "cc_num" not in p for p in payloads)


def test_a_replayed_file_adds_nothing(db_url: str, csv_file) -> None:
    path, _, _ = csv_file
    pgfraud("import", str(path), url=db_url)
    before = counts(db_url)
    again = pgfraud("import", str(path), url=db_url)
    assert counts(db_url) == before
    assert reported(again.stdout, "already stored (re-sent)") == 2970
    assert reported(again.stdout, "new quarantine rows") == 0


def test_a_changed_payload_under_a_known_key_is_quarantined_not_stored(
    db_url: str, tmp_path: Path
) -> None:
    rows = stream_rows(500)
    kaggle.write_rows(tmp_path / "v1.csv", rows)
    changed = [replace(tx, amount=tx.amount + 1) if i % 50 == 0 else tx
               for i, tx in enumerate(rows)]
    kaggle.write_rows(tmp_path / "v2.csv", changed)

    pgfraud("import", str(tmp_path / "v1.csv"), url=db_url)
    result = pgfraud("import", str(tmp_path / "v2.csv"), url=db_url)
    assert reported(result.stdout, "conflict") == 10
    pgfraud("import", str(tmp_path / "v2.csv"), url=db_url)  # the same conflicts again

    with psycopg.connect(db_url) as conn:
        amounts: dict[str, object] = dict(
            conn.execute("select trans_num, amount from ingest.transactions").fetchall())
        conflicts = conn.execute(
            "select trans_num, (raw_payload->>'amount')::numeric from ingest.quarantine "
            "where reason = 'conflict'").fetchall()
    assert amounts == {tx.trans_num: tx.amount for tx in rows}  # nothing overwritten
    assert sorted(conflicts) == sorted((tx.trans_num, tx.amount) for i, tx in
                                       enumerate(changed) if i % 50 == 0)


def test_produce_fills_the_tables_and_a_rerun_adds_nothing(db_url: str) -> None:
    args = ("produce", "--seed", "9", "--start", "2026-01-05", "--count", "3000",
            "--fraud-rate", "0.02", "--cards", "200", "--merchants", "80")
    first = pgfraud(*args, url=db_url)
    transactions, quarantine, frauds = counts(db_url)
    assert (transactions, quarantine) == (3000, 0)
    assert 0.015 * 3000 <= frauds <= 0.025 * 3000
    with psycopg.connect(db_url) as conn:
        scenarios: dict[str, int] = dict(conn.execute(
            "select scenario, count(*) from truth.fraud_transactions group by 1").fetchall())
        incidents = conn.execute("select count(*) from truth.fraud_incidents").fetchone()
    assert set(scenarios) == {"card_testing", "account_takeover", "compromised_merchant"}
    assert incidents is not None and incidents[0] > 0
    second = pgfraud(*args, url=db_url)
    assert counts(db_url) == (3000, 0, frauds)
    assert reported(second.stdout, "already stored (re-sent)") == 3000
    assert not find_card_numbers(first.stdout + first.stderr + second.stdout + second.stderr)


def test_concurrent_producers_store_each_transaction_once(db_url: str) -> None:
    rows = stream_rows(4000, seed=33)
    altered = {tx.trans_num for tx in rows[::97]}
    tokenizer = Tokenizer(KEY.encode())
    errors: list[BaseException] = []

    def producer(index: int) -> None:
        mine = list(rows)
        random.Random(index).shuffle(mine)  # overlapping keys, different orders
        if index == 0:  # this producer re-sends some keys with another payload
            mine = [replace(tx, amount=tx.amount + 7) if tx.trans_num in altered else tx
                    for tx in mine]
        try:
            with connect(db_url, role="pgfraud_producer") as conn, Ingestor(
                conn, source="stream", tokenizer=tokenizer, batch_size=250
            ) as ingestor:
                for tx in mine:
                    ingestor.add(replace(tx))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=producer, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(db_url) as conn:
        stored = conn.execute(
            "select count(*), count(distinct trans_num) from ingest.transactions").fetchone()
        conflicted = conn.execute(
            "select count(distinct trans_num) from ingest.quarantine where reason = 'conflict'"
        ).fetchone()
    assert stored == (len(rows), len(rows))
    # Whichever payload won, the other is quarantined: one conflict per altered key.
    assert conflicted == (len(altered),)


def test_no_raw_card_number_in_a_full_dump(db_url: str, csv_file, tmp_path: Path) -> None:
    path, rows, _ = csv_file
    pgfraud("import", str(path), url=db_url)
    pgfraud("produce", "--start", "2026-04-01", "--count", "2000", url=db_url)
    with open(path) as handle:
        assert find_card_numbers(handle.read()), "the input must hold card numbers"

    dump = tmp_path / "dump.sql"
    pg_dump = find_server_binaries().bindir / "pg_dump"
    subprocess.run([str(pg_dump), "--dbname", db_url, "--file", str(dump)], check=True,
                   env={**os.environ, "LC_ALL": "C"})
    text = dump.read_text()
    assert "COPY ingest.transactions" in text and len(text) > 100_000
    assert find_card_numbers(text) == []
    for tx in rows[:200]:
        assert tx.pan not in text


STAGE_SERIES = """
insert into ingest.staged_transactions (batch_id, ordinal, trans_num, transacted_at,
    card_token, card_last4, amount, merchant, category, merchant_lat, merchant_long,
    payload_sha256, source)
select %(batch)s, i, 'plan-' || i, now() - interval '1 hour' + i * interval '1 second',
       repeat('b', 64), '4242', 1,
       -- 13 digits, not a card number (Luhn): has_card_number runs on every row
       case when i %% %(every)s = 0 then ' ' else 'merchant ' || i %% 7 || ' 1000000000000' end,
       'grocery_pos',
       1, 1, md5(i::text) || md5(i::text), 'stream'
from generate_series(1, %(rows)s) as i
"""


def test_accept_batch_checks_each_row_once_after_staging_was_analysed_empty(
        db_url: str) -> None:
    """The staging table is empty between batches, so autovacuum's statistics say so. With
    them, migration 0007's accept_batch ran the refusal checks once per staged row for
    every staged row (a 1,965-row batch took 35 s in the replay benchmark); each row's
    card-number check must run once, whatever the statistics. The merchants hold 13
    digits in a row, so no row is answered by the search before the call."""
    rows, every = 600, 50
    refused = rows // every
    with psycopg.connect(db_url) as conn:
        # A batch leaves the staging table's pages behind, empty; analysed now, it has
        # pages and no rows, as autovacuum finds it between batches.
        batch = uuid.uuid4()
        conn.execute(STAGE_SERIES.replace("'plan-'", "'warm-'"),
                     {"batch": batch, "rows": rows, "every": every})
        conn.execute("select ingest.accept_batch(%s)", (batch,))
        conn.commit()
        conn.execute("analyze ingest.staged_transactions, ingest.event_clock")
        conn.execute("set track_functions = 'pl'")
        batch = uuid.uuid4()
        conn.execute(STAGE_SERIES, {"batch": batch, "rows": rows, "every": every})
        result = conn.execute(
            "select accepted, duplicates, conflicts, refused from ingest.accept_batch(%s)",
            (batch,)).fetchone()
        ((calls,),) = conn.execute(
            "select pg_stat_get_xact_function_calls("
            "'ingest.has_card_number(text)'::regprocedure)").fetchall()
        conn.commit()
        ((stored,),) = conn.execute(
            "select count(*) from ingest.transactions where trans_num like 'plan-%'"
        ).fetchall()
    assert result == (rows - refused, 0, 0, {"missing_field": refused})
    assert stored == rows - refused
    # trans_num, merchant and category together (one call) for each row the earlier
    # checks let through, and the trans_num of each refused row as its quarantine row is
    # written
    assert calls == (rows - refused) + refused


STAGE_KEYS = """
insert into ingest.staged_transactions (batch_id, ordinal, trans_num, transacted_at,
    card_token, card_last4, amount, merchant, category, merchant_lat, merchant_long,
    payload_sha256, source, is_fraud)
select %(batch)s, i, 'keys-' || i %% %(keys)s, now() - interval '1 hour' + i * interval '1 second',
       repeat('b', 64), '4242', 1, 'merchant ' || i %% 7, 'grocery_pos', 1, 1,
       md5(i %% %(keys)s || %(payload)s) || md5(i::text), 'stream', i %% 10 = 0
from generate_series(1, %(rows)s) as i
"""


@pytest.mark.parametrize(("name", "keys", "payload", "expected"), [
    # the first batch: 400 new rows; staged again under the same keys, they are...
    ("re-sent", 400, "first", (0, 400, 0)),                  # ...identical, or
    ("changed", 400, "second", (0, 0, 400)),                 # ...another payload each;
    # 200 new keys, each staged twice with two payloads: one stored, one a conflict
    ("repeated in the batch", 200, "third", (200, 0, 200)),
])
def test_accept_batch_reads_each_staged_row_a_few_times_whatever_the_batch_holds(
        db_url: str, name: str, keys: int, payload: str,
        expected: tuple[int, int, int]) -> None:
    """With the statistics of an empty staging table, no statement of accept_batch may
    join the batch to itself row by row (a plan that read the staged rows 1,000 times
    each was found while making the conflict check cheaper): the staged rows read, by
    index or scan, stay a small multiple of the batch. Conflicts name the stored row."""
    rows = 400
    with psycopg.connect(db_url) as conn:
        conn.execute(STAGE_KEYS, {"batch": uuid.uuid4(), "keys": rows, "payload": "first",
                                  "rows": rows})
        conn.execute("select ingest.accept_batch(batch_id) from ingest.staged_transactions"
                     " limit 1")
        conn.commit()
        conn.execute("analyze ingest.staged_transactions")
        if name == "repeated in the batch":
            conn.execute("delete from ingest.transactions where trans_num like 'keys-%'")
        conn.commit()
        batch = uuid.uuid4()
        conn.execute(STAGE_KEYS.replace("i %% %(keys)s ||", "i / %(keys)s ||")
                     if name == "repeated in the batch" else STAGE_KEYS,
                     {"batch": batch, "keys": keys, "payload": payload, "rows": rows})
        result = conn.execute(
            "select accepted, duplicates, conflicts from ingest.accept_batch(%s)",
            (batch,)).fetchone()
        ((read,),) = conn.execute(
            "select seq_tup_read + coalesce(idx_tup_fetch, 0) from pg_stat_xact_user_tables"
            " where relid = 'ingest.staged_transactions'::regclass").fetchall()
        details = conn.execute(
            "select q.detail, t.transaction_id from ingest.quarantine as q"
            " join ingest.transactions as t using (trans_num)"
            " where q.reason = 'conflict'").fetchall()
        conn.commit()
    assert result == expected
    assert read <= 20 * rows, f"{read:,} staged rows read for a batch of {rows}"
    assert len(details) == expected[2]
    assert all(f"stored as transaction {stored_id} " in detail for detail, stored_id in details)


def test_a_batch_of_new_keys_is_inserted_without_looking_them_up_first(db_url: str) -> None:
    """New keys go in with one lookup each (the unique index's, as it inserts): no index
    scan of trans_num and no conflict check. A batch with a stored key goes in with ON
    CONFLICT instead, and counts as before."""
    rows = 300
    scans = ("select pg_stat_get_xact_numscans("
             "'ingest.transactions_trans_num_key'::regclass)")
    with psycopg.connect(db_url) as conn:
        first, second = uuid.uuid4(), uuid.uuid4()
        stage = STAGE_KEYS.replace("i %% 10 = 0", "false")  # no ground truth to look up
        changed = stage.replace("md5(i %% %(keys)s || %(payload)s)",
                                "md5(i %% %(keys)s || %(payload)s || (i = 7)::text)")
        conn.execute(stage, {"batch": first, "keys": rows, "payload": "pfalse", "rows": rows})
        new = conn.execute("select accepted, duplicates, conflicts from"
                           " ingest.accept_batch(%s)", (first,)).fetchone()
        ((looked_up,),) = conn.execute(scans).fetchall()
        conn.commit()
        # the same keys again ('p' || 'false' is 'pfalse'), one with another payload
        conn.execute(changed, {"batch": second, "keys": rows, "payload": "p", "rows": rows})
        again = conn.execute("select accepted, duplicates, conflicts from"
                             " ingest.accept_batch(%s)", (second,)).fetchone()
        ((looked_up_again,),) = conn.execute(scans).fetchall()
        conn.commit()
    assert new == (rows, 0, 0) and looked_up == 0
    assert again == (0, rows - 1, 1) and looked_up_again > 0


# What a producer that skips every check of its own could stage as text: card layouts
# glued into hex ids and numbers, control characters, blanks, over-long fields.
staged_text = st.one_of(
    adversarial_text.map(lambda s: s.replace("\x00", "")),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
            max_size=40),
    st.sampled_from(["", " ", "   ", "a\x01b", "\x1b[2J", "x\x7f", "\x9b1", "\t"]),
    st.text(alphabet="0123456789 .-x", min_size=200, max_size=300),
)


def refusal(trans_num: str, merchant: str, category: str) -> str | None:
    """The text checks of ingest.accept_batch, in order, written out in Python."""
    fields = {"trans_num": trans_num, "merchant": merchant, "category": category}
    if any(field.strip(" ") == "" for field in fields.values()):  # btrim trims spaces
        return "missing_field"
    if any(len(fields[name]) > limit for name, limit in MAX_TEXT.items()):
        return "field_too_long"
    if CONTROL_CHARACTERS.search("".join(fields.values())):
        return "control_character"
    if find_card_numbers("/".join(fields.values())):
        return "card_number_in_text"
    return None


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(staged_text, staged_text, staged_text), min_size=1, max_size=12))
def test_the_database_refuses_text_a_producer_did_not_check(
        db_url: str, rows: list[tuple[str, str, str]]) -> None:
    """Rows staged as they come (no producer check): accept_batch stores exactly the rows
    the text checks pass and refuses each other row for the first check it fails, the
    same as the checks one after another; nothing is kept (the batch is rolled back)."""
    # With every example of the card-number definition as a merchant in each batch.
    rows = [(f"t{i}:{trans_num}", merchant, category)
            for i, (trans_num, merchant, category) in enumerate(
                rows + [("", text, "grocery_pos") for text, _ in EXAMPLES])]
    expected = [refusal(*row) for row in rows]
    batch = uuid.uuid4()
    with psycopg.connect(db_url) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "insert into ingest.staged_transactions (batch_id, ordinal, trans_num,"
                " transacted_at, card_token, card_last4, amount, merchant, category,"
                " merchant_lat, merchant_long, payload_sha256, source)"
                " values (%s, %s, %s, now() - interval '1 hour', repeat('b', 64), '4242', 1,"
                " %s, %s, 1, 1, %s, 'stream')",
                [(batch, i, trans_num, merchant, category,
                  hashlib.sha256(trans_num.encode()).hexdigest())
                 for i, (trans_num, merchant, category) in enumerate(rows)])
        ((accepted, refused),) = conn.execute(
            "select accepted, refused from ingest.accept_batch(%s)", (batch,)).fetchall()
        stored = {trans_num for (trans_num,) in conn.execute(
            "select trans_num from ingest.transactions where trans_num = any(%s)",
            ([row[0] for row in rows],))}
        conn.rollback()
    assert stored == {row[0] for row, reason in zip(rows, expected, strict=True)
                      if reason is None}
    assert accepted == len(stored)
    assert refused == dict(collections.Counter(r for r in expected if r is not None))
