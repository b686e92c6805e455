"""Test fixtures: a real PostgreSQL that the test session starts itself.

Databases are made and dropped by the kernel's ``create_database`` and ``drop_database``
(what the bootstrap model's scratch database uses). The server comes from the same
embedded launcher users run (``pgfraud.kernel.embedded``), in a
temporary project folder, so the suite works on a fresh machine and as root. Set
``PGFRAUD_TEST_DATABASE_URL`` (an admin URL) to run against an existing server instead.

Every test that touches data gets its own database, cloned from a migrated template.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from pgfraud.kernel import migrate
from pgfraud.kernel.db import create_database, drop_database
from pgfraud.kernel.embedded import EmbeddedPostgres
from pgfraud.kernel.settings import Settings
from tests.monitoring import Monitored, populate


def embedded_settings(home: Path) -> Settings:
    """Settings for an embedded cluster in ``home``, whatever DATABASE_URL says."""
    return dataclasses.replace(Settings.from_env(), home=home, database_url=None)


@pytest.fixture(scope="session")
def test_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres | None]:
    """The embedded cluster the session started (None with PGFRAUD_TEST_DATABASE_URL)."""
    if os.environ.get("PGFRAUD_TEST_DATABASE_URL"):
        yield None
        return
    cluster = EmbeddedPostgres(embedded_settings(tmp_path_factory.mktemp("pgfraud-home")))
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def private_cluster(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A started cluster of its own, so restarting it disturbs no other test."""
    home = tmp_path / "home"
    home.mkdir()
    tmp_path.chmod(0o755)
    cluster = EmbeddedPostgres(embedded_settings(home / ".pgfraud"))
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="session")
def pg_admin_url(test_cluster: EmbeddedPostgres | None) -> str:
    external = os.environ.get("PGFRAUD_TEST_DATABASE_URL")
    if external or test_cluster is None:
        assert external
        return external
    return test_cluster.url("postgres")


@pytest.fixture(scope="session")
def pg_server_log(test_cluster: EmbeddedPostgres | None) -> Path | None:
    """The test server's log file: the embedded cluster's, or PGFRAUD_TEST_SERVER_LOG for
    an external server (None when neither is known)."""
    if test_cluster is None:
        external = os.environ.get("PGFRAUD_TEST_SERVER_LOG")
        return Path(external) if external else None
    data_dir = test_cluster.status().data_dir
    assert data_dir is not None
    return data_dir.parent / "postgres.log"


@pytest.fixture(scope="session")
def template_db(pg_admin_url: str) -> Iterator[str]:
    """Name of a database migrated to head, cloned by ``db_url``."""
    name = f"pgfraud_template_{uuid.uuid4().hex[:8]}"
    migrate.upgrade(create_database(pg_admin_url, name))
    yield name
    drop_database(pg_admin_url, name)


@pytest.fixture
def db_url(pg_admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh database at the latest schema revision."""
    name = f"pgfraud_test_{uuid.uuid4().hex[:12]}"
    url = create_database(pg_admin_url, name, template=template_db)
    yield url
    drop_database(pg_admin_url, name)


@pytest.fixture
def empty_db_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database with nothing migrated."""
    name = f"pgfraud_empty_{uuid.uuid4().hex[:12]}"
    yield create_database(pg_admin_url, name)
    drop_database(pg_admin_url, name)


class Databases:
    """Creates databases on the test server (optionally cloned), dropped at teardown."""

    def __init__(self, admin_url: str, template: str) -> None:
        self.admin_url = admin_url
        self.template = template
        self.names: list[str] = []

    def create(self, template: str | None = None) -> str:
        """A new database cloned from ``template`` (default: the migrated template)."""
        name = f"pgfraud_test_{uuid.uuid4().hex[:12]}"
        self.names.append(name)
        return create_database(self.admin_url, name, template=template or self.template)

    def clone(self, url: str) -> str:
        """A copy of the database at ``url`` (which must have no open connections)."""
        return self.create(template=str(conninfo_to_dict(url)["dbname"]))

    def drop_all(self) -> None:
        for name in reversed(self.names):
            drop_database(self.admin_url, name)


@pytest.fixture(scope="module")
def databases(pg_admin_url: str, template_db: str) -> Iterator[Databases]:
    """Module-scoped database factory, for fixtures that build data once per module."""
    factory = Databases(pg_admin_url, template_db)
    yield factory
    factory.drop_all()


@pytest.fixture(scope="session")
def monitored(pg_admin_url: str, template_db: str,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    """A database where produce → score → analysts ran and ``dbt build`` built the
    marts (tests/monitoring.py). Shared by the session: clone it to change anything."""
    name = f"pgfraud_monitored_{uuid.uuid4().hex[:8]}"
    url = create_database(pg_admin_url, name, template=template_db)
    yield populate(url, tmp_path_factory.mktemp("monitored"))
    drop_database(pg_admin_url, name)


@pytest.fixture(scope="session")
def monitored_db(monitored: Monitored) -> str:
    """The URL of the ``monitored`` database."""
    return monitored.url
