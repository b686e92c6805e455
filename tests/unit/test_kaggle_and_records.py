"""Parsing the Kaggle layout and the validation every source passes."""

from __future__ import annotations

import copy
import csv
import dataclasses
import datetime as dt
import io
import itertools
import math
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgfraud.kernel.errors import PgfraudError
from producer import kaggle, records
from producer.records import CardTransaction, Rejection, problem, round_amount
from producer.staging import encode_payload, payload_sha256
from producer.stream import StreamConfig, TransactionStream

GOOD = {
    "index": "0", "trans_date_trans_time": "2019-01-01 00:00:18", "cc_num": "4111111111111111",
    "merchant": "fraud_Rippin, Kub and Mann", "category": "misc_net", "amt": "4.97",
    "first": "Jennifer", "last": "Banks", "gender": "F", "street": "561 Perry Cove",
    "city": "Moravian Falls", "state": "NC", "zip": "28654", "lat": "36.0788",
    "long": "-81.1781", "city_pop": "3495", "job": "Psychologist, counselling",
    "dob": "1988-03-09", "trans_num": "0b242abb623afc578575680df30655b9",
    "unix_time": "1325376018", "merch_lat": "36.011293", "merch_long": "-82.048315",
    "is_fraud": "0",
}


def tx_from(**changes: str) -> CardTransaction | Rejection:
    return kaggle.parse({**GOOD, **changes})


def payload_hash(tx: CardTransaction, card_token: str, card_last4: str = "1111") -> str:
    """The hash a row of ``tx`` is stored with (amount rounded, as ``prepare`` does)."""
    rounded = dataclasses.replace(tx, amount=round_amount(tx.amount))
    return payload_sha256(encode_payload(rounded, card_token, card_last4))


def test_a_good_row() -> None:
    tx = tx_from()
    assert isinstance(tx, CardTransaction)
    assert tx.transacted_at == dt.datetime(2019, 1, 1, 0, 0, 18, tzinfo=dt.UTC)
    assert tx.amount == Decimal("4.97") and tx.city_pop == 3495
    assert tx.birth_date == dt.date(1988, 3, 9) and tx.is_fraud is False
    assert problem(tx) is None
    fraud = tx_from(is_fraud="1")
    assert isinstance(fraud, CardTransaction) and fraud.is_fraud


@pytest.mark.parametrize(("changes", "reason"), [
    ({"cc_num": "4111111111111112"}, "bad_card_number"),
    ({"cc_num": "4111 1111"}, "bad_card_number"),
    ({"amt": ""}, "missing_field"),
    ({"amt": "12,5x"}, "bad_amount"),
    ({"amt": "NaN"}, "bad_amount"),
    ({"amt": "-3.00"}, "negative_amount"),
    ({"trans_date_trans_time": "yesterday"}, "bad_timestamp"),
    ({"merch_lat": "91.5"}, "bad_coordinates"),
    ({"long": "-200"}, "bad_coordinates"),
    ({"merch_long": "east"}, "bad_coordinates"),
    ({"merchant": " "}, "missing_field"),
    ({"trans_num": ""}, "missing_field"),
    ({"dob": "09/03/1988"}, "bad_field"),
    ({"is_fraud": "yes"}, "bad_field"),
    # Each defect the hardening issue reproduced, and its neighbours.
    ({"amt": "1e26"}, "bad_amount"),
    ({"amt": "1" + "0" * 30}, "bad_amount"),
    ({"amt": "9999999999.995"}, "bad_amount"),
    ({"amt": "1_000"}, "bad_amount"),
    ({"amt": "\u0661\u0662"}, "bad_amount"),
    ({"merch_lat": "1_0"}, "bad_coordinates"),
    ({"lat": "nan"}, "bad_coordinates"),
    ({"long": "1e400"}, "bad_coordinates"),
    ({"city_pop": "\u0661\u0662"}, "bad_field"),
    ({"city_pop": "9" * 5000}, "bad_field"),
    ({"dob": "1899-12-31"}, "bad_field"),
    ({"dob": "2030-01-01"}, "bad_field"),
    ({"trans_date_trans_time": "0001-01-01T00:30:00+01:00"}, "bad_timestamp"),
    ({"merchant": "fraud_Kub\x00 and Mann"}, "control_character"),
    ({"merchant": "\x1b[2Jwipe"}, "control_character"),
    ({"merchant": "caf\udce9"}, "bad_encoding"),
    ({"merchant": "m" * 257}, "field_too_long"),
    ({"trans_num": "t" * 129}, "field_too_long"),
    ({"category": "c" * 65}, "field_too_long"),
])
def test_each_kind_of_bad_row_has_its_reason(changes: dict[str, str], reason: str) -> None:
    parsed = tx_from(**changes)
    rejection = parsed if isinstance(parsed, Rejection) else problem(parsed)
    assert rejection is not None and rejection.reason == reason


def test_payload_hash_changes_with_any_stored_field_but_not_with_the_label() -> None:
    tx = tx_from()
    assert isinstance(tx, CardTransaction)
    base = payload_hash(tx, "t" * 64)
    assert payload_hash(tx, "t" * 64) == base
    assert payload_hash(tx, "u" * 64) != base
    assert payload_hash(tx, "t" * 64, "2222") != base
    for changed in (tx_from(amt="4.98"), tx_from(merch_lat="36.011294"),
                    tx_from(trans_date_trans_time="2019-01-01 00:00:19")):
        assert isinstance(changed, CardTransaction)
        assert payload_hash(changed, "t" * 64) != base
    labelled = tx_from(is_fraud="1")
    assert isinstance(labelled, CardTransaction)
    assert payload_hash(labelled, "t" * 64) == base


def test_reading_a_file_with_short_rows_and_a_missing_index(tmp_path: Path) -> None:
    path = tmp_path / "no_index.csv"
    header = ",".join(kaggle.COLUMNS)
    good = ",".join(f'"{GOOD[c]}"' for c in kaggle.COLUMNS)
    path.write_text(f"{header}\n{good}\n1,2,3\n")
    rows = list(kaggle.read_rows(path))
    assert isinstance(rows[0][0], CardTransaction)
    assert isinstance(rows[1][0], Rejection) and rows[1][0].reason == "bad_row"


def test_no_bytes_stop_the_reader_and_the_rows_after_them_are_read(tmp_path: Path) -> None:
    """A field over the csv module's old 128 KiB limit, a line over 1 MiB, a NUL and a
    Latin-1 byte: each is one rejection, and every good row after it is read."""
    def line(**changes: str) -> bytes:
        record = {**GOOD, **changes}
        return (",".join(f'"{record[c]}"' for c in kaggle.COLUMNS) + "\n").encode()

    header = (",".join(kaggle.COLUMNS) + "\n").encode()
    bad = [line(merchant="m" * 200_000, trans_num="big-field"),
           line(job="j" * (kaggle.MAX_LINE_CHARS + 10), trans_num="huge-line"),
           line(merchant="a\x00b", trans_num="nul"),
           line(trans_num="latin1").replace(b"Rippin", b"R\xe9ppin")]
    path = tmp_path / "hostile.csv"
    path.write_bytes(header + b"".join(item + line(trans_num=f"good-{i}")
                                       for i, item in enumerate(bad)))
    rows = list(kaggle.read_rows(path))
    reasons = [(p if isinstance(p, Rejection) else problem(p)) for p, _ in rows]
    assert [r.reason if r else None for r in reasons] == [
        "field_too_long", None, "field_too_long", None, "control_character", None,
        "bad_encoding", None]
    assert [raw.get("trans_num") for p, raw in rows if isinstance(p, CardTransaction)
            and problem(p) is None] == ["good-0", "good-1", "good-2", "good-3"]
    assert all(raw["file"] == "hostile.csv" and raw["line"] for _, raw in rows)


def test_a_file_in_another_layout_is_refused_up_front(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("Time,V1,V2,Amount,Class\n0,1,2,3,0\n")
    with pytest.raises(PgfraudError, match="not in the Kaggle credit-card-fraud layout"):
        list(kaggle.read_rows(path))


def test_bytes_are_reported_for_the_progress_bar(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("," + ",".join(kaggle.COLUMNS) + "\n" + ",".join(
        GOOD[c] if c != "merchant" else "m" for c in ("index", *kaggle.COLUMNS)) + "\n")
    seen: list[int] = []
    list(kaggle.read_rows(path, seen.append))
    assert sum(seen) == path.stat().st_size


# -- The fast paths decide as the checks they stand in for ------------------------------

#: Values of every kind for each field: typical ones, edge values, wrong types.
ANY_VALUE: dict[str, st.SearchStrategy[Any]] = {
    "trans_num": st.one_of(st.text(max_size=140), st.sampled_from(["", " ", "t" * 129]),
                           st.none(), st.integers()),
    "merchant": st.one_of(st.text(max_size=270), st.sampled_from(["a\x00b", "caf\udce9"]),
                          st.none()),
    "category": st.one_of(st.text(max_size=70), st.just("\x85")),
    "pan": st.one_of(st.text(alphabet="0123456789 ", max_size=21), st.text(max_size=5),
                     st.sampled_from(["4111111111111111", "4111111111111112"]),
                     st.integers()),
    "amount": st.one_of(st.decimals(allow_nan=True, allow_infinity=True),
                        st.decimals(min_value=0, max_value=10**10, places=3),
                        st.sampled_from([Decimal("9999999999.99"), Decimal("9999999999.995"),
                                         Decimal("-0"), Decimal("sNaN"), Decimal("1e28")]),
                        st.floats(), st.integers()),
    "transacted_at": st.one_of(
        st.datetimes(timezones=st.just(dt.UTC)), st.datetimes(),
        st.datetimes(timezones=st.sampled_from([dt.timezone(dt.timedelta(hours=14)),
                                                dt.timezone(dt.timedelta(hours=-14)),
                                                zoneinfo.ZoneInfo("Europe/Berlin")])),
        st.dates()),
    "merchant_lat": st.one_of(st.floats(), st.floats(-91, 91), st.decimals(), st.integers(),
                              st.none()),
    "merchant_long": st.one_of(st.floats(), st.floats(-181, 181), st.none(), st.booleans()),
    "home_lat": st.one_of(st.none(), st.floats(), st.floats(-91, 91), st.integers(-91, 91)),
    "home_long": st.one_of(st.none(), st.floats(-181, 181), st.decimals()),
    "city_pop": st.one_of(st.none(), st.integers(), st.sampled_from([2**31 - 1, 2**31]),
                          st.booleans(), st.floats()),
    "birth_date": st.one_of(st.none(), st.dates(), st.datetimes()),
    "scenario": st.one_of(st.none(), st.sampled_from([*records.SCENARIOS, "other"])),
}


def simulated(count: int) -> list[CardTransaction]:
    config = StreamConfig(seed=11, start=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), cards=40,
                          merchants=20)
    return [tx for tx, _ in itertools.islice(TransactionStream(config), count)]


SIMULATED = simulated(50)


@settings(max_examples=500)
@given(st.data())
def test_a_row_taken_as_typical_passes_every_check(data: st.DataObject) -> None:
    """records._typical answers for most rows at once: never for a row with a problem."""
    tx = copy.copy(data.draw(st.sampled_from(SIMULATED)))
    for name in data.draw(st.sets(st.sampled_from(sorted(ANY_VALUE)), max_size=3)):
        setattr(tx, name, data.draw(ANY_VALUE[name]))
    if records._typical(tx):
        assert records._first_problem(tx) is None


def test_typical_rows_take_the_fast_path() -> None:
    """The simulator's rows and the Kaggle layout's are typical (the speed depends on it)."""
    parsed = tx_from()
    assert isinstance(parsed, CardTransaction) and records._typical(parsed)
    assert all(records._typical(tx) for tx in simulated(200))


#: Rows with their stored hashes: (transaction, hash of revision 0023 on, the text form
#: revision 0022's producers stored; tests/integration/test_payload_hash.py holds the
#: migration between the two to these). Card token "ab" * 32, last 4 "1111".
PINNED_HASHES = [
    (CardTransaction("0b242abb623afc578575680df30655b9",
                     dt.datetime(2019, 1, 1, 0, 0, 18, tzinfo=dt.UTC), "4111111111111111",
                     Decimal("4.97"), "fraud_Rippin, Kub and Mann", "misc_net", 36.011293,
                     -82.048315, 36.0788, -81.1781, 3495, dt.date(1988, 3, 9)),
     "481ce687e67da524c68ba8e6efcc76f66e123a0775ed6a29ea27c27e4237eacd",
     "28144c69d47077fd7019a90edcca702ef5afe0c1fa8e3fd8a447c700491daca6"),
    (CardTransaction("t-2", dt.datetime(2026, 3, 1, 12, 30, 5, 250,
                                        tzinfo=dt.timezone(dt.timedelta(hours=-5))),
                     "4111111111111111", Decimal("1234.565"), "Caf\u00e9 \u2713", "travel",
                     -0.0, 180.0, None, None, None, None),
     "56161ec498e3b57b7b5cddb95b88d0780f61d7ff0dc38e769ebee275e02c926f",
     "ef91b61ef7bdf70b9b392cbc90a7763d426653664c91dfd1c08a281c9c8f12b5"),
]


@pytest.mark.parametrize(("tx", "digest", "text_form"), PINNED_HASHES)
def test_payload_hashes_are_those_already_stored(tx: CardTransaction, digest: str,
                                                 text_form: str) -> None:
    """Pinned: a row stored before any change to the hash must stay a duplicate when it is
    sent again, not become a conflict (a change to the form needs a revision that
    rewrites the stored hashes, as 0023 did)."""
    assert payload_hash(tx, "ab" * 32) == digest


FIELD_TEXT = st.one_of(
    st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]),
            max_size=12),  # a record on one line
    st.sampled_from(["", " ", "0", "1", "2019-01-01 00:00:18", "2019-01-01T00:00:18+01:00",
                     "4111111111111111", "4.97", "-1", "1e3", "1_0", "nan", "36.0788", "1988-03-09",
                     " 3495 ", "\u0663", "12.", "yes"]))


@settings(max_examples=200)
@given(st.data())
def test_records_are_read_by_column_name_in_any_layout(tmp_path_factory: pytest.TempPathFactory,
                                                       data: st.DataObject) -> None:
    """Columns in any order, extra and repeated columns: each record reads as parse() of
    the dict of its fields (the last column of a repeated name counts), and its raw
    fields are that dict with file and line."""
    names = data.draw(st.permutations(kaggle.COLUMNS))
    names += data.draw(st.lists(st.sampled_from([*kaggle.COLUMNS, "extra", "file"]),
                                max_size=3))
    # Mostly good values, so that many records are transactions.
    rows = data.draw(st.lists(st.tuples(*(
        st.one_of(st.just(GOOD.get(name, "x")), st.just(GOOD.get(name, "x")), FIELD_TEXT)
        for name in names)).map(list), min_size=1, max_size=5))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["index", *names])
    for index, row in enumerate(rows):
        writer.writerow([str(index), *row])
    path = tmp_path_factory.mktemp("layout") / "any.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    read = list(kaggle.read_rows(path))
    assert len(read) == len(rows)
    for line, (row, (parsed, raw)) in enumerate(zip(rows, read, strict=True), start=2):
        fields = {**dict(zip(["index", *names], [str(line - 2), *row], strict=True)),
                  "file": "any.csv", "line": str(line)}
        assert dict(raw) == fields and raw == fields and len(raw) == len(fields)
        # Compared by repr: a 'nan' coordinate parses to NaN, which equals nothing.
        assert repr(parsed) == repr(kaggle.parse(fields))
        if isinstance(parsed, CardTransaction):
            expected_fraud = fields["is_fraud"].strip() == "1"
            assert parsed.is_fraud is expected_fraud
            assert parsed.trans_num == fields["trans_num"].strip()
            lat = fields["lat"].strip()
            assert (parsed.home_lat is None) == (lat == "")
            if lat and not math.isnan(float(lat)):
                assert parsed.home_lat == float(lat)
