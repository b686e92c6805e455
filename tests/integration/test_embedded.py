"""The embedded PostgreSQL launcher, for real: initdb, start, stop, ports, users, binaries."""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import socket
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgfraud.kernel.embedded import FALLBACK_ROOT, EmbeddedPostgres
from pgfraud.kernel.errors import PostgresNotFoundError
from pgfraud.kernel.pgbin import find_server_binaries
from tests.conftest import embedded_settings


@pytest.fixture
def home() -> Iterator[Path]:
    """A project folder any OS user can traverse (as a real checkout usually is)."""
    parent = Path(tempfile.mkdtemp(prefix="pgfraud-embedded-"))
    parent.chmod(0o755)
    yield parent / ".pgfraud"
    EmbeddedPostgres(embedded_settings(parent / ".pgfraud")).destroy()
    shutil.rmtree(parent, ignore_errors=True)


def server_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


def test_start_is_idempotent_and_data_survives_restart(home: Path) -> None:
    cluster = EmbeddedPostgres(embedded_settings(home))
    assert not cluster.status().initialized

    url = cluster.start()
    first = cluster.status()
    assert first.running and first.pid and first.port
    assert cluster.start() == url
    assert cluster.status().pid == first.pid  # the second start did not restart it

    with psycopg.connect(url) as conn:
        conn.execute("create table kept (i int)")
        conn.execute("insert into kept values (42)")
        row = conn.execute("select current_user, current_database()").fetchone()
    assert row == ("pgfraud", "pgfraud")

    assert cluster.stop() is True
    assert cluster.stop() is False
    assert not cluster.status().running
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)

    assert cluster.start() == url
    with psycopg.connect(url) as conn:
        assert conn.execute("select i from kept").fetchone() == (42,)


def test_server_never_runs_as_root(home: Path) -> None:
    cluster = EmbeddedPostgres(embedded_settings(home))
    cluster.start()
    pid = cluster.status().pid
    assert pid is not None
    uid = server_uid(pid)
    if os.geteuid() == 0:
        assert uid != 0
    else:
        assert uid == os.geteuid()


def test_password_is_required_and_kept_private(home: Path) -> None:
    cluster = EmbeddedPostgres(embedded_settings(home))
    url = cluster.start()
    password_file = home / "superuser.password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    wrong = url.replace(password_file.read_text().strip(), "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)


def test_a_taken_port_is_replaced_by_a_free_one(home: Path) -> None:
    cluster = EmbeddedPostgres(embedded_settings(home))
    cluster.start()
    old_port = cluster.status().port
    cluster.stop()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        url = cluster.start()
        new_port = cluster.status().port
    assert new_port != old_port
    with psycopg.connect(url) as conn:
        assert conn.execute("select current_setting('port')::int").fetchone() == (new_port,)


def test_concurrent_starts_share_one_server(home: Path) -> None:
    cluster = EmbeddedPostgres(embedded_settings(home))
    urls: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            urls.append(EmbeddedPostgres(embedded_settings(home)).start())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(urls)) == 1
    assert cluster.status().running


def test_private_project_folder_moves_the_cluster_where_the_server_user_can_reach(
    tmp_path: Path,
) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    home = private / ".pgfraud"
    cluster = EmbeddedPostgres(embedded_settings(home))
    try:
        url = cluster.start()
        with psycopg.connect(url) as conn:
            conn.execute("select 1")
        data_dir = cluster.status().data_dir
        assert data_dir is not None
        if os.geteuid() == 0:
            # The postgres user cannot traverse a 0700 root-owned folder.
            assert data_dir.is_relative_to(FALLBACK_ROOT)
        else:
            assert data_dir.is_relative_to(home)
    finally:
        cluster.destroy()
    assert not (home / "cluster.json").exists()
    if data_dir is not None:
        assert not data_dir.exists()


def test_missing_binaries_give_one_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "no-postgres-here"
    empty.mkdir()
    settings = dataclasses.replace(embedded_settings(tmp_path / ".pgfraud"), pg_bindir=empty)
    with pytest.raises(PostgresNotFoundError, match="no PostgreSQL server binaries") as info:
        EmbeddedPostgres(settings).start()
    assert str(empty) in str(info.value)
    assert "PGFRAUD_PG_BINDIR" in str(info.value)


def test_pgserver_wheel_is_the_last_resort_and_runs(tmp_path: Path) -> None:
    found = find_server_binaries(path="", pg_config=None, system_glob=str(tmp_path / "*"))
    assert found.source == "pgserver wheel"
    assert found.bindir.parts[-3:] == ("pgserver", "pginstall", "bin")

    parent = Path(tempfile.mkdtemp(prefix="pgfraud-wheel-"))
    parent.chmod(0o755)
    settings = dataclasses.replace(embedded_settings(parent / ".pgfraud"), pg_bindir=found.bindir)
    cluster = EmbeddedPostgres(settings)
    try:
        with psycopg.connect(cluster.start()) as conn:
            row = conn.execute("select current_setting('server_version_num')::int").fetchone()
        assert row is not None and row[0] // 10000 == found.major_version
    finally:
        cluster.destroy()
        shutil.rmtree(parent, ignore_errors=True)


def _start_as(uid: int, gid: int, home: Path) -> str:
    """In a forked child running as uid/gid: start a cluster, query it, stop it.
    Returns '' on success, else the child's error."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        message = ""
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            cluster = EmbeddedPostgres(embedded_settings(home))
            with psycopg.connect(cluster.start()) as conn:
                conn.execute("select 1")
            cluster.stop()
        except BaseException as exc:
            message = f"{type(exc).__name__}: {exc}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        message = reader.read()
    os.waitpid(pid, 0)
    return message


def test_works_for_a_normal_user_too(home: Path) -> None:
    if os.geteuid() != 0:
        # Every other test here already runs as a normal user.
        cluster = EmbeddedPostgres(embedded_settings(home))
        cluster.start()
        assert cluster.status().os_user == pwd.getpwuid(os.geteuid()).pw_name
        return
    user = EmbeddedPostgres(embedded_settings(home)).server_user()  # an unprivileged user
    home.parent.chmod(0o777)
    assert _start_as(user.uid, user.gid, home) == ""
    assert (home / "cluster.json").stat().st_uid == user.uid
    assert (home / "postgres" / "data").stat().st_uid == user.uid


def test_a_new_checkout_at_the_same_path_gets_its_own_cluster(tmp_path: Path) -> None:
    """Deleting a checkout without `pgfraud db destroy` leaves its cluster behind (in the
    fallback folder, as root); a fresh clone at the same path must start its own and
    leave the orphan's data alone."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    home = private / ".pgfraud"
    first = EmbeddedPostgres(embedded_settings(home))
    first.start()
    first.stop()
    orphan = first.status().data_dir
    assert orphan is not None
    shutil.rmtree(home)  # the checkout is deleted; a fallback cluster is not
    second = EmbeddedPostgres(embedded_settings(home))
    try:
        with psycopg.connect(second.start()) as conn:
            conn.execute("select 1")
        data_dir = second.status().data_dir
        assert data_dir is not None and data_dir != orphan
        if os.geteuid() == 0:
            assert orphan.exists()  # untouched
    finally:
        second.destroy()
        shutil.rmtree(orphan.parent, ignore_errors=True)  # the orphan's cluster folder
