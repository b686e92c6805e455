"""Card numbers: Luhn checks, HMAC tokenization and masking. No raw PAN leaves here.

>>> pan = "4" + "1" * 15       # the classic test card number
>>> luhn_valid(pan), luhn_valid(pan[:-1] + "2")
(True, False)
>>> mask_pan(pan)
'************1111'
>>> Tokenizer(b"k" * 32).tokenize(pan)[1]
'1111'
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path

from scorer.errors import PgfraudError
from scorer.settings import Settings

log = logging.getLogger(__name__)

#: PAN length range accepted (ISO/IEC 7812: up to 19 digits; Maestro starts at 12).
PAN_MIN_DIGITS = 12
PAN_MAX_DIGITS = 19

# A card-number-looking run: 13-19 digits, optionally grouped by single spaces or dashes,
# standing alone: not inside a longer alphanumeric token (a hex hash) and not part of a
# decimal number (the fraction digits of 1234.0899203870688 in a dump of float columns).
_CANDIDATE = re.compile(r"(?<![0-9A-Za-z.])(?:\d[ -]?){12,18}\d(?![0-9A-Za-z]|\.\d)")


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


def find_card_numbers(text: str) -> list[str]:
    """Luhn-valid 13-19 digit numbers standing alone in ``text`` (for leak scans)."""
    found = []
    for match in _CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(digits)
    return found


def mask_card_numbers(text: str) -> str:
    """``text`` with every standalone 13-19 digit run masked (whatever its checksum)."""
    return _CANDIDATE.sub(lambda m: mask_pan(re.sub(r"[ -]", "", m.group())), text)


class Tokenizer:
    """HMAC-SHA256 of the PAN under a secret key: stable per card, useless without the key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise PgfraudError("the card token key must be at least 16 bytes")
        self._key = key
        self._cache: dict[str, tuple[str, str]] = {}

    def tokenize(self, pan: str) -> tuple[str, str]:
        """``(token, last4)`` for a valid PAN: the only form in which a card is stored."""
        found = self._cache.get(pan)
        if found is None:
            token = hmac.new(self._key, pan.encode("ascii"), hashlib.sha256).hexdigest()
            found = (token, pan[-4:])
            if len(self._cache) >= 65536:
                self._cache.clear()
            self._cache[pan] = found
        return found

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Tokenizer:
        return cls(load_key(settings or Settings.from_env()))


def load_key(settings: Settings) -> bytes:
    """The token key: PGFRAUD_TOKEN_KEY, else the file PGFRAUD_TOKEN_KEY_FILE, else (embedded
    default only) ``PGFRAUD_HOME/token.key``, generated on first use with mode 0600."""
    env_key = os.environ.get("PGFRAUD_TOKEN_KEY")
    if env_key:
        return env_key.encode()
    key_file = os.environ.get("PGFRAUD_TOKEN_KEY_FILE")
    if key_file:
        path = Path(key_file)
        if not path.exists():
            raise PgfraudError(f"PGFRAUD_TOKEN_KEY_FILE={path} does not exist")
        return path.read_text().strip().encode()
    if not settings.uses_embedded:
        raise PgfraudError(
            "DATABASE_URL is set but no card token key is: set PGFRAUD_TOKEN_KEY or "
            "PGFRAUD_TOKEN_KEY_FILE (every producer writing to one database must share it)"
        )
    path = settings.home / "token.key"
    if not path.exists():
        settings.home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another producer created it first
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
            log.info("generated card token key %s (keep it: tokens depend on it)", path)
    return path.read_text().strip().encode()
