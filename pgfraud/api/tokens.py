"""Bearer tokens of API clients: made here, stored only as their SHA-256.

A token is ``pgf_`` and 43 URL-safe characters (256 random bits). Guessing one is hopeless,
so a fast hash is as safe as a slow one, and checking a request costs a dictionary
lookup. The server keeps the live hashes in memory (:class:`TokenBook`) and reloads
them when ``api.clients`` changes (NOTIFY ``pgfraud_api_clients``).

>>> token = new_token()
>>> token.startswith("pgf_"), len(token), len(token_sha256(token))
(True, 47, 64)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import secrets
import threading
from typing import Any

import psycopg

from pgfraud.kernel import queries
from pgfraud.kernel.errors import PgfraudError

PREFIX = "pgf_"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


@dataclasses.dataclass(frozen=True)
class Client:
    name: str
    client_id: int
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    decisions: int
    last_decision_at: dt.datetime | None


def create(conn: psycopg.Connection[Any], name: str) -> str:
    """A new token for client ``name`` (shown once: only its hash is stored)."""
    if not NAME.fullmatch(name):
        raise PgfraudError(f"client name {name!r} must be 1-64 letters, digits, '_', '.' or "
                           "'-', starting with a letter or digit")
    token = new_token()
    try:
        conn.execute(queries.load("api")["create_client"],
                     {"name": name, "token_sha256": token_sha256(token)})
    except psycopg.errors.UniqueViolation:
        raise PgfraudError(f"client {name} already has a live token; revoke it first "
                           f"(pgfraud tokens revoke {name})") from None
    return token


def revoke(conn: psycopg.Connection[Any], name: str) -> None:
    if conn.execute(queries.load("api")["revoke_client"], {"name": name}).fetchone() is None:
        raise PgfraudError(f"client {name} has no live token")


def clients(conn: psycopg.Connection[Any]) -> list[Client]:
    rows = conn.execute(queries.load("api")["list_clients"]).fetchall()
    return [Client(*row) for row in rows]


class TokenBook:
    """The live tokens' hashes, replaced whole on :meth:`load` (any thread may read)."""

    def __init__(self) -> None:
        self._clients: dict[str, int] = {}
        self._lock = threading.Lock()

    def load(self, conn: psycopg.Connection[Any]) -> None:
        rows = conn.execute(queries.load("api")["live_tokens"]).fetchall()
        clients = {str(digest): int(client_id) for digest, client_id, _ in rows}
        with self._lock:
            self._clients = clients

    def __len__(self) -> int:
        return len(self._clients)

    def client_id(self, authorization: str | None) -> int | None:
        """The client an ``Authorization: Bearer <token>`` header belongs to, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        # Looked up by hash: how long a lookup takes says nothing about any token.
        with self._lock:
            return self._clients.get(token_sha256(token.strip()))
