"""Schema through Alembic: upgrade -> downgrade -> upgrade, and nothing left behind.

Catalogs are compared with the fingerprint of tests/catalog.py, which
tests/integration/test_schema_catalog.py also uses to prove sql/schema/ builds the same
database as the migrations.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from pgfraud.kernel import migrate
from tests.catalog import SCHEMAS, differences, fingerprint


def pgfraud_schemas(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "select nspname from pg_namespace where nspname = any(%s) order by 1", (SCHEMAS,)
        )]


def test_upgrade_creates_the_schemas(empty_db_url: str) -> None:
    assert pgfraud_schemas(empty_db_url) == []
    migrate.upgrade(empty_db_url)
    assert pgfraud_schemas(empty_db_url) == SCHEMAS
    assert migrate.current_revision(empty_db_url) == migrate.head_revision()


def test_upgrade_downgrade_upgrade_round_trip(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url)
    first = fingerprint(empty_db_url)
    assert first["relations"], "the migration created nothing"
    assert first["triggers"] and first["functions"]
    assert first["default_acl"], "analytics default privileges are missing"

    migrate.downgrade(empty_db_url, "base")
    assert pgfraud_schemas(empty_db_url) == []
    assert migrate.current_revision(empty_db_url) is None
    assert fingerprint(empty_db_url)["default_acl"] == []

    migrate.upgrade(empty_db_url)
    assert fingerprint(empty_db_url) == first


VERSIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"

# What a shipped (frozen) downgrade leaves behind, accepted: 0007's downgrade keeps the
# comments 0007 put on scoring.label_events.labeled_at and labeled_by (columns 0003
# created), until 0003's downgrade drops the table. Harmless; named here so that any
# other difference still fails. (revision it first undoes, part) -> names in the rows.
DOWNGRADE_LEFTOVERS = {
    ("0007", "comments"): {"scoring.label_events.labeled_at", "scoring.label_events.labeled_by"},
}


def test_each_downgrade_restores_the_revision_before(empty_db_url: str) -> None:
    """Downgrading a revision gives exactly the catalog of upgrading to the one before."""
    revisions = sorted(path.name[:4] for path in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
    assert revisions[-1] == migrate.head_revision()
    expected = {}
    for revision in revisions:
        migrate.upgrade(empty_db_url, revision)
        expected[revision] = fingerprint(empty_db_url)
    for revision in reversed(revisions[:-1]):
        migrate.downgrade(empty_db_url, revision)
        after = fingerprint(empty_db_url)
        for (undone, part), names in DOWNGRADE_LEFTOVERS.items():
            if revision < undone:
                after[part] = [row for row in after[part] if row[1] not in names]
        diff = differences(expected[revision], after)
        assert not diff, f"downgrade to {revision} (first: upgraded, second: downgraded):\n" + (
            "\n".join(diff))


def test_upgrade_is_idempotent(db_url: str) -> None:
    before = fingerprint(db_url)
    migrate.upgrade(db_url)
    assert fingerprint(db_url) == before


def test_downgrade_keeps_roles_other_databases_still_use(empty_db_url: str, db_url: str) -> None:
    # db_url (cloned from the migrated template) grants privileges to the roles; tearing
    # down another database must not fail on them nor take them away.
    migrate.upgrade(empty_db_url)
    migrate.downgrade(empty_db_url, "base")
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "select has_any_column_privilege('pgfraud_scorer', 'scoring.scores', 'INSERT')"
        ).fetchone()
    assert row == (True,)
