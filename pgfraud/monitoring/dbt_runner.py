"""Run the dbt project in ``dbt/`` against pgfraud's database.

dbt connects with the standard libpq variables (``dbt/profiles.yml``); :func:`dbt_env`
derives them from the database URL (DATABASE_URL or the embedded cluster), so
``pgfraud dbt build`` needs no profile set-up. dbt runs in a subprocess: it keeps global
state and is not meant to be invoked twice in one process.

:func:`refresh` is the build the commands run: it skips dbt when nothing it reads has
changed since the last successful build (:mod:`pgfraud.monitoring.mart_inputs`);
:func:`build` always runs it.

>>> env = dbt_env("postgresql://owner:s3cret@127.0.0.1:5433/pgfraud", {})
>>> env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"], env["PGPASSWORD"]
('127.0.0.1', '5433', 'owner', 'pgfraud', 's3cret')
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from pgfraud.kernel.db import connect
from pgfraud.kernel.errors import PgfraudError
from pgfraud.monitoring import mart_inputs
from pgfraud.monitoring.mart_inputs import DBT_PROJECT_DIR

__all__ = ["DBT_PROJECT_DIR", "Refresh", "build", "dbt_env", "done_line", "refresh",
           "run_dbt"]

log = logging.getLogger(__name__)

_LIBPQ = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD",
          "dbname": "PGDATABASE"}


def dbt_env(url: str, base: Mapping[str, str] | None = None, *,
            state_dir: Path | None = None) -> dict[str, str]:
    """The environment for a dbt subprocess connecting to ``url``.

    ``state_dir`` (default: dbt's own ``dbt/target`` and ``dbt/logs``) receives dbt's
    compiled artifacts and logs.
    """
    env = dict(os.environ if base is None else base)
    params = conninfo_to_dict(url)
    for key, variable in _LIBPQ.items():
        value = params.get(key)
        if value is not None:
            env[variable] = str(value)
    env.setdefault("PGPORT", "5432")
    env["DBT_PROJECT_DIR"] = str(DBT_PROJECT_DIR)
    env["DBT_PROFILES_DIR"] = env.get("DBT_PROFILES_DIR") or str(DBT_PROJECT_DIR)
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    if state_dir is not None:
        env["DBT_TARGET_PATH"] = str(state_dir / "target")
        env["DBT_LOG_PATH"] = str(state_dir / "logs")
    return env


def dbt_executable() -> str:
    """The ``dbt`` installed beside this Python (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    if beside.exists():
        return str(beside)
    found = shutil.which("dbt")
    if not found:
        raise PgfraudError("dbt is not installed: run `make install` (it is in "
                           "requirements.lock)")
    return found


def run_dbt(args: Sequence[str], url: str, *, state_dir: Path | None = None,
            capture: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``dbt <args>`` against ``url``; returns the finished process (check its
    returncode). With ``capture``, output is collected instead of streamed."""
    return subprocess.run(
        [dbt_executable(), *args], env=dbt_env(url, state_dir=state_dir),
        cwd=DBT_PROJECT_DIR, text=True, check=False,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None)


Variables = Mapping[str, object] | str | None


def _vars_arg(variables: Variables) -> str | None:
    """``--vars`` as dbt gets it: a mapping as JSON (sorted keys), a string as given."""
    if not variables:
        return None
    if isinstance(variables, str):
        return variables
    return json.dumps(dict(variables), sort_keys=True, default=str)


@dataclass(frozen=True)
class Refresh:
    """A build of the marts, or none: ``up_to_date_since`` is set when dbt did not run
    (when the sources were read for the last successful build)."""

    output: str = ""
    up_to_date_since: dt.datetime | None = None

    @property
    def skipped(self) -> bool:
        return self.up_to_date_since is not None


def _inputs(conn: psycopg.Connection[Any], variables: Variables) -> mart_inputs.Inputs | None:
    """What a build would read; None when the database keeps no fingerprint (a schema
    older than revision 0014, or one without a source the fingerprint reads): then dbt
    always runs."""
    if not mart_inputs.keeps_builds(conn):
        log.info("this database keeps no fingerprint of the marts' inputs "
                 "(`pgfraud migrate`); dbt runs every time")
        return None
    try:
        return mart_inputs.read(conn, _vars_arg(variables))
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
        conn.rollback()
        log.info("cannot read the marts' inputs (%s); dbt runs every time",
                 str(exc).splitlines()[0])
        return None


def refresh(url: str, *, state_dir: Path | None = None, full_refresh: bool = False,
            force: bool = False, variables: Variables = None,
            capture: bool = True) -> Refresh:
    """``dbt build``, unless nothing it reads changed since the last successful build
    (sources, project files, vars, dbt's version, the relations it left). ``force`` and
    ``full_refresh`` always run dbt."""
    with connect(url) as conn:  # one connection for the usual answer: nothing new
        inputs = _inputs(conn, variables)
        since = (mart_inputs.unchanged_since(conn, inputs)
                 if inputs is not None and not (force or full_refresh) else None)
    if since is not None:
        return Refresh(up_to_date_since=since)
    return Refresh(output=_build(url, inputs, state_dir=state_dir,
                                 full_refresh=full_refresh, variables=variables,
                                 capture=capture))


def build(url: str, *, state_dir: Path | None = None, full_refresh: bool = False,
          variables: Variables = None, capture: bool = True) -> str:
    """``dbt build`` (models and their tests), always; raises with dbt's output if it
    fails. Keeps the fingerprint :func:`refresh` compares with."""
    with connect(url) as conn:
        inputs = _inputs(conn, variables)
    return _build(url, inputs, state_dir=state_dir,
                  full_refresh=full_refresh, variables=variables, capture=capture)


def _build(url: str, inputs: mart_inputs.Inputs | None, *, state_dir: Path | None,
           full_refresh: bool, variables: Variables, capture: bool) -> str:
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    vars_arg = _vars_arg(variables)
    if vars_arg:
        args += ["--vars", vars_arg]
    if inputs is not None:  # the database keeps a fingerprint: drop it until dbt succeeds
        with connect(url) as conn:
            mart_inputs.forget(conn)
    done = run_dbt(args, url, state_dir=state_dir, capture=capture)
    if done.returncode != 0:
        tail = "\n".join((done.stdout or "").splitlines()[-40:])
        raise PgfraudError(f"dbt build failed (exit {done.returncode})"
                           + (f":\n{tail}" if tail else ""))
    if inputs is not None:
        with connect(url) as conn:
            mart_inputs.record(conn, inputs)
    return done.stdout or ""


def forget(url: str) -> None:
    """Drop the stored fingerprint (before dbt changes the marts in any way), if the
    database keeps one."""
    with connect(url) as conn:
        if mart_inputs.keeps_builds(conn):
            mart_inputs.forget(conn)


def done_line(output: str) -> str:
    """dbt's closing tally from its output, e.g. ``PASS=96 WARN=0 ERROR=0 … TOTAL=96``.

    >>> done_line("…\\n12:00:01  Done. PASS=3 WARN=0 ERROR=0 SKIP=0 TOTAL=3\\n")
    'PASS=3 WARN=0 ERROR=0 SKIP=0 TOTAL=3'
    """
    return next((line.split("Done. ", 1)[1].strip() for line in output.splitlines()
                 if "Done. " in line), "done")
