"""Errors a user can cause and fix; the CLI prints them as one line and exits non-zero."""

from __future__ import annotations


class PgfraudError(Exception):
    """A problem with a clear message for the user (no traceback needed)."""


class PostgresNotFoundError(PgfraudError):
    """No PostgreSQL server binaries could be found for the embedded cluster."""


class DatabaseUnavailableError(PgfraudError):
    """The database could not be reached."""
