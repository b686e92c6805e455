"""Card numbers: Luhn checks, finding them in text and masking. Tokenization, the only
form in which a card is stored, is :mod:`producer.cards`.

>>> pan = "4" + "1" * 15       # the classic test card number
>>> luhn_valid(pan), luhn_valid(pan[:-1] + "2")
(True, False)
>>> mask_pan(pan)
'************1111'

A card number in text (the one definition: ``ingest.has_card_number`` in
sql/schema/ingest/has_card_number.sql implements the same, and the leak scanner uses it).
A *candidate* is either

(a) a plain run: a maximal run of 13-19 ASCII digits (not adjacent to another digit), or
(b) a grouped number: digit groups joined by ONE separator used throughout (a single
    space, a dot or a dash) in a card layout: 4-4-4-4, 4-4-4-4 plus a last group of 1-3
    digits, 4-4-4 plus a last group of 1-3 digits, 4-6-5 (Amex) or 4-6-4 (Diners);
    every group is a whole run of digits (the first and last not adjacent to other
    digits). At a position the longest layout wins; text is read left to right and a
    candidate's characters are not reused by another.

Anything else may touch a candidate: letters, punctuation, a lone space and other
digits beyond it (``ref4111111111111111``, ``id:4111-1111-1111-1111.``,
``12 4111 1111 1111 1111``, ``Card no.4111111111111111``). Three exclusions keep
numeric and binary data clean:

* numbers in other notations: a plain run directly preceded by a dot that does not
  follow a letter (``0.4111111111111111``, and ``+.4111111111111111`` as minified
  JavaScript writes decimals), or followed by ``.<digit>`` (``4111111111111111.25``)
  or by an exponent (``4111111111111111e-23``);
* hex blobs: a plain run inside a maximal ``[0-9A-Fa-f]`` run of 32 or more characters
  (a SHA-256 or HMAC digest, a bytea ``\\x`` dump, a UUID without dashes);
* UUIDs: a dash-grouped number starting inside a UUID (8-4-4-4-12 hex digits joined by
  dashes: ``0b2f4111-4111-4111-8111-111abcdef012`` holds a 4-4-4-4-3 layout).

:func:`find_card_numbers` returns the digits of every candidate that passes the Luhn
check and does not start with 0 (no payment card does: ISO/IEC 7812 keeps industry
identifier 0 for other assignments, while runs of zeros and zero-padded fields pass).
:func:`mask_card_numbers` masks every candidate, whatever its digits.

>>> find_card_numbers("ref4111111111111111, 5500.0055.5555.5559 and 0.4111111111111111")
['4111111111111111', '5500005555555559']
>>> mask_card_numbers("call 4111 1111 1111 1111 now")
'call ************1111 now'
"""

from __future__ import annotations

import functools
import logging
import re

log = logging.getLogger(__name__)

#: PAN length range accepted (ISO/IEC 7812: up to 19 digits; Maestro starts at 12).
PAN_MIN_DIGITS = 12
PAN_MAX_DIGITS = 19

# The candidate definition of the module docstring as one regular expression; the
# exclusions are lookarounds, so a scan that meets one moves on a character, as
# ingest.has_card_number (sql/schema/ingest/has_card_number.sql, the same definition written for
# PostgreSQL's engine) does; tests/integration/test_card_numbers_sql.py holds them
# together. "Inside a maximal hex run of 32+ characters" is tested where the run starts:
# some 32-character window of hex, ending 0-32 characters further on, reaches back to or
# over the start (the run is hex itself, so window and run join). A dash-grouped number
# starts inside a UUID when a UUID-shaped window ends 1-36 characters after its start.
_HEX_BLOB = "(?![0-9A-Fa-f]{0,32}(?<=[0-9A-Fa-f]{32}))"
_UUID = ("(?![-0-9A-Fa-f]{1,36}"
         "(?<=[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}))")
_PLAIN = (f"(?<![0-9])(?:(?<![.])|(?<=[A-Za-z][.])){_HEX_BLOB}[0-9]{{13,19}}"
          "(?![0-9])(?![.][0-9])(?![eE][+-]?[0-9])")


def _grouped(sep: str, guard: str = "") -> str:
    """4-4-4-4[-1..3], 4-4-4-1..3, 4-6-4 and 4-6-5, joined by ``sep``, longest first."""
    return (f"(?<![0-9]){guard}[0-9]{{4}}{sep}(?:"
            f"[0-9]{{4}}{sep}[0-9]{{4}}{sep}[0-9]{{4}}(?:{sep}[0-9]{{1,3}})?"
            f"|[0-9]{{4}}{sep}[0-9]{{4}}{sep}[0-9]{{1,3}}"
            f"|[0-9]{{6}}{sep}[0-9]{{4,5}})(?![0-9])")


#: 13 digits with at most one separator between two: every candidate holds such a run,
#: and typical text (names, hex ids, timestamps) fails this one search at once.
PREFILTER_PATTERN = "[0-9](?:[ .-]?[0-9]){12}"

_CANDIDATE = re.compile("|".join([_PLAIN, _grouped(" "), _grouped("[.]"), _grouped("-", _UUID)]))
# PREFILTER_PATTERN for Python's backtracking engine: tried only where a digit run starts,
# unrolled, and a separator is never given back (it is never a digit): 0.5 us instead of
# 2 us on a 32-hex id. It finds the same strings (a unit test checks).
_PREFILTER = re.compile("(?<![0-9])[0-9]" + "[ .-]?+[0-9]" * 12)
# The same, led by its first digit so that the engine skips to digits before it tries a
# match: 0.2 us instead of 0.6 us on a merchant name, slower on text with many digits.
_FIELD_PREFILTER = re.compile("[0-9](?<![0-9]{2})" + "[ .-]?+[0-9]" * 12)
# One hex run of 32 or more characters (a digest, a hex transaction id): it holds no
# candidate, since every digit run in it is inside the run and it has no separator.
_HEX_RUN = re.compile("[0-9A-Fa-f]{32,}")
_SEPARATORS = str.maketrans("", "", " .-")


def luhn_valid(digits: str) -> bool:
    """True when ``digits`` (digits only) passes the Luhn checksum."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` Luhn-valid."""
    for digit in "0123456789":
        if luhn_valid(partial + digit):
            return digit
    raise AssertionError("unreachable: one digit always completes a Luhn checksum")


@functools.lru_cache(maxsize=65536)
def pan_problem(pan: str) -> str | None:
    """Why ``pan`` is not an acceptable card number, or None when it is."""
    if not pan:
        return "card number is empty"
    if not pan.isascii() or not pan.isdigit():
        return "card number has characters other than digits"
    if not PAN_MIN_DIGITS <= len(pan) <= PAN_MAX_DIGITS:
        return f"card number has {len(pan)} digits (allowed {PAN_MIN_DIGITS}-{PAN_MAX_DIGITS})"
    if not luhn_valid(pan):
        return "card number fails the Luhn check"
    return None


def mask_pan(value: str) -> str:
    """Keep the last 4 characters at most, and only when the value is long enough to hide."""
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]


def may_hold_card_number(text: str) -> bool:
    """False when ``text`` holds no candidate for sure (no 13 digits with at most one
    separator between two): one search, the answer for almost any real text."""
    return _PREFILTER.search(text) is not None


def may_hold_card_number_field(value: str) -> bool:
    """:func:`may_hold_card_number` for one short field (a merchant name, a category, a
    transaction id), faster there, and also False for a value that is one hex run of 32
    or more characters: the answer for a typical row in three calls, 0.5 us in all."""
    return _HEX_RUN.fullmatch(value) is None and _FIELD_PREFILTER.search(value) is not None


def find_card_numbers(text: str) -> list[str]:
    """The digits of every candidate in ``text`` that passes the Luhn check and does not
    start with 0, in order (module docstring)."""
    if not may_hold_card_number(text):
        return []
    found = []
    for match in _CANDIDATE.finditer(text):
        digits = match.group().translate(_SEPARATORS)
        if digits[0] != "0" and luhn_valid(digits):
            found.append(digits)
    return found


def mask_card_numbers(text: str) -> str:
    """``text`` with every candidate, Luhn-valid or not, replaced by ``mask_pan(digits)``.

    Masking is repeated on its own output until no candidate is left: the four digits a
    mask keeps can start a grouped number with the groups after it (``1111 2222 3333 444``
    once ``4111111111111111`` before it is masked), and stars in place of digits can
    shorten a hex run below 32 or end a decimal. So ``find_card_numbers`` finds nothing
    in the result, and masking the result again changes nothing.
    """
    while may_hold_card_number(text):
        text, count = _CANDIDATE.subn(_mask_match, text)
        if not count:
            break
    return text


def _mask_match(match: re.Match[str]) -> str:
    return mask_pan(match.group().translate(_SEPARATORS))
