"""Run the dbt project in ``dbt/`` against pgfraud's database.

dbt connects with the standard libpq variables (``dbt/profiles.yml``); :func:`dbt_env`
derives them from the database URL (DATABASE_URL or the embedded cluster), so
``pgfraud dbt build`` needs no profile set-up. dbt runs in a subprocess: it keeps global
state and is not meant to be invoked twice in one process.

>>> env = dbt_env("postgresql://owner:s3cret@127.0.0.1:5433/pgfraud", {})
>>> env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"], env["PGPASSWORD"]
('127.0.0.1', '5433', 'owner', 'pgfraud', 's3cret')
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.settings import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"

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


def build(url: str, *, state_dir: Path | None = None, full_refresh: bool = False,
          variables: Mapping[str, object] | None = None, capture: bool = True) -> str:
    """``dbt build`` (models and their tests); raises with dbt's output if it fails."""
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if variables:
        args += ["--vars", json.dumps(dict(variables))]
    done = run_dbt(args, url, state_dir=state_dir, capture=capture)
    if done.returncode != 0:
        tail = "\n".join((done.stdout or "").splitlines()[-40:])
        raise PgfraudError(f"dbt build failed (exit {done.returncode})"
                           + (f":\n{tail}" if tail else ""))
    return done.stdout or ""


def done_line(output: str) -> str:
    """dbt's closing tally from its output, e.g. ``PASS=96 WARN=0 ERROR=0 … TOTAL=96``.

    >>> done_line("…\\n12:00:01  Done. PASS=3 WARN=0 ERROR=0 SKIP=0 TOTAL=3\\n")
    'PASS=3 WARN=0 ERROR=0 SKIP=0 TOTAL=3'
    """
    return next((line.split("Done. ", 1)[1].strip() for line in output.splitlines()
                 if "Done. " in line), "done")
