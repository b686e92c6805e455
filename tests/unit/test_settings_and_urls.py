"""Settings from the environment, URL handling and port choice (no database needed)."""

from __future__ import annotations

import socket
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from pgfraud.kernel.db import redact, sqlalchemy_url, without_password
from pgfraud.kernel.embedded import _free_port
from pgfraud.kernel.settings import Settings


def test_defaults_use_the_embedded_cluster_in_the_working_directory(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.uses_embedded
    assert settings.home == tmp_path / ".pgfraud"
    assert settings.pg_bindir is None and settings.pg_os_user is None


def test_environment_overrides() -> None:
    settings = Settings.from_env({
        "DATABASE_URL": "postgresql://u:p@db:5432/x",
        "PGFRAUD_HOME": "/srv/pgfraud",
        "PGFRAUD_PG_BINDIR": "/opt/pg/bin",
        "PGFRAUD_PG_USER": "pgrunner",
        "PGFRAUD_LOG_LEVEL": "debug",
    })
    assert not settings.uses_embedded
    assert settings.home == Path("/srv/pgfraud")
    assert settings.pg_bindir == Path("/opt/pg/bin")
    assert settings.pg_os_user == "pgrunner"
    assert settings.log_level == "DEBUG"


def test_empty_database_url_means_embedded() -> None:
    assert Settings.from_env({"DATABASE_URL": ""}).uses_embedded


def test_redact_hides_the_password_only() -> None:
    assert redact("postgresql://alice:s3cr%40t@db.example:6543/fraud") == (
        "postgresql://alice:***@db.example:6543/fraud"
    )
    assert redact("host=db user=bob dbname=x") == "postgresql://bob@db:5432/x"


def test_sqlalchemy_url_keeps_awkward_passwords_and_options() -> None:
    url = sqlalchemy_url("postgresql://al%40ce:p%40ss%2Fw%3Ard@h:5/d?sslmode=require")
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "al@ce", "p@ss/w:rd", "h", 5, "d"
    )
    assert url.query == {"sslmode": "require"}


def test_without_password_splits_it_out() -> None:
    conninfo, password = without_password("postgresql://u:pw@h:1/d")
    assert password == "pw"
    assert "pw" not in conninfo
    assert conninfo_to_dict(conninfo) == {"user": "u", "host": "h", "port": "1", "dbname": "d"}


def test_free_port_keeps_a_free_preference_and_avoids_a_taken_one() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert _free_port(free) == free
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _free_port(port) != port
