"""One settings object, read from the environment, for the CLI, workers and Alembic.

>>> s = Settings.from_env({"DATABASE_URL": "postgresql://u@db/pgfraud"})
>>> s.database_url, s.uses_embedded
('postgresql://u@db/pgfraud', False)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: The repository root: ``sql/`` and ``migrations/`` live here.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "sql"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the environment variable that sets it.

    ``database_url``  DATABASE_URL: use this server; when unset, the embedded cluster.
                      DATABASE_PASSWORD_FILE: a file holding the password for it (a
                      Docker secret), so the URL itself carries none.
    ``home``          PGFRAUD_HOME: project folder for the embedded cluster and local
                      state (default ``./.pgfraud``).
    ``pg_bindir``     PGFRAUD_PG_BINDIR: PostgreSQL server binaries to use (default:
                      searched on PATH, ``pg_config``, ``/usr/lib/postgresql/*/bin``,
                      then the ``pgserver`` wheel).
    ``pg_os_user``    PGFRAUD_PG_USER: OS user that runs the embedded server when
                      pgfraud runs as root (default ``postgres``, else ``pgfraud``).
    ``log_level``     PGFRAUD_LOG_LEVEL (default ``INFO``).
    """

    database_url: str | None = None
    home: Path = Path(".pgfraud")
    pg_bindir: Path | None = None
    pg_os_user: str | None = None
    log_level: str = "INFO"

    @property
    def uses_embedded(self) -> bool:
        return not self.database_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        bindir = env.get("PGFRAUD_PG_BINDIR")
        return cls(
            database_url=_with_password_file(env.get("DATABASE_URL") or None,
                                             env.get("DATABASE_PASSWORD_FILE") or None),
            home=Path(env.get("PGFRAUD_HOME") or ".pgfraud").expanduser().absolute(),
            pg_bindir=Path(bindir).expanduser() if bindir else None,
            pg_os_user=env.get("PGFRAUD_PG_USER") or None,
            log_level=(env.get("PGFRAUD_LOG_LEVEL") or "INFO").upper(),
        )


def read_secret(path: str | Path, source: str) -> str:
    """A password kept in a file (a Docker secret): its text without the final newline.
    ``source`` names where the path came from, for the error message."""
    from pgfraud.kernel.errors import PgfraudError

    try:
        return Path(path).read_text().rstrip("\r\n")
    except OSError as exc:
        raise PgfraudError(f"cannot read {source} {path}: {exc.strerror}") from None


def _with_password_file(url: str | None, password_file: str | None) -> str | None:
    """``url`` with the password read from ``password_file`` (trailing newline dropped).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
    ...     _ = f.write("s3cret\\n"); f.flush()
    ...     _with_password_file("postgresql://u@db/pgfraud", f.name)
    'postgresql://u:s3cret@db/pgfraud'
    """
    if not url or not password_file:
        return url
    from psycopg.conninfo import make_conninfo

    password = read_secret(password_file, "DATABASE_PASSWORD_FILE")
    if url.startswith(("postgresql://", "postgres://")):
        from urllib.parse import quote, urlsplit, urlunsplit

        parts = urlsplit(url)
        user = parts.username or ""
        host = parts.hostname or ""
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    return make_conninfo(url, password=password)
