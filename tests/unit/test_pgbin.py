"""Finding server binaries: search order, versions, and the error when there are none."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgfraud.kernel.errors import PostgresNotFoundError
from pgfraud.kernel.pgbin import find_server_binaries, is_server_bindir


def fake_bindir(path: Path, names: tuple[str, ...] = ("initdb", "pg_ctl", "postgres")) -> Path:
    path.mkdir(parents=True)
    for name in names:
        exe = path / name
        exe.write_text("#!/bin/sh\necho 'postgres (PostgreSQL) 99.1'\n")
        exe.chmod(0o755)
    return path


def search(tmp_path: Path, **kwargs: object):
    defaults: dict[str, object] = {
        "path": "", "pg_config": None, "system_glob": str(tmp_path / "lib/*/bin"),
        "use_pgserver": False,
    }
    defaults.update(kwargs)
    return find_server_binaries(**defaults)  # type: ignore[arg-type]


def test_explicit_bindir_wins(tmp_path: Path) -> None:
    explicit = fake_bindir(tmp_path / "explicit")
    on_path = fake_bindir(tmp_path / "onpath")
    found = search(tmp_path, env_bindir=explicit, path=str(on_path))
    assert (found.bindir, found.source) == (explicit, "PGFRAUD_PG_BINDIR")


def test_path_comes_before_system_dirs(tmp_path: Path) -> None:
    fake_bindir(tmp_path / "lib/15/bin")
    on_path = fake_bindir(tmp_path / "onpath")
    found = search(tmp_path, path=f"{tmp_path / 'empty'}:{on_path}")
    assert (found.bindir, found.source) == (on_path, "PATH")


def test_newest_system_major_version_wins(tmp_path: Path) -> None:
    for major in ("9", "13", "16", "15"):
        fake_bindir(tmp_path / f"lib/{major}/bin")
    assert search(tmp_path).bindir == tmp_path / "lib/16/bin"


def test_incomplete_or_non_executable_dirs_are_skipped(tmp_path: Path) -> None:
    partial = fake_bindir(tmp_path / "partial", names=("initdb", "postgres"))
    assert not is_server_bindir(partial)
    noexec = fake_bindir(tmp_path / "noexec")
    (noexec / "pg_ctl").chmod(0o644)
    assert not is_server_bindir(noexec)
    good = fake_bindir(tmp_path / "lib/14/bin")
    assert search(tmp_path, path=f"{partial}:{noexec}").bindir == good


def test_version_is_read_from_postgres(tmp_path: Path) -> None:
    found = search(tmp_path, path=str(fake_bindir(tmp_path / "x")))
    assert found.major_version == 99


def test_nothing_found_names_every_place_searched(tmp_path: Path) -> None:
    with pytest.raises(PostgresNotFoundError) as info:
        search(tmp_path, path=f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    message = str(info.value)
    assert str(tmp_path / "a") in message and str(tmp_path / "b") in message
    assert "DATABASE_URL" in message and "apt-get install postgresql" in message
