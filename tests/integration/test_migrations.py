"""Schema through Alembic: upgrade -> downgrade -> upgrade, and nothing left behind."""

from __future__ import annotations

import psycopg

from scorer import migrate

SCHEMAS = ["analytics", "features", "ingest", "ml", "scoring", "truth"]

# A fingerprint of everything migration 0001 creates: relations, columns, constraints,
# indexes, functions, triggers, grants and default privileges.
SNAPSHOT_QUERIES = {
    "relations": """
        select n.nspname, c.relname, c.relkind,
               -- grants to others, in a stable order (an owner-only ACL equals NULL)
               coalesce((select string_agg(a.item, ',' order by a.item)
                         from (select e.grantee, e.grantee::regrole || ':' || e.privilege_type
                               from aclexplode(c.relacl) as e) as a (grantee, item)
                         where a.grantee <> c.relowner), '')
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%(schemas)s) order by 1, 2""",
    "columns": """
        select table_schema, table_name, column_name, data_type, is_nullable,
               coalesce(column_default, ''), is_identity
        from information_schema.columns
        where table_schema = any(%(schemas)s) order by 1, 2, ordinal_position""",
    "column_grants": """
        select table_schema, table_name, column_name, grantee, privilege_type
        from information_schema.column_privileges
        where table_schema = any(%(schemas)s) and grantee like 'pgfraud\\_%%'
        order by 1, 2, 3, 4, 5""",
    "constraints": """
        select conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        from pg_constraint where connamespace::regnamespace::text = any(%(schemas)s)
        order by 1, 2""",
    "indexes": """
        select schemaname, indexname, indexdef from pg_indexes
        where schemaname = any(%(schemas)s) order by 1, 2""",
    "functions": """
        select n.nspname, p.proname, pg_get_functiondef(p.oid),
               -- who may execute it (PUBLIC included), in a stable order
               coalesce((select string_agg(a.item, ',' order by a.item)
                         from (select e.grantee::regrole || ':' || e.privilege_type
                               from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner)))
                                    as e
                               where e.grantee <> p.proowner) as a (item)), '')
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any(%(schemas)s) order by 1, 2""",
    "triggers": """
        select t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid)
        from pg_trigger t join pg_class c on c.oid = t.tgrelid
        where not t.tgisinternal and c.relnamespace::regnamespace::text = any(%(schemas)s)
        order by 1, 2""",
    "schema_acl": """
        select nspname, coalesce(nspacl::text, '') from pg_namespace
        where nspname = any(%(schemas)s) order by 1""",
    "default_acl": """
        select defaclnamespace::regnamespace::text, defaclobjtype, defaclacl::text
        from pg_default_acl order by 1, 2""",
}


def snapshot(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            name: conn.execute(query, {"schemas": SCHEMAS}).fetchall()
            for name, query in SNAPSHOT_QUERIES.items()
        }


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
    first = snapshot(empty_db_url)
    assert first["relations"], "the migration created nothing"
    assert first["triggers"] and first["functions"]
    assert first["default_acl"], "analytics default privileges are missing"

    migrate.downgrade(empty_db_url, "base")
    assert pgfraud_schemas(empty_db_url) == []
    assert migrate.current_revision(empty_db_url) is None
    assert snapshot(empty_db_url)["default_acl"] == []

    migrate.upgrade(empty_db_url)
    assert snapshot(empty_db_url) == first


def test_each_downgrade_restores_the_revision_before(empty_db_url: str) -> None:
    """Downgrading a revision gives exactly the catalog of upgrading to the one before."""
    revisions = [f"{n:04d}" for n in range(1, int(migrate.head_revision()) + 1)]
    expected = {}
    for revision in revisions:
        migrate.upgrade(empty_db_url, revision)
        expected[revision] = snapshot(empty_db_url)
    for revision in reversed(revisions[:-1]):
        migrate.downgrade(empty_db_url, revision)
        after = snapshot(empty_db_url)
        for name, rows in expected[revision].items():
            assert after[name] == rows, (
                f"downgrade to {revision}, {name}: only after {set(after[name]) - set(rows)}; "
                f"only before {set(rows) - set(after[name])}")


def test_upgrade_is_idempotent(db_url: str) -> None:
    before = snapshot(db_url)
    migrate.upgrade(db_url)
    assert snapshot(db_url) == before


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
