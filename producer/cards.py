"""Card tokenization: HMAC-SHA256 of the card number under a secret key. No raw PAN
leaves here; the checks and masking a PAN gets first are :mod:`pgfraud.kernel.card_numbers`.

>>> Tokenizer(b"k" * 32).tokenize("4" + "1" * 15)[1]
'1111'
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from pathlib import Path

from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.settings import Settings

log = logging.getLogger(__name__)


class Tokenizer:
    """HMAC-SHA256 of the PAN under a secret key: stable per card, useless without the key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise PgfraudError("the card token key must be at least 16 bytes")
        self._key = key
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)  # copied per card: no re-keying
        self._cache: dict[str, tuple[str, str]] = {}

    def tokenize(self, pan: str) -> tuple[str, str]:
        """``(token, last4)`` for a valid PAN: the only form in which a card is stored."""
        found = self._cache.get(pan)
        if found is None:
            mac = self._keyed.copy()
            mac.update(pan.encode("ascii"))
            token = mac.hexdigest()
            found = (token, pan[-4:])
            if len(self._cache) >= 65536:
                self._cache.clear()
            self._cache[pan] = found
        return found

    def tokenize_reference(self, value: str) -> str:
        """A source reference (``trans_num``) that holds a card number, as a keyed token:
        ``tok_`` and 64 hex digits, stable per value (re-sends stay idempotent)."""
        digest = hmac.new(self._key, b"reference\x1f" + value.encode("utf-8", "surrogatepass"),
                          hashlib.sha256).hexdigest()
        return f"tok_{digest}"

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
