"""sql/schema/ is the database the migrations build: the same catalog, object for object.

One database is brought to head by Alembic (a clone of the session's template, which
``migrate.upgrade`` built from an empty database); another, created empty, gets the
sql/schema/ files in the order sql/schema/schema.sql lists. Their fingerprints
(tests/catalog.py: relations, columns in order, grants, constraints, indexes, views,
sequences, function definitions, triggers, comments, policies, default privileges, seeded
rows) must be equal. A change to the database is a new migration plus an edit of the
current-schema file that defines the object (sql/README.md); this test fails until both
are made and agree.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.catalog import (
    SCHEMA_DIR,
    SCHEMA_ORDER,
    Fingerprint,
    apply_schema,
    differences,
    fingerprint,
    schema_files,
)
from tests.conftest import Databases


@pytest.fixture(scope="module")
def migrated(databases: Databases) -> Fingerprint:
    return fingerprint(databases.create())


@pytest.fixture(scope="module")
def from_schema_files(databases: Databases) -> Iterator[str]:
    """A database built from sql/schema/ alone (template0: nothing else in it)."""
    url = databases.create(template="template0")
    apply_schema(url)
    yield url


def test_schema_files_build_the_catalog_the_migrations_build(
        migrated: Fingerprint, from_schema_files: str) -> None:
    built = fingerprint(from_schema_files)
    assert migrated["functions"] and migrated["relations"] and migrated["rows"]
    diff = differences(migrated, built)
    assert not diff, (
        "sql/schema/ and the migrations disagree (first: `pgfraud migrate`, second: "
        "sql/schema/schema.sql); edit the current-schema file of each object below:\n"
        + "\n".join(diff))


def test_schema_order_lists_every_schema_file_once() -> None:
    listed = schema_files()
    on_disk = sorted(p for p in SCHEMA_DIR.rglob("*.sql") if p != SCHEMA_ORDER)
    assert len(listed) == len(set(listed)), "a file is listed twice in sql/schema/schema.sql"
    assert sorted(listed) == on_disk, (
        f"not in sql/schema/schema.sql: {sorted(set(on_disk) - set(listed))}; "
        f"listed but missing: {sorted(set(listed) - set(on_disk))}")


# One change each, of the kinds a current-schema file can get wrong: the comparison must
# notice every one, and name the object.
CHANGES = {
    "functions": (
        "create or replace function ml.lock_registry() returns void language sql "
        "as $$ select pg_advisory_xact_lock(hashtext('pgfraud.ml.model')) $$",
        "lock_registry"),
    "relations": ("revoke select on scoring.review_queue from pgfraud_analyst", "review_queue"),
    "column_grants": (
        "revoke insert (latency_ms) on scoring.scores from pgfraud_scorer", "latency_ms"),
    "columns": ("alter table ml.models alter column note set not null", "'note'"),
    "views": (
        "create or replace view scoring.predictions as "
        "select s.*, l.true_value, l.labeled_at, l.labeled_by, l.label_note "
        "from scoring.scores as s left join scoring.labels as l "
        "on l.transaction_id = s.transaction_id and l.true_value is not null",
        "predictions"),
    "constraints": (
        "alter table ml.retrain_decisions drop constraint retrain_decisions_rule_check",
        "retrain_decisions_rule_check"),
    "comments": ("comment on column scoring.label_events.recorded_by is null", "recorded_by"),
    "rows": ("delete from features.categories where category = 'travel'", "categories"),
    "schemas": ("revoke usage on schema truth from pgfraud_producer", "truth"),
}


@pytest.mark.parametrize("part", list(CHANGES))
def test_the_comparison_finds_a_changed_object(
        part: str, migrated: Fingerprint, from_schema_files: str,
        databases: Databases) -> None:
    statement, name = CHANGES[part]
    url = databases.clone(from_schema_files)
    with psycopg.connect(url) as conn:
        conn.execute(statement)
    diff = differences(migrated, fingerprint(url))
    assert diff, f"{statement!r} went unnoticed"
    assert all(line.startswith(f"{part}: ") for line in diff), diff
    assert all(name in line for line in diff), diff
