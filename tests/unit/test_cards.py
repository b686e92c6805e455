"""Card numbers: Luhn, tokenization, and the one definition of a card number in text."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgfraud.kernel.card_numbers import (
    PREFILTER_PATTERN,
    find_card_numbers,
    luhn_check_digit,
    luhn_valid,
    mask_card_numbers,
    mask_pan,
    may_hold_card_number,
    may_hold_card_number_field,
    pan_problem,
)
from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.settings import Settings
from producer.cards import Tokenizer, load_key

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


@given(st.binary(min_size=16, max_size=64), st.lists(st.text(max_size=25), max_size=5))
def test_tokens_are_the_hmac_sha256_of_the_card_number(key: bytes, pans: list[str]) -> None:
    """The tokenizer copies one keyed HMAC per card; each token is still HMAC-SHA256 of
    that card alone under the key (what every stored token was made with)."""
    tokenizer = Tokenizer(key)
    for pan in [p for p in pans if p.isascii()] * 2:
        expected = hmac.new(key, pan.encode("ascii"), hashlib.sha256).hexdigest()
        assert tokenizer.tokenize(pan) == (expected, pan[-4:])


def test_short_keys_are_refused() -> None:
    with pytest.raises(PgfraudError, match="16 bytes"):
        Tokenizer(b"short")


def test_mask_pan() -> None:
    assert mask_pan("4111111111111111") == "************1111"
    assert mask_pan("123") == "***"


# The definition, example by example (tests/integration/test_card_numbers_sql.py sends the
# same to ingest.has_card_number): text -> the digits find_card_numbers returns.
EXAMPLES: list[tuple[str, list[str]]] = [
    # Plain runs, 13-19 digits, with anything but a digit touching them.
    ("x 4111111111111111, y", ["4111111111111111"]),
    ("ref4111111111111111", ["4111111111111111"]),
    ("4111111111111111x", ["4111111111111111"]),
    ("a4111111111111111b", ["4111111111111111"]),
    ("ends a sentence 4111111111111111.", ["4111111111111111"]),
    ("4222222222222", ["4222222222222"]),                        # 13 digits
    ("4111111111111111110", ["4111111111111111110"]),            # 19 digits
    ("4111111111111111", ["4111111111111111"]),
    ("14111111111111111110", []),                                # 20 digits: no card
    ("4111111111111112", []),                                    # not Luhn-valid
    ("411111111111", []),                                        # 12 digits
    ("0000000000000000 0000 0000 0000 0000 0004111111111111", []),  # start with 0
    # Grouped: one separator throughout, every layout.
    ("Shop 4111 1111 1111 1111", ["4111111111111111"]),          # 4-4-4-4
    ("id:4111-1111-1111-1111.", ["4111111111111111"]),
    ("4111.1111.1111.1111", ["4111111111111111"]),
    ("x4111 1111 1111 1111 3y", ["41111111111111113"]),          # 4-4-4-4-1
    ("4111-1111-1111-1111-18", ["411111111111111118"]),          # 4-4-4-4-2
    ("4111.1111.1111.1111.110", ["4111111111111111110"]),        # 4-4-4-4-3
    ("4222 2222 2222 2", ["4222222222222"]),                     # 4-4-4-1
    ("3056-9309-0259-04", ["30569309025904"]),                   # 4-4-4-2
    ("3782.8224.6310.005", ["378282246310005"]),                 # 4-4-4-3
    ("amex 3782 822463 10005", ["378282246310005"]),             # 4-6-5
    ("diners 3056-930902-5904", ["30569309025904"]),             # 4-6-4
    ('"5500 0055 5555 5559" and 6011-1111-1111-1117.', ["5500005555555559",
                                                        "6011111111111117"]),
    ("12 4111 1111 1111 1111", ["4111111111111111"]),            # a lone space, then 12
    ("x 4111 1111 1111 1111 y", ["4111111111111111"]),
    ("4111 1111 1111 1111 1234", ["4111111111111111"]),          # 4 digits: no last group
    ("4111 1111-1111 1111", []),                                 # mixed separators
    ("4111  1111  1111  1111", []),                              # double separators
    ("4111 1111 1111 11111", []),                                # a group too long
    ("04111 1111 1111 1111", []),
    ("4111 1111 1111 1112", []),                                 # not Luhn-valid
    # Numbers in other notations: part of a number, not a candidate.
    ("0.4111111111111111", []),
    ("4111111111111111.25", []),
    ("1234.4111111111111111 -3.4111111111111111e-05", []),
    ("x=.4111111111111111*t+.4111111111111111", []),             # minified JavaScript
    (".4111111111111111", []),
    ("4111111111111111e-23 4111111111111111E5", []),
    ("4111111111111111.x no.4111111111111111 4111111111111111exp",
     ["4111111111111111", "4111111111111111", "4111111111111111"]),
    # Hex blobs: a plain run in a hex run of 32+ characters.
    ("abcdef0123456789abcdef012345678901234111111111111111", []),
    ("\\x4111111111111111deadbeefdeadbeefdeadbeef", []),
    ("cafe4111111111111111", ["4111111111111111"]),              # 20 hex characters
    ("deadbeefdeadbe4111111111111111 ef", ["4111111111111111"]),  # 30
    ("deadbeefdeadbeef4111111111111111", []),                    # 32
    # UUIDs: a dash-grouped number starting inside one.
    ("0b2f4111-4111-4111-8111-111abcdef012", []),                # holds a 4-4-4-4-3
    ("id 4111-1111-1111-1111 0b2f0c4e-1111-4111-8111-111abcdef012",
     ["4111111111111111"]),
]


@pytest.mark.parametrize(("text", "expected"), EXAMPLES, ids=[t for t, _ in EXAMPLES])
def test_the_definition_by_example(text: str, expected: list[str]) -> None:
    assert find_card_numbers(text) == expected
    masked = mask_card_numbers(text)
    assert find_card_numbers(masked) == []
    for digits in expected:
        assert digits not in masked and mask_pan(digits) in masked


def test_masking_hides_every_candidate_valid_or_not_and_keeps_the_rest() -> None:
    masked = mask_card_numbers("card 4111 1111 1111 1111 or 4111111111111112, id 12345")
    assert masked == "card ************1111 or ************1112, id 12345"
    assert mask_card_numbers("0004111111111111") == "************1111"
    assert mask_card_numbers("0.4111111111111111") == "0.4111111111111111"


def test_masking_repeats_until_no_candidate_is_left() -> None:
    # Masking the plain run keeps 1111, which starts a 4-4-4-3 with the groups after it.
    text = "4111111111111112 2222 3333 444"
    assert find_card_numbers(text) == []
    assert mask_card_numbers(text) == "************" + "***********3444"
    # Masking the grouped number shortens the hex run around the plain one below 32.
    text = "abcdef4111111111111111abcdef4111 1111 1111 1111"
    assert find_card_numbers(text) == ["4111111111111111"]
    assert mask_card_numbers(text) == "abcdef************1111abcdef************1111"


def test_the_hmac_token_of_a_card_is_not_a_card_number() -> None:
    token = Tokenizer(b"k" * 32).tokenize("4111111111111111")[0]
    assert find_card_numbers(token) == [] and mask_card_numbers(token) == token


# -- Properties ------------------------------------------------------------------------

def luhn_number(length: int) -> st.SearchStrategy[str]:
    """A card number: Luhn-valid, not starting with 0."""
    return st.tuples(st.sampled_from("123456789"),
                     st.text(alphabet="0123456789", min_size=length - 2,
                             max_size=length - 2)).map(
        lambda parts: parts[0] + parts[1] + luhn_check_digit(parts[0] + parts[1]))


#: Card layouts by group lengths; a single group is a plain run.
LAYOUTS = [(n,) for n in range(13, 20)] + [
    (4, 4, 4, 4), (4, 4, 4, 4, 1), (4, 4, 4, 4, 2), (4, 4, 4, 4, 3),
    (4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3), (4, 6, 5), (4, 6, 4),
]


@st.composite
def formatted_card(draw: st.DrawFn) -> tuple[str, str]:
    """``(digits, as written)``: a Luhn-valid number in any layout and separator."""
    layout = draw(st.sampled_from(LAYOUTS))
    digits = draw(luhn_number(sum(layout)))
    separator = draw(st.sampled_from(" .-"))
    groups, start = [], 0
    for size in layout:
        groups.append(digits[start:start + size])
        start += size
    return digits, separator.join(groups)


hex_digests = st.binary(max_size=64).map(lambda b: hashlib.sha256(b).hexdigest())
# 8-4-4-4-12, mostly digits: UUIDs that hold dash-grouped layouts.
uuid_shaped = st.tuples(*(st.text(alphabet="0123456789a", min_size=n, max_size=n)
                          for n in (8, 4, 4, 4, 12))).map("-".join)
floats_text = st.floats().map(repr)
# Numbers as minified JavaScript (plotly.js, inlined in every report) writes them.
javascript_numbers = st.one_of(
    st.floats(0, 1, exclude_max=True).map(lambda f: repr(f)[1:]),           # .027031…
    st.tuples(st.integers(0, 10**19), st.integers(-30, 30)).map(lambda t: f"{t[0]}e{t[1]}"),
)
#: Text made to look like card numbers, and now and then to hold one: digits, separators,
#: hex letters, groups of every length, decimals, digests, UUIDs and real card numbers.
adversarial_text = st.lists(
    st.one_of(
        st.text(alphabet="0123456789 .-+abcdefABCDEFxyz*\t,:", max_size=30),
        st.lists(st.text(alphabet="0123456789", min_size=1, max_size=7), min_size=1,
                 max_size=6).flatmap(lambda groups: st.sampled_from(" .-").map(
                     lambda sep: sep.join(groups))),
        formatted_card().map(lambda card: card[1]),
        floats_text, javascript_numbers, hex_digests, st.uuids().map(str),
        st.uuids().map(lambda u: u.hex),
        st.text(alphabet="0123456789abcdef", min_size=10, max_size=40),  # hex runs near 32
        uuid_shaped, st.text(max_size=10),
    ),
    max_size=8,
).map("".join)


@given(st.one_of(adversarial_text, st.text()))
def test_nothing_is_found_in_masked_text_and_masking_twice_changes_nothing(text: str) -> None:
    masked = mask_card_numbers(text)
    assert find_card_numbers(masked) == []
    assert mask_card_numbers(masked) == masked


glue = st.text(alphabet="ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ_:#", min_size=1, max_size=3)


@given(adversarial_text, glue, formatted_card(), glue, adversarial_text)
def test_a_card_number_glued_into_any_text_is_found_and_masked(
    before: str, left: str, card: tuple[str, str], right: str, after: str
) -> None:
    digits, written = card
    text = before + left + written + right + after
    assert digits in find_card_numbers(text)
    assert left + mask_pan(digits) + right in mask_card_numbers(text)


separators = st.sampled_from([" ", "\t", ",", ", ", "\n"])


@given(separators, st.lists(floats_text))
def test_floats_hold_no_candidate(separator: str, floats: list[str]) -> None:
    text = separator.join(floats)
    assert find_card_numbers(text) == [] and mask_card_numbers(text) == text


@given(st.sampled_from(["+", "-", "*", ",", "(", "=", ":"]), st.lists(javascript_numbers))
def test_javascript_numbers_hold_no_candidate(operator: str, numbers: list[str]) -> None:
    text = operator.join(numbers)
    assert find_card_numbers(text) == [] and mask_card_numbers(text) == text


@given(separators, st.lists(st.one_of(
    hex_digests, st.uuids().map(str), st.uuids().map(lambda u: u.hex),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(str),
)))
def test_digests_uuids_and_timestamps_hold_no_candidate(separator: str,
                                                         values: list[str]) -> None:
    text = separator.join(values)
    assert find_card_numbers(text) == [] and mask_card_numbers(text) == text


@given(st.binary(min_size=16, max_size=64), luhn_number(16))
def test_tokens_hold_no_candidate(key: bytes, pan: str) -> None:
    token = Tokenizer(key).tokenize(pan)[0]
    assert find_card_numbers(token) == [] and mask_card_numbers(token) == token


@given(st.one_of(adversarial_text, st.text()))
def test_the_fast_prefilter_agrees_with_the_portable_one(text: str) -> None:
    assert may_hold_card_number(text) == (re.search(PREFILTER_PATTERN, text) is not None)


@given(st.lists(st.one_of(adversarial_text, st.text()), min_size=3, max_size=3))
def test_fields_joined_by_a_slash_hold_a_card_number_when_one_of_them_does(
        fields: list[str]) -> None:
    """No candidate spans '/', and a lookaround sees it as it sees the edge of the text
    (ingest.accept_batch checks the three text fields of a row in one call)."""
    assert bool(find_card_numbers("/".join(fields))) == any(map(find_card_numbers, fields))


@given(st.one_of(adversarial_text, st.text(), hex_digests, st.uuids().map(lambda u: u.hex)))
def test_the_field_prefilter_is_sure_when_it_says_no(text: str) -> None:
    """A field the producer does not search further holds no candidate: masking leaves
    it as it is. Outside one hex run of 32+ characters it is the portable prefilter."""
    if not may_hold_card_number_field(text):
        assert find_card_numbers(text) == [] and mask_card_numbers(text) == text
    if not re.fullmatch("[0-9A-Fa-f]{32,}", text):
        assert may_hold_card_number_field(text) == may_hold_card_number(text)


@given(st.text(alphabet="0123456789abcdefABCDEF", min_size=32, max_size=80))
def test_a_hex_run_of_32_or_more_holds_no_candidate(text: str) -> None:
    assert not may_hold_card_number_field(text)
    assert find_card_numbers(text) == [] and mask_card_numbers(text) == text


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
