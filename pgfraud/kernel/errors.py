"""Errors a user can cause and fix; the CLI prints them as one line and exits non-zero."""

from __future__ import annotations


class PgfraudError(Exception):
    """A problem with a clear message for the user (no traceback needed)."""


class PostgresNotFoundError(PgfraudError):
    """No PostgreSQL server binaries could be found for the embedded cluster."""


class DatabaseUnavailableError(PgfraudError):
    """The database could not be reached."""


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (libpq adds hints below it), or its repr.

    >>> first_line(OSError("connection refused\\n\\tIs the server running?"))
    'connection refused'
    """
    text = str(exc).strip()
    return text.splitlines()[0] if text else repr(exc)
