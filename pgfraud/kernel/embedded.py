"""Embedded PostgreSQL: a private cluster in the project folder, the default backend.

``EmbeddedPostgres(settings).start()`` finds server binaries (:mod:`pgfraud.kernel.pgbin`), runs
``initdb`` once, starts the server on a free loopback port with SCRAM authentication and
returns its URL. Start and stop are idempotent and serialised by a lock file, so two
commands racing to start the cluster get the same server.

Layout (``home`` is ``PGFRAUD_HOME``, default ``./.pgfraud``)::

    home/cluster.json          port, cluster folder, binaries, OS user
    home/superuser.password    generated on first start, mode 0600
    cluster/data/              PGDATA
    cluster/postgres.log       server log

``cluster`` is ``home/postgres``. ``pg_ctl`` refuses to run as root, so as root the
server runs as an unprivileged OS user (``PGFRAUD_PG_USER``, else ``postgres``, else a
``pgfraud`` system user created on demand). That user must be able to reach the data
folder and the binaries; when the project folder sits under a private directory (such
as ``/root``), the cluster lives in ``/var/lib/pgfraud/<hash>-<random>`` instead and
binaries it cannot reach are copied there.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from pgfraud.kernel import queries
from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.pgbin import ServerBinaries, find_server_binaries, is_server_bindir
from pgfraud.kernel.settings import Settings

log = logging.getLogger(__name__)

SUPERUSER = "pgfraud"
DATABASE = "pgfraud"
HOST = "127.0.0.1"
FALLBACK_ROOT = Path("/var/lib/pgfraud")
START_TIMEOUT_S = 60

# Appended to postgresql.conf by initdb time. TCP on loopback only, so the socket path
# length and its directory's permissions never matter.
SERVER_CONF = """
# --- pgfraud embedded defaults ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
shared_buffers = 256MB
jit = off
log_line_prefix = '%m [%p] %q%u@%d '
"""


@dataclass(frozen=True)
class OsUser:
    name: str
    uid: int
    gid: int

    @classmethod
    def current(cls) -> OsUser:
        return cls(pwd.getpwuid(os.getuid()).pw_name, os.getuid(), os.getgid())


@dataclass
class ClusterState:
    """What ``cluster.json`` records; enough to find the cluster again."""

    cluster_dir: str
    bindir: str
    bin_source: str
    os_user: str
    port: int | None = None


@dataclass(frozen=True)
class ClusterStatus:
    initialized: bool
    running: bool
    home: Path
    data_dir: Path | None = None
    port: int | None = None
    pid: int | None = None
    os_user: str | None = None
    bindir: str | None = None
    bin_source: str | None = None
    url: str | None = None


class EmbeddedPostgres:
    """A private PostgreSQL cluster under ``settings.home``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.home

    # ----------------------------------------------------------------- public API
    def start(self) -> str:
        """Initialise (first time) and start the cluster; return the ``pgfraud`` DB URL."""
        with self._locked():
            state = self._load_state() or self._initialise()
            if self._running_port(state) is None:
                self._start_server(state)
            self._ensure_database(state)
            return self.url()

    def stop(self, mode: str = "fast") -> bool:
        """Stop the server (``fast``, ``smart`` or ``immediate``); False if it was not running."""
        with self._locked():
            state = self._load_state()
            if state is None or self._running_port(state) is None:
                return False
            result = self._run(
                state,
                ["pg_ctl", "stop", "-D", self._data_dir(state), "-m", mode, "-w",
                 "-t", str(START_TIMEOUT_S)],
            )
            if result.returncode != 0:
                raise PgfraudError(f"pg_ctl stop failed: {result.stderr.strip()}")
            return True

    def status(self) -> ClusterStatus:
        state = self._load_state()
        if state is None:
            return ClusterStatus(initialized=False, running=False, home=self.home)
        port = self._running_port(state)
        return ClusterStatus(
            initialized=True,
            running=port is not None,
            home=self.home,
            data_dir=Path(self._data_dir(state)),
            port=port or state.port,
            pid=self._pid(state) if port is not None else None,
            os_user=state.os_user,
            bindir=state.bindir,
            bin_source=state.bin_source,
            url=self.url() if port is not None else None,
        )

    def url(self, database: str = DATABASE) -> str:
        """The URL of a database on the cluster (it need not be running)."""
        state = self._load_state()
        if state is None or state.port is None:
            raise PgfraudError(
                f"the embedded cluster in {self.home} was never started; run `pgfraud db start`"
            )
        password = quote(self._password(), safe="")
        return f"postgresql://{SUPERUSER}:{password}@{HOST}:{state.port}/{database}"

    def destroy(self) -> None:
        """Stop the server and delete the cluster and its state (all data is lost)."""
        self.stop(mode="immediate")
        with self._locked():
            state = self._load_state()
            if state is not None:
                shutil.rmtree(state.cluster_dir, ignore_errors=True)
            for name in ("cluster.json", "superuser.password"):
                (self.home / name).unlink(missing_ok=True)

    # ----------------------------------------------------------------- first start
    def _initialise(self) -> ClusterState:
        binaries = find_server_binaries(env_bindir=self.settings.pg_bindir)
        user = self.server_user()
        cluster_dir = self._cluster_dir(user)
        bindir = self._reachable_bindir(binaries, user)
        log.info("initialising PostgreSQL %s (%s) in %s", binaries.version, binaries.source,
                 cluster_dir)
        state = ClusterState(
            cluster_dir=str(cluster_dir), bindir=str(bindir), bin_source=binaries.source,
            os_user=user.name,
        )
        data_dir_existed = (cluster_dir / "data").exists()
        cluster_dir.mkdir(parents=True, exist_ok=True)
        os.chown(cluster_dir, user.uid, user.gid)
        cluster_dir.chmod(0o700)

        password = secrets.token_urlsafe(24)
        password_file = self.home / "superuser.password"
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        initdb_pw = cluster_dir / ".initdb-password"
        initdb_pw.write_text(password + "\n")
        os.chown(initdb_pw, user.uid, user.gid)
        initdb_pw.chmod(0o600)
        try:
            result = self._run(
                state,
                ["initdb", "-D", self._data_dir(state), "-U", SUPERUSER,
                 f"--pwfile={initdb_pw}", "--auth=scram-sha-256", "--encoding=UTF8",
                 "--locale=C"],
            )
        finally:
            initdb_pw.unlink(missing_ok=True)
        if result.returncode != 0:
            # Only what this initdb created: the folder is new (see _cluster_dir) unless
            # the project folder already held an uninitialised cluster directory.
            if not data_dir_existed:
                shutil.rmtree(Path(state.cluster_dir) / "data", ignore_errors=True)
            raise PgfraudError(f"initdb failed: {_tail(result.stderr or result.stdout)}")
        with open(Path(self._data_dir(state)) / "postgresql.conf", "a") as conf:
            conf.write(SERVER_CONF)
        self._save_state(state)
        return state

    def server_user(self) -> OsUser:
        if os.geteuid() != 0:
            return OsUser.current()
        for name in filter(None, (self.settings.pg_os_user, "postgres")):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                if name == self.settings.pg_os_user:
                    raise PgfraudError(f"PGFRAUD_PG_USER={name} is not an OS user") from None
                continue
            if entry.pw_uid == 0:
                raise PgfraudError(f"the server cannot run as {name}: it has uid 0")
            return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
        log.info("creating system user 'pgfraud' to run the embedded PostgreSQL server")
        result = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "pgfraud"],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise PgfraudError(
                "running as root, the server needs an unprivileged OS user and none could be "
                f"created ({result.stderr.strip()}); set PGFRAUD_PG_USER to an existing user"
            )
        entry = pwd.getpwnam("pgfraud")
        return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)

    def _cluster_dir(self, user: OsUser) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        if user.uid == os.geteuid() or self._user_can_reach(user, self.home):
            return self.home / "postgres"
        # Named by the project folder's hash plus a random part: a new checkout at the
        # same path (its predecessor deleted without `pgfraud db destroy`) must not meet
        # the old cluster, whose password went with the old folder.
        digest = hashlib.sha256(str(self.home).encode()).hexdigest()[:16]
        fallback = FALLBACK_ROOT / f"{digest}-{secrets.token_hex(4)}"
        log.info("%s is not reachable by OS user %s; the cluster lives in %s", self.home,
                 user.name, fallback)
        FALLBACK_ROOT.mkdir(parents=True, exist_ok=True)
        FALLBACK_ROOT.chmod(0o755)
        return fallback

    def _reachable_bindir(self, binaries: ServerBinaries, user: OsUser) -> Path:
        if user.uid == os.geteuid() or self._user_can_reach(user, binaries.bindir / "postgres"):
            return binaries.bindir
        # Copy the installation where the server user can execute it, keeping the
        # layout relative links rely on: a wheel's binaries find their bundled
        # libraries in a sibling ``<package>.libs`` folder (auditwheel's rpath).
        wheel = binaries.bindir.parts[-3:] == ("pgserver", "pginstall", "bin")
        root = binaries.bindir.parents[2] if wheel else binaries.bindir.parents[1]
        parts = ["pgserver/pginstall", "pgserver.libs"] if wheel else [binaries.bindir.parent.name]
        digest = hashlib.sha256(str(binaries.bindir).encode()).hexdigest()[:16]
        copy = FALLBACK_ROOT / f"pg-{digest}"
        copied_bindir = copy / binaries.bindir.relative_to(root)
        if not is_server_bindir(copied_bindir):
            log.info("copying PostgreSQL from %s to %s (not reachable by %s)", root, copy,
                     user.name)
            shutil.rmtree(copy, ignore_errors=True)
            for part in parts:
                if (root / part).exists():
                    shutil.copytree(root / part, copy / part, symlinks=True)
            for directory in [copy, *copy.rglob("*")]:
                if directory.is_dir():
                    directory.chmod(0o755)
        return copied_bindir

    @staticmethod
    def _user_can_reach(user: OsUser, path: Path) -> bool:
        result = subprocess.run(
            ["test", "-x", str(path)], user=user.uid, group=user.gid, extra_groups=[],
            capture_output=True,
        )
        return result.returncode == 0

    # ----------------------------------------------------------------- running
    def _start_server(self, state: ClusterState) -> None:
        port = _free_port(state.port)
        logfile = Path(state.cluster_dir) / "postgres.log"
        result = self._run(
            state,
            ["pg_ctl", "start", "-D", self._data_dir(state), "-l", str(logfile), "-w",
             "-t", str(START_TIMEOUT_S), "-o", f"-p {port}"],
        )
        if result.returncode != 0:
            raise PgfraudError(
                f"embedded PostgreSQL did not start (pg_ctl exit {result.returncode}); "
                f"last lines of {logfile}:\n{_tail(_read(logfile))}"
            )
        state.port = port
        self._save_state(state)
        log.info("embedded PostgreSQL listening on %s:%d", HOST, port)

    def _ensure_database(self, state: ClusterState) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            exists = conn.execute(
                queries.load("db")["database_exists"], {"name": DATABASE}
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(DATABASE)))

    def _running_port(self, state: ClusterState) -> int | None:
        """The port of the live server, read from postmaster.pid, or None when stopped."""
        result = self._run(state, ["pg_ctl", "status", "-D", self._data_dir(state)])
        if result.returncode != 0:
            return None
        lines = _read(Path(self._data_dir(state)) / "postmaster.pid").splitlines()
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else state.port
        if port != state.port:
            state.port = port
            self._save_state(state)
        return port

    def _pid(self, state: ClusterState) -> int | None:
        first = _read(Path(self._data_dir(state)) / "postmaster.pid").split("\n", 1)[0]
        return int(first) if first.strip().isdigit() else None

    # ----------------------------------------------------------------- plumbing
    @staticmethod
    def _data_dir(state: ClusterState) -> str:
        return str(Path(state.cluster_dir) / "data")

    def _run(self, state: ClusterState, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """Run a server tool from the cluster's bindir, as the cluster's OS user."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        command = [str(Path(state.bindir) / argv[0]), *argv[1:]]
        entry = pwd.getpwnam(state.os_user)
        as_other = entry.pw_uid != os.geteuid()
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            cwd=state.cluster_dir if Path(state.cluster_dir).is_dir() else None,
            user=entry.pw_uid if as_other else None,
            group=entry.pw_gid if as_other else None,
            extra_groups=[] if as_other else None,
            start_new_session=True,
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _load_state(self) -> ClusterState | None:
        path = self.home / "cluster.json"
        if not path.exists():
            return None
        state = ClusterState(**json.loads(path.read_text()))
        if not (Path(state.cluster_dir) / "data" / "PG_VERSION").exists():
            return None  # a half-made or deleted cluster: initialise again
        return state

    def _save_state(self, state: ClusterState) -> None:
        path = self.home / "cluster.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2) + "\n")
        tmp.replace(path)

    def _password(self) -> str:
        return (self.home / "superuser.password").read_text().strip()


def _free_port(preferred: int | None) -> int:
    """``preferred`` if nothing listens on it, else a port the kernel says is free."""
    if preferred:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((HOST, preferred))
                return preferred
            except OSError:
                log.info("port %d is taken; choosing another", preferred)
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
