"""Card numbers: Luhn, tokenization, masking and the leak scanner."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from producer.cards import (
    Tokenizer,
    find_card_numbers,
    load_key,
    luhn_check_digit,
    luhn_valid,
    mask_card_numbers,
    mask_pan,
    pan_problem,
)
from scorer.errors import PgfraudError
from scorer.settings import Settings

digits = st.text(alphabet="0123456789", min_size=11, max_size=18)


@pytest.mark.parametrize("pan", ["4111111111111111", "5500005555555559", "378282246310005",
                                 "6011111111111117", "79927398713"])
def test_known_valid_numbers(pan: str) -> None:
    assert luhn_valid(pan)


@given(digits)
def test_check_digit_completes_the_checksum_and_any_other_digit_breaks_it(partial: str) -> None:
    check = luhn_check_digit(partial)
    assert luhn_valid(partial + check)
    for other in "0123456789".replace(check, ""):
        assert not luhn_valid(partial + other)


@pytest.mark.parametrize(("pan", "fragment"), [
    ("", "empty"),
    ("4111-1111-1111-1111", "other than digits"),
    ("41111111111", "11 digits"),
    ("41111111111111111111", "20 digits"),
    ("4111111111111112", "Luhn"),
])
def test_pan_problems_are_explained(pan: str, fragment: str) -> None:
    problem = pan_problem(pan)
    assert problem is not None and fragment in problem
    assert pan_problem("4111111111111111") is None


def test_tokens_are_stable_per_key_and_keep_only_the_last_four() -> None:
    a, b = Tokenizer(b"a" * 32), Tokenizer(b"b" * 32)
    token, last4 = a.tokenize("4111111111111111")
    assert (token, last4) == a.tokenize("4111111111111111")
    assert last4 == "1111" and len(token) == 64 and set(token) <= set("0123456789abcdef")
    assert b.tokenize("4111111111111111")[0] != token
    assert a.tokenize("5500005555555559")[0] != token
    assert "4111111111111111" not in token


def test_short_keys_are_refused() -> None:
    with pytest.raises(PgfraudError, match="16 bytes"):
        Tokenizer(b"short")


def test_mask_pan() -> None:
    assert mask_pan("4111111111111111") == "************1111"
    assert mask_pan("123") == "***"


def test_scanner_finds_standalone_numbers_in_any_common_format() -> None:
    text = 'x 4111111111111111, "5500 0055 5555 5559" and 6011-1111-1111-1117.'
    assert find_card_numbers(text) == ["4111111111111111", "5500005555555559",
                                       "6011111111111117"]


def test_scanner_ignores_hex_tokens_non_luhn_and_short_runs() -> None:
    token = Tokenizer(b"k" * 32).tokenize("4111111111111111")[0]
    text = (f"{token} 4111111111111112 41111111 a4111111111111111b 1748736075 "
            "1234.4111111111111111 4111111111111111.25")  # decimals, e.g. floats in a dump
    assert find_card_numbers(text) == []
    assert find_card_numbers("ends a sentence 4111111111111111.") == ["4111111111111111"]


def test_masking_hides_every_long_digit_run() -> None:
    masked = mask_card_numbers("card 4111111111111111 or 4111111111111112, id 12345")
    assert "4111111111111111" not in masked and "4111111111111112" not in masked
    assert masked.endswith("id 12345")
    assert find_card_numbers(masked) == []


def test_key_from_environment_file_or_generated(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PGFRAUD_TOKEN_KEY", raising=False)
    monkeypatch.delenv("PGFRAUD_TOKEN_KEY_FILE", raising=False)
    embedded = Settings(home=tmp_path / "home")
    generated = load_key(embedded)
    key_file = tmp_path / "home" / "token.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_key(embedded) == generated and len(generated) == 64

    external = Settings(database_url="postgresql://db/x", home=tmp_path / "other")
    with pytest.raises(PgfraudError, match="PGFRAUD_TOKEN_KEY"):
        load_key(external)
    (tmp_path / "shared.key").write_text("a-shared-secret-of-enough-length\n")
    monkeypatch.setenv("PGFRAUD_TOKEN_KEY_FILE", str(tmp_path / "shared.key"))
    assert load_key(external) == b"a-shared-secret-of-enough-length"
    monkeypatch.setenv("PGFRAUD_TOKEN_KEY", "from-the-environment-1234")
    assert load_key(external) == b"from-the-environment-1234"
    assert not (tmp_path / "other").exists()
    assert os.environ["PGFRAUD_TOKEN_KEY"]
