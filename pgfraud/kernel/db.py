"""The one place that resolves the database URL, opens connections and makes scratch
databases.

With ``DATABASE_URL`` set, every connection goes to that server; otherwise to the
embedded cluster, which is started on first use. A scratch database (the bootstrap
model's simulated history, every test's own database) is made and dropped here too.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgfraud.kernel.embedded import EmbeddedPostgres
from pgfraud.kernel.errors import DatabaseUnavailableError, PgfraudError, first_line
from pgfraud.kernel.settings import Settings

log = logging.getLogger(__name__)


def database_url(settings: Settings | None = None, *, start: bool = True) -> str:
    """The URL everything connects to; starts the embedded cluster when it is the default."""
    settings = settings or Settings.from_env()
    if settings.database_url:
        return settings.database_url
    cluster = EmbeddedPostgres(settings)
    return cluster.start() if start else cluster.url()


def connect(url: str | None = None, *, role: str | None = None,
            **kwargs: Any) -> psycopg.Connection[Any]:
    """Open a psycopg connection; an unreachable server becomes one clear error.

    With ``role``, the session acts as that role (``set role``), so a process runs with
    the least privilege it needs even when it logs in as the owner.
    """
    url = url or database_url()
    try:
        conn = psycopg.connect(url, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        # The first line says why (refused, starting up); the rest are libpq's hints.
        raise DatabaseUnavailableError(
            f"cannot connect to {redact(url)}: {first_line(exc)}"
        ) from exc
    if role:
        try:
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
            conn.commit()
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.InvalidParameterValue):
            user = conninfo_to_dict(url).get("user", "this user")
            conn.close()
            raise PgfraudError(
                f"{user} may not act as {role}; run `pgfraud migrate` first, or as the "
                f"owner: grant {role} to {user}"
            ) from None
    return conn


def connect_patiently(url: str | None = None, *, role: str | None = None,
                      timeout_s: float = 120.0, **kwargs: Any) -> psycopg.Connection[Any]:
    """:func:`connect`, retried with backoff (0.2 s doubling to 5 s) while the server is
    unreachable (restarting, still starting up), for up to ``timeout_s`` seconds; then the
    last :class:`DatabaseUnavailableError`. For long-running writers such as producers."""
    deadline = time.monotonic() + timeout_s
    backoff = 0.2
    while True:
        try:
            return connect(url, role=role, **kwargs)
        except DatabaseUnavailableError as exc:
            if time.monotonic() + backoff > deadline:
                raise
            log.warning("%s; retrying in %.1f s", exc, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, 5.0)


def database_url_for(url: str, dbname: str) -> str:
    """The same server and login as ``url``, another database."""
    return make_conninfo("", **{**conninfo_to_dict(url), "dbname": dbname})


def create_database(url: str, name: str, *, template: str | None = None,
                    purpose: str = "this needs a scratch database") -> str:
    """Create database ``name`` (a copy of ``template`` if given) on ``url``'s server and
    return its URL. A login without CREATEDB gets one clear error naming ``purpose``."""
    statement = sql.SQL("create database {}").format(sql.Identifier(name))
    if template:
        statement += sql.SQL(" template {}").format(sql.Identifier(template))
    try:
        with connect(url, autocommit=True) as conn:
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        user = conninfo_to_dict(url).get("user", "this user")
        raise PgfraudError(
            f"{purpose}, and {user} may not create databases; grant it CREATEDB "
            f"(alter role {user} createdb) or run it as the owner") from None
    return database_url_for(url, name)


def drop_database(url: str, name: str) -> None:
    """Drop database ``name`` on ``url``'s server, closing its sessions first."""
    with connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(
            sql.Identifier(name)))


@contextmanager
def scratch_database(url: str, prefix: str, *, template: str | None = None,
                     purpose: str = "this needs a scratch database") -> Iterator[str]:
    """A new database on ``url``'s server, named ``prefix`` plus the process id and a
    random suffix, dropped on the way out even after an error (a failed drop is logged,
    not raised over the error that is already on its way). Yields its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    scratch = create_database(url, name, template=template, purpose=purpose)
    try:
        yield scratch
    finally:
        try:
            drop_database(url, name)
        except (psycopg.Error, PgfraudError) as exc:
            log.warning("could not drop scratch database %s: %s", name, exc)


def sqlalchemy_url(url: str) -> sqlalchemy.URL:
    """The same database as a SQLAlchemy URL on the psycopg (3) driver."""
    params = conninfo_to_dict(url)
    query = {
        k: str(v) for k, v in params.items()
        if k not in {"host", "port", "user", "password", "dbname"} and v is not None
    }
    port = params.get("port")
    return sqlalchemy.URL.create(
        "postgresql+psycopg",
        username=_opt(params.get("user")),
        password=_opt(params.get("password")),
        host=_opt(params.get("host")),
        port=int(port) if port else None,
        database=_opt(params.get("dbname")),
        query=query,
    )


def create_engine(url: str | None = None, **kwargs: Any) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(sqlalchemy_url(url or database_url()), **kwargs)


def redact(url: str) -> str:
    """``url`` with its password masked, for messages and logs."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparseable database URL>"
    if params.get("password"):
        params["password"] = "***"
    host, port, db = params.get("host", "localhost"), params.get("port", "5432"), params.get(
        "dbname", ""
    )
    user = params.get("user", "")
    return f"postgresql://{user}{':***' if params.get('password') else ''}@{host}:{port}/{db}"


def without_password(url: str) -> tuple[str, str | None]:
    """Split ``url`` into a conninfo string without the password, and the password."""
    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    return make_conninfo("", **params), (str(password) if password is not None else None)


def _opt(value: object) -> str | None:
    return None if value is None else str(value)
