"""Find PostgreSQL server binaries on this machine for the embedded cluster.

Search order, first hit wins:

1. ``PGFRAUD_PG_BINDIR`` (an explicit choice is never second-guessed);
2. a directory on ``PATH`` holding ``initdb``, ``pg_ctl`` and ``postgres``;
3. ``pg_config --bindir``;
4. ``/usr/lib/postgresql/*/bin``, newest major version first (Debian/Ubuntu layout);
5. the ``pgserver`` wheel's bundled binaries.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pgfraud.kernel.errors import PostgresNotFoundError

REQUIRED = ("initdb", "pg_ctl", "postgres")
SYSTEM_GLOB = "/usr/lib/postgresql/*/bin"


@dataclass(frozen=True)
class ServerBinaries:
    """A directory with a usable PostgreSQL server, and where it was found."""

    bindir: Path
    source: str

    def tool(self, name: str) -> str:
        return str(self.bindir / name)

    @property
    def version(self) -> str:
        """``postgres --version`` without the program name, e.g. ``15.18 (Debian ...)``."""
        out = subprocess.run(
            [self.tool("postgres"), "--version"], capture_output=True, text=True, check=True
        ).stdout
        return out.split(")", 1)[-1].strip() if ")" in out else out.strip()

    @property
    def major_version(self) -> int:
        match = re.search(r"(\d+)", self.version)
        if not match:
            raise PostgresNotFoundError(f"cannot read the version of {self.tool('postgres')}")
        return int(match.group(1))


def is_server_bindir(path: Path) -> bool:
    """True when ``path`` holds executable initdb, pg_ctl and postgres."""
    return all(os.access(path / name, os.X_OK) and (path / name).is_file() for name in REQUIRED)


def _pg_config_bindir(pg_config: str | None) -> Path | None:
    exe = shutil.which(pg_config) if pg_config else None
    if not exe:
        return None
    result = subprocess.run([exe, "--bindir"], capture_output=True, text=True)
    return Path(result.stdout.strip()) if result.returncode == 0 and result.stdout.strip() else None


def _system_bindirs(pattern: str) -> list[Path]:
    def major(path: str) -> int:
        match = re.search(r"/(\d+)/bin$", path)
        return int(match.group(1)) if match else -1

    return [Path(p) for p in sorted(glob.glob(pattern), key=major, reverse=True)]


def pgserver_bindir() -> Path | None:
    """The ``pgserver`` wheel's binaries, without importing it (its import has side effects)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def candidates(
    *,
    env_bindir: Path | None,
    path: str,
    pg_config: str | None = "pg_config",
    system_glob: str = SYSTEM_GLOB,
    use_pgserver: bool = True,
) -> Iterator[tuple[str, Path]]:
    """Every place searched, in order, as ``(source, directory)``."""
    if env_bindir is not None:
        yield "PGFRAUD_PG_BINDIR", env_bindir
        return
    for entry in path.split(os.pathsep):
        if entry:
            yield "PATH", Path(entry)
    config_dir = _pg_config_bindir(pg_config)
    if config_dir is not None:
        yield "pg_config", config_dir
    for system_dir in _system_bindirs(system_glob):
        yield system_glob, system_dir
    if use_pgserver:
        wheel_dir = pgserver_bindir()
        if wheel_dir is not None:
            yield "pgserver wheel", wheel_dir


def find_server_binaries(
    *,
    env_bindir: Path | None = None,
    path: str | None = None,
    pg_config: str | None = "pg_config",
    system_glob: str = SYSTEM_GLOB,
    use_pgserver: bool = True,
) -> ServerBinaries:
    """Return the first usable server, or raise with every place that was searched."""
    searched: list[str] = []
    for source, directory in candidates(
        env_bindir=env_bindir,
        path=os.environ.get("PATH", "") if path is None else path,
        pg_config=pg_config,
        system_glob=system_glob,
        use_pgserver=use_pgserver,
    ):
        if is_server_bindir(directory):
            # PATH often holds symlinks (/usr/local/bin/pg_ctl -> .../15/bin/pg_ctl):
            # record the real installation so its version and neighbours are found.
            real = (directory / "postgres").resolve().parent
            return ServerBinaries(
                bindir=real if is_server_bindir(real) else directory.resolve(), source=source
            )
        searched.append(f"{directory} ({source})")
    where = "; ".join(searched) if searched else "nowhere (no candidates)"
    hint = (
        "set PGFRAUD_PG_BINDIR to a directory holding initdb, pg_ctl and postgres"
        if env_bindir is not None
        else "install PostgreSQL (e.g. `apt-get install postgresql`) or the `pgserver` wheel, "
        "or set DATABASE_URL to use an existing server"
    )
    raise PostgresNotFoundError(
        f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) found; searched: {where}. "
        f"To fix: {hint}."
    )
