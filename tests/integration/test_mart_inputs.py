"""Skipping dbt when nothing changed (pgfraud/monitoring/mart_inputs.py): with nothing
new the marts are left as they are and dbt is not run; any insert, update or delete in
a table the marts read, a project file, the vars or a mart dropped by hand makes the
next refresh run dbt, and its marts equal a full refresh."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from pgfraud.kernel.db import create_database, drop_database
from pgfraud.monitoring import dbt_runner as analytics
from pgfraud.monitoring import mart_inputs
from tests.conftest import Databases
from tests.history import START, produce
from tests.integration.test_monitoring import MARTS, same_rows, snapshot
from tests.monitoring import DAYS, PGFRAUD, VARS, Monitored, advance, decide_by_api

#: The build's stamp, which only a run of dbt changes.
FRESHNESS = "select built_at from analytics.fct_mart_freshness"

#: One change per table the marts read, as an analyst, a migration or the owner would
#: make it (key: the source it must show in; SQL run as the owner).
CHANGES: dict[str, str] = {
    "ingest.quarantine":
        "insert into ingest.quarantine (reason, raw_payload, raw_sha256, source) "
        "values ('bad_amount', '{}', repeat('a', 64), 'csv')",
    "features.transaction_features":
        "delete from features.transaction_features "
        "where transaction_id = (select max(transaction_id) from features.transaction_features)",
    "scoring.scores":
        "delete from scoring.scores "
        "where prediction_id = (select max(prediction_id) from scoring.scores where is_shadow)",
    "scoring.label_events":
        "update scoring.predictions set true_value = not coalesce(true_value, false) "
        "where transaction_id = (select min(transaction_id) from ingest.transactions)",
    "ingest.event_clock":
        "update ingest.event_clock set max_transacted_at = max_transacted_at + interval '1 s'",
    "features.categories":  # same value: an update is noticed even when it changes nothing
        "update features.categories set category_code = category_code "
        "where category = 'travel'",
    "ml.models":
        "update ml.models set threshold = threshold "
        "where model_version = (select max(model_version) from ml.models)",
    "ml.retrain_decisions":
        "insert into ml.retrain_decisions (trigger_reason, new_labels, min_new_labels, "
        "margin, outcome, rule) values ('not_triggered', 0, 100, 0, 'skipped', 'not_triggered')",
    "api.decisions":
        "delete from api.decisions "
        "where transaction_id = (select max(transaction_id) from api.decisions)",
}
#: Read by a source but fingerprinted through another table: scoring.predictions joins
#: scoring.labels, whose every change of true_value appends to scoring.label_events.
STANDS_FOR = {"scoring.labels": "scoring.label_events"}
#: The tables a relation reads: itself, or (for a view) every relation in its rules, down.
READS = """
with recursive reads (relation) as (
    select %s::regclass
    union
    select d.refobjid::regclass
    from reads as r
    join pg_catalog.pg_rewrite as w on w.ev_class = r.relation
    join pg_catalog.pg_depend as d
      on d.classid = 'pg_catalog.pg_rewrite'::regclass and d.objid = w.oid
     and d.refclassid = 'pg_catalog.pg_class'::regclass and d.refobjid <> r.relation
)
select relation::text
from reads
join pg_catalog.pg_class as c on c.oid = relation
where c.relkind in ('r', 'p')
"""


def fingerprint(url: str, variables: dict[str, object] | None = None) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        return mart_inputs.read(conn, analytics._vars_arg(variables or VARS)).fingerprint


def up_to_date(url: str, variables: dict[str, object] | None = None) -> bool:
    with psycopg.connect(url) as conn:
        inputs = mart_inputs.read(conn, analytics._vars_arg(variables or VARS))
        return mart_inputs.unchanged_since(conn, inputs) is not None


def built_at(url: str) -> dt.datetime:
    with psycopg.connect(url) as conn:
        ((stamp,),) = conn.execute(FRESHNESS).fetchall()
    assert isinstance(stamp, dt.datetime)
    return stamp


def test_nothing_new_skips_dbt_and_leaves_the_marts(databases: Databases,
                                                    monitored: Monitored,
                                                    tmp_path: Path) -> None:
    url = databases.clone(monitored.url)
    before, stamp = snapshot(url), built_at(url)
    done = analytics.refresh(url, state_dir=tmp_path, variables=VARS)
    assert done.skipped and done.output == ""
    assert not (tmp_path / "target").exists()  # dbt never started
    assert built_at(url) == stamp
    after = snapshot(url)
    for mart in MARTS:
        assert same_rows(before[mart], after[mart]), mart
    # --force and --full-refresh run dbt whatever the fingerprint says.
    assert not analytics.refresh(url, state_dir=tmp_path, variables=VARS, force=True).skipped
    assert built_at(url) > stamp
    assert analytics.refresh(url, state_dir=tmp_path, variables=VARS).skipped


@pytest.mark.parametrize("source", sorted(CHANGES))
def test_every_change_to_a_source_changes_the_fingerprint(
        databases: Databases, monitored: Monitored, source: str) -> None:
    url = databases.clone(monitored.url)
    assert up_to_date(url)
    before = fingerprint(url)
    with psycopg.connect(url) as conn:
        conn.execute(CHANGES[source])
    after = fingerprint(url)
    changed = {key for key in before["sources"]
               if before["sources"][key] != after["sources"][key]}
    assert source in changed, changed
    assert not up_to_date(url)


def test_every_table_a_dbt_source_reads_is_fingerprinted(monitored: Monitored) -> None:
    """From dbt's manifest and the catalog, not a list kept by hand: a source added to
    the project (or a table a source view starts to read) must be in the fingerprint,
    or `pgfraud dbt build` would skip while that table changes."""
    manifest = json.loads((monitored.dbt_state / "target" / "manifest.json").read_text())
    sources = {f"{s['schema']}.{s['identifier']}" for s in manifest["sources"].values()}
    assert "api.decisions" in sources
    with psycopg.connect(monitored.url) as conn:
        tables = {STANDS_FOR.get(t, t) for source in sorted(sources)
                  for (t,) in conn.execute(READS, (source,)).fetchall()}
    assert {"scoring.scores", "features.transaction_features"} <= tables  # behind views
    fingerprinted = set(fingerprint(monitored.url)["sources"])
    assert tables - fingerprinted == set()
    # Every change above is of a fingerprinted table.
    assert set(CHANGES) <= fingerprinted


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.one_of(st.none(), st.integers(0, 40)), min_size=1, max_size=12))
def test_the_fingerprint_is_equal_exactly_when_the_rows_are(
        monitored_clone: str, steps: list[int | None]) -> None:
    """Any sequence of inserts (None) and deletes (of the i-th row): two states have
    the same fingerprint exactly when they hold the same rows (ids only grow, so a
    state with a new row has a larger max, and one without has fewer rows)."""
    url = monitored_clone
    insert = ("insert into ingest.quarantine (reason, raw_payload, raw_sha256, source) "
              "values ('bad_amount', '{}', md5(random()::text) || md5(random()::text), "
              "'csv')")
    states: list[tuple[frozenset[int], Any]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for step in [*steps, None]:
            ids = frozenset(i for (i,) in conn.execute(
                "select quarantine_id from ingest.quarantine").fetchall())
            states.append((ids, fingerprint(url)["sources"]["ingest.quarantine"]))
            if step is None:
                conn.execute(insert)
            elif ids:
                conn.execute("delete from ingest.quarantine where quarantine_id = %s",
                             (sorted(ids)[step % len(ids)],))
    for ids, print_ in states:
        for other_ids, other_print in states:
            assert (ids == other_ids) == (print_ == other_print)


@pytest.fixture(scope="module")
def monitored_clone(pg_admin_url: str, monitored: Monitored) -> Iterator[str]:
    """One clone for the property test's examples (each compares states it made)."""
    name = f"pgfraud_skip_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_admin_url, name,
                          template=str(conninfo_to_dict(monitored.url)["dbname"]))
    yield url
    drop_database(pg_admin_url, name)


def test_vars_project_files_and_relations_are_part_of_the_fingerprint(
        databases: Databases, monitored: Monitored, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    url = databases.clone(monitored.url)
    assert up_to_date(url)
    assert not up_to_date(url, {**VARS, "drift_window_days": 14})
    # The project's hash covers every file but dbt's own output.
    project = tmp_path / "dbt"
    subprocess.run(["cp", "-r", str(mart_inputs.DBT_PROJECT_DIR), str(project)], check=True)
    digest = mart_inputs.project_digest(project)
    (project / "target").mkdir(exist_ok=True)
    (project / "target" / "run_results.json").write_text("{}")
    assert mart_inputs.project_digest(project) == digest
    model = project / "models" / "marts" / "dim_models.sql"
    model.write_text(model.read_text() + "\n-- a comment\n")
    assert mart_inputs.project_digest(project) != digest
    monkeypatch.setattr(mart_inputs, "project_digest", lambda: "0" * 64)
    assert not up_to_date(url)
    monkeypatch.undo()
    # A mart dropped by hand: the next refresh runs dbt and builds it again.
    with psycopg.connect(url) as conn:
        conn.execute("drop table analytics.fct_model_calibration cascade")
    assert not up_to_date(url)
    assert not analytics.refresh(url, state_dir=tmp_path / "state", variables=VARS).skipped
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from analytics.fct_model_calibration").fetchone()


def test_after_any_change_the_refreshed_marts_equal_a_full_refresh(
        databases: Databases, monitored: Monitored, tmp_path: Path) -> None:
    """New days (transactions, features, scores, labels, the event clock, API decisions)
    and an update of each small table: the refresh runs dbt, and its incremental marts
    equal a full refresh."""
    url = databases.clone(monitored.url)
    advance(url, DAYS, 1)
    produce(url, days=0.2, cards=30, seed=5, start=START + dt.timedelta(days=DAYS, hours=20))
    decide_by_api(url)
    with psycopg.connect(url) as conn:
        for source in ("ingest.quarantine", "features.categories", "ml.models",
                       "ml.retrain_decisions", "scoring.label_events"):
            conn.execute(CHANGES[source])
    stamp = built_at(url)
    assert not analytics.refresh(url, state_dir=tmp_path, variables=VARS).skipped
    assert built_at(url) > stamp
    incremental = snapshot(url)
    assert analytics.refresh(url, state_dir=tmp_path, variables=VARS).skipped
    analytics.build(url, state_dir=tmp_path, full_refresh=True, variables=VARS)
    full = snapshot(url)
    for mart in MARTS:
        assert same_rows(incremental[mart], full[mart]), mart


def test_a_failed_build_leaves_no_fingerprint(databases: Databases, monitored: Monitored,
                                              tmp_path: Path) -> None:
    url = databases.clone(monitored.url)
    with pytest.raises(Exception, match="dbt build failed"):
        analytics.refresh(url, state_dir=tmp_path, variables={"drift_window_days": "x"},
                          force=True)
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from analytics.mart_builds").fetchone() == (0,)
    assert not up_to_date(url)


def test_pgfraud_dbt_build_says_up_to_date(databases: Databases, monitored: Monitored,
                                           tmp_path: Path) -> None:
    """The command line: plain `pgfraud dbt build` with the fixture's vars skips; a build
    of a selection runs dbt and makes the next plain build run it too."""
    url = databases.clone(monitored.url)
    env = {**os.environ, "DATABASE_URL": url, "DBT_TARGET_PATH": str(tmp_path / "target"),
           "DBT_LOG_PATH": str(tmp_path / "logs")}
    vars_arg = analytics._vars_arg(VARS)
    assert vars_arg is not None

    def pgfraud(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PGFRAUD, *args], env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, check=False)

    done = pgfraud("dbt", "build", "--vars", vars_arg)
    assert done.returncode == 0, done.stderr
    assert "marts up to date (nothing new since " in done.stdout
    assert not (tmp_path / "target").exists()
    selected = pgfraud("dbt", "build", "--select", "dim_models", "--vars", vars_arg)
    assert selected.returncode == 0, selected.stdout
    assert not up_to_date(url)



def test_a_database_before_revision_0014_always_runs_dbt(databases: Databases,
                                                          monitored: Monitored) -> None:
    """Without analytics.mart_builds (DATABASE_URL at an older schema) nothing is read
    or stored, and dbt runs as before."""
    url = databases.clone(monitored.url)
    with psycopg.connect(url) as conn:
        conn.execute("drop table analytics.mart_builds")
    with psycopg.connect(url) as conn:
        assert analytics._inputs(conn, VARS) is None
    analytics.forget(url)  # no error
