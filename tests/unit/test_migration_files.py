"""Shipped migrations are frozen, and every migration file is one a revision applies.

sql/migrations/SHA256SUMS pins every file under sql/migrations/ (`sha256sum` format, so
`cd sql/migrations && sha256sum -c SHA256SUMS` checks it too). A database that ran a
revision never runs it again, so an edited file would change only new databases: a change
is a new revision with its own folder, plus an edit of sql/schema/ (sql/README.md).
The revisions in migrations/versions/ name their files in ``apply_sql_files(op, ...)``,
relative to sql/; each file lives in the folder of the revision that first applies it.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = ROOT / "sql"
MIGRATIONS_SQL = SQL_DIR / "migrations"
MANIFEST = MIGRATIONS_SQL / "SHA256SUMS"
VERSIONS = ROOT / "migrations" / "versions"


def pinned() -> dict[str, str]:
    """Path (relative to sql/migrations/) -> sha256, from the manifest."""
    hashes = {}
    for line in MANIFEST.read_text().splitlines():
        digest, path = line.split(maxsplit=1)
        hashes[path.lstrip("*")] = digest
    return hashes


def shipped_files() -> dict[str, Path]:
    return {path.relative_to(MIGRATIONS_SQL).as_posix(): path
            for path in sorted(MIGRATIONS_SQL.rglob("*"))
            if path.is_file() and path != MANIFEST}


def applied_files() -> dict[str, list[str]]:
    """Revision file stem (``0001_foundation``) -> the paths its ``apply_sql_files`` calls
    name, relative to sql/, upgrade and downgrade."""
    applied = {}
    for revision in sorted(VERSIONS.glob("*.py")):
        paths = []
        for node in ast.walk(ast.parse(revision.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "apply_sql_files"):
                paths += [arg.value for arg in node.args
                          if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
        applied[revision.stem] = paths
    return applied


def test_shipped_migrations_are_unchanged() -> None:
    hashes = pinned()
    for name, path in shipped_files().items():
        if name in hashes:
            assert hashlib.sha256(path.read_bytes()).hexdigest() == hashes[name], (
                f"shipped migrations are frozen: add a new revision instead of editing "
                f"sql/migrations/{name}")


def test_every_migration_file_is_pinned() -> None:
    unpinned = sorted(shipped_files().keys() - pinned().keys())
    assert not unpinned, (
        f"not pinned in sql/migrations/SHA256SUMS: {unpinned}; once the revision is final, "
        f"pin it: cd sql/migrations && sha256sum {' '.join(unpinned)} >> SHA256SUMS")


def test_every_pinned_file_is_still_there() -> None:
    gone = sorted(pinned().keys() - shipped_files().keys())
    assert not gone, (f"shipped migrations are frozen: {gone} pinned in "
                      f"sql/migrations/SHA256SUMS but missing")


def test_revisions_apply_existing_files_from_their_own_folders() -> None:
    applied = applied_files()
    assert all(applied.values()), "a revision names no SQL file"
    earlier: list[str] = []
    for revision, paths in applied.items():
        earlier.append(revision)
        for path in paths:
            assert (SQL_DIR / path).is_file(), f"{revision} applies sql/{path}, which is missing"
            folder = Path(path).parts[:2]
            assert folder[0] == "migrations" and folder[1] in earlier, (
                f"{revision} applies sql/{path}: a revision's files live in "
                f"sql/migrations/{revision}/ (or the folder of the earlier revision that "
                f"first applied them)")


def test_every_migration_file_is_applied_by_a_revision() -> None:
    named = {path.removeprefix("migrations/")
             for paths in applied_files().values() for path in paths}
    unused = sorted(shipped_files().keys() - named)
    assert not unused, f"no revision in migrations/versions/ applies {unused} (in sql/migrations/)"
