"""Alembic, driven from Python: every DDL change is a revision that applies ``sql/`` files.

The revisions in ``migrations/versions`` stay small: each names the SQL files it applies
(``apply_sql_files``), so the SQL lives where a reader looks for it and is executed
verbatim by psycopg, dollar quotes and all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy.exc
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pgfraud.kernel.db import create_engine, database_url, redact
from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.settings import MIGRATIONS_DIR, PROJECT_ROOT, SQL_DIR, Settings

log = logging.getLogger(__name__)


def alembic_config(url: str | None = None) -> Config:
    """The project's Alembic config (``[tool.alembic]`` in pyproject.toml) bound to ``url``."""
    config = Config(toml_file=str(PROJECT_ROOT / "pyproject.toml"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url or database_url()
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str | None = None) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    head = _scripts().get_current_head()
    if head is None:
        raise PgfraudError("no migrations found")
    return head


def apply_sql_files(op: Any, *relative_paths: str) -> None:
    """Execute files under ``sql/`` in order, inside the migration's transaction.

    Called from a revision with Alembic's ``op``. The text goes to psycopg unchanged
    (no bind-parameter parsing), so PL/pgSQL bodies and ``%`` need no escaping.
    """
    if op.get_context().as_sql:
        raise PgfraudError("offline (--sql) migrations are not supported; read sql/ instead")
    raw = op.get_bind().connection.driver_connection
    for relative in relative_paths:
        path = SQL_DIR / relative
        log.info("applying sql/%s", relative)
        raw.execute(path.read_text())


def ensure_schema(*, announce: Callable[[str], None]) -> None:
    """Bring the schema to head before a command that needs it, on the embedded default
    (``announce`` says so); with DATABASE_URL, refuse with the command to run instead:
    another team's database is migrated on purpose, never as a side effect.

    Called by ``replay``, ``import``, ``train``, ``score`` and ``demo``. A login that may
    not read the revision (a restricted role) is let through: the command's own queries
    then say what is missing.
    """
    settings = Settings.from_env()
    url = database_url(settings)
    try:
        current = current_revision(url)
    except sqlalchemy.exc.ProgrammingError:  # no SELECT on alembic_version: cannot tell
        return
    except sqlalchemy.exc.OperationalError:
        if settings.uses_embedded:
            raise
        return  # not up yet: the command's own (patient) connection waits or says so
    head = head_revision()
    if current == head:
        return
    known = current is None or current in {s.revision for s in _scripts().walk_revisions()}
    if not known:
        raise PgfraudError(f"the database is at schema revision {current}, which this "
                           f"pgfraud does not know (its newest is {head}); upgrade pgfraud")
    if settings.uses_embedded:
        announce(f"bringing the embedded database's schema to {head} (was "
                 f"{current or 'empty'}): pgfraud migrate")
        upgrade(url)
        return
    raise PgfraudError(
        f"the database at {redact(url)} is at schema revision {current or '(empty)'}, and "
        f"this pgfraud needs {head}; run `pgfraud migrate` (with the same DATABASE_URL) "
        f"first")
