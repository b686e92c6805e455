"""Are the marts up to date? The fingerprint of everything a ``dbt build`` reads.

The marts are a function of the source tables, the dbt project, its variables and
dbt's version (no model reads the clock but ``fct_mart_freshness.built_at``, the time
of the build itself). :func:`read` takes all of that in one query and a hash of the
project's files; :func:`unchanged_since` compares it with the fingerprint stored
after the last successful build (``analytics.mart_builds``, migration 0014), and with
the relations dbt left, so a mart dropped or rebuilt by hand is noticed. The runner
(:mod:`pgfraud.monitoring.dbt_runner`) forgets the stored row before dbt runs and
records the fingerprint read *before* the build once dbt succeeds: a row committed
while dbt ran changes the next fingerprint, so it is never skipped over.

>>> digest = project_digest()
>>> len(digest), digest == project_digest()
(64, True)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pgfraud.kernel import queries
from pgfraud.kernel.settings import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
#: dbt's own output and downloads, not the project.
_NOT_PROJECT = {"target", "logs", "dbt_packages"}


@dataclass(frozen=True)
class Inputs:
    """What a build would read, and when the sources were read."""

    fingerprint: dict[str, Any]
    read_at: dt.datetime


def project_digest(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """SHA-256 over the project's files (paths and bytes), dbt's outputs excluded."""
    digest = hashlib.sha256()
    for path in sorted(project_dir.rglob("*")):
        relative = path.relative_to(project_dir)
        if (not path.is_file() or relative.parts[0] in _NOT_PROJECT
                or any(part.startswith(".") for part in relative.parts)):
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def keeps_builds(conn: psycopg.Connection[Any]) -> bool:
    """Whether the database has ``analytics.mart_builds`` (revision 0014 or later)."""
    ((kept,),) = conn.execute(queries.load("marts")["keeps_builds"]).fetchall()
    conn.commit()
    return bool(kept)


def read(conn: psycopg.Connection[Any], variables: str | None) -> Inputs:
    """The sources' fingerprint (one query), the project's hash, ``--vars`` as dbt gets
    them, dbt's version."""
    ((sources, read_at),) = conn.execute(
        queries.load("marts")["source_fingerprint"]).fetchall()
    conn.commit()
    return Inputs({
        "sources": sources,
        "project_sha256": project_digest(),
        "vars": variables,
        "dbt": {name: _version(name) for name in ("dbt-core", "dbt-postgres")},
    }, read_at)


def _relations(conn: psycopg.Connection[Any]) -> Any:
    ((relations,),) = conn.execute(queries.load("marts")["mart_relations"]).fetchall()
    return relations


def unchanged_since(conn: psycopg.Connection[Any], inputs: Inputs) -> dt.datetime | None:
    """When the last successful build read the same inputs (and its relations are still
    there, untouched); None when a build is due."""
    row = conn.execute(queries.load("marts")["last_build"]).fetchone()
    relations = _relations(conn)
    conn.commit()
    if row is None:
        return None
    stored_inputs, read_at, stored_relations, _built_at = row
    assert isinstance(read_at, dt.datetime)
    if stored_inputs != inputs.fingerprint or stored_relations != relations:
        return None
    return read_at


def forget(conn: psycopg.Connection[Any]) -> None:
    """Before dbt runs: until it succeeds, no fingerprint says the marts are current."""
    conn.execute(queries.load("marts")["forget_build"])
    conn.commit()


def record(conn: psycopg.Connection[Any], inputs: Inputs) -> None:
    """After dbt succeeded: the inputs read before it ran, and the relations it left."""
    conn.execute(queries.load("marts")["record_build"], {
        "inputs": Jsonb(inputs.fingerprint), "inputs_read_at": inputs.read_at,
        "relations": Jsonb(_relations(conn))})
    conn.commit()
