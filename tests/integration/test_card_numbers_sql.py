"""ingest.has_card_number is find_card_numbers in SQL: the same answer on the same text.

The file is loaded by hand when the database does not have the function yet, so the test
runs before and after the migration that applies it.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pgfraud.kernel.card_numbers import find_card_numbers
from pgfraud.kernel.settings import SQL_DIR
from tests.unit.test_cards import EXAMPLES, adversarial_text, formatted_card, glue

SQL_FILE = SQL_DIR / "schema" / "ingest" / "has_card_number.sql"

# PostgreSQL text cannot hold NUL.
pg_text = st.one_of(adversarial_text, st.text()).map(lambda s: s.replace("\x00", ""))
# One database, many examples: nothing here writes to it.
reuse_database = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def conn(db_url: str) -> Any:
    with psycopg.connect(db_url, autocommit=True) as conn:
        if conn.execute(
            "select to_regprocedure('ingest.has_card_number(text)') is null"
        ).fetchone() == (True,):
            conn.execute(SQL_FILE.read_text())
        yield conn


def has_card_number(conn: psycopg.Connection[Any], texts: list[str]) -> list[bool]:
    rows = conn.execute(
        "select ingest.has_card_number(t.x) from unnest(%s::text[]) with ordinality as t (x, i)"
        " order by t.i", (texts,)).fetchall()
    return [row[0] for row in rows]


def test_every_example_of_the_definition(conn) -> None:
    texts = [text for text, _ in EXAMPLES]
    assert has_card_number(conn, texts) == [bool(found) for _, found in EXAMPLES]
    assert any(found for _, found in EXAMPLES) and not all(found for _, found in EXAMPLES)


@reuse_database
@given(st.lists(pg_text, min_size=1, max_size=40))
def test_sql_and_python_agree_on_adversarial_text(conn, texts: list[str]) -> None:
    assert has_card_number(conn, texts) == [bool(find_card_numbers(t)) for t in texts]


@reuse_database
@given(st.lists(st.tuples(adversarial_text, glue, formatted_card(), glue, adversarial_text),
                min_size=1, max_size=20))
def test_sql_finds_every_layout_glued_into_text(conn, parts: list[tuple[Any, ...]]) -> None:
    texts = [(before + left + card[1] + right + after).replace("\x00", "")
             for before, left, card, right, after in parts]
    assert has_card_number(conn, texts) == [True] * len(texts)


@reuse_database
@given(st.lists(st.tuples(pg_text, pg_text, pg_text), min_size=1, max_size=20))
def test_three_fields_joined_by_a_slash_hold_one_when_one_of_them_does(
        conn, fields: list[tuple[str, str, str]]) -> None:
    """ingest.accept_batch checks trans_num, merchant and category in one call."""
    joined = has_card_number(conn, ["/".join(three) for three in fields])
    each = has_card_number(conn, [text for three in fields for text in three])
    assert joined == [any(each[3 * i:3 * i + 3]) for i in range(len(fields))]


def test_luhn_and_the_function_contract(conn) -> None:
    row = conn.execute(
        "select ingest.luhn_valid('4111111111111111'), ingest.luhn_valid('4111111111111112'),"
        " ingest.luhn_valid('79927398713'), ingest.luhn_valid('4111 1111'),"
        " ingest.luhn_valid(''), ingest.has_card_number(null)").fetchone()
    assert row == (True, False, True, False, False, None)
    contract = conn.execute(
        "select provolatile, proisstrict, proparallel, proconfig from pg_proc"
        " where oid = 'ingest.has_card_number(text)'::regprocedure").fetchone()
    assert contract == ("i", True, "s", None)  # immutable, strict, parallel safe
