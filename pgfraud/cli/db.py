"""``pgfraud db`` (the embedded PostgreSQL cluster, or the DATABASE_URL server) and
``pgfraud migrate`` (the schema: Alembic revisions that run ``sql/`` files)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click
from psycopg import sql

from pgfraud.kernel import migrate as migrations
from pgfraud.kernel import queries
from pgfraud.kernel.db import connect, database_url, redact, without_password
from pgfraud.kernel.embedded import EmbeddedPostgres
from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.names import ROLES
from pgfraud.kernel.pgbin import find_server_binaries
from pgfraud.kernel.settings import Settings, read_secret


@click.group()
def db() -> None:
    """Start, stop and inspect the database.

    The embedded cluster lives in PGFRAUD_HOME (default ./.pgfraud). As root, the
    server runs as an unprivileged OS user (PGFRAUD_PG_USER, default postgres).
    """


@db.command()
def start() -> None:
    """Start the embedded cluster (initialising it the first time); idempotent."""
    settings = Settings.from_env()
    if not settings.uses_embedded:
        _check_external(settings)
        return
    cluster = EmbeddedPostgres(settings)
    was_running = cluster.status().running
    url = cluster.start()
    state = "already running" if was_running else "started"
    click.echo(f"embedded PostgreSQL {state}: {redact(url)}")
    click.echo(f"data: {cluster.status().data_dir}")
    click.echo("connect: pgfraud db psql   |   export DATABASE_URL=$(pgfraud db url)")


@db.command()
@click.option("--immediate", is_flag=True, help="Abort without a clean shutdown (crash test).")
def stop(immediate: bool) -> None:
    """Stop the embedded cluster; idempotent."""
    settings = Settings.from_env()
    if not settings.uses_embedded:
        click.echo("DATABASE_URL is set: pgfraud does not manage that server; nothing stopped.")
        return
    stopped = EmbeddedPostgres(settings).stop(mode="immediate" if immediate else "fast")
    click.echo("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL is not running")


@db.command()
def status() -> None:
    """Show whether the database is up, where, and which binaries it runs.

    Exit status: 0 running, 3 stopped or never initialised (as pg_ctl status).
    """
    settings = Settings.from_env()
    if not settings.uses_embedded:
        _check_external(settings)
        return
    info = EmbeddedPostgres(settings).status()
    if not info.initialized:
        click.echo(f"no embedded cluster in {info.home} yet; `pgfraud db start` creates it")
        sys.exit(3)
    rows = [
        ("state", "running" if info.running else "stopped"),
        ("url", redact(info.url) if info.url else "-"),
        ("port", str(info.port or "-")),
        ("pid", str(info.pid or "-")),
        ("data", str(info.data_dir)),
        ("server user", info.os_user or "-"),
        ("binaries", f"{info.bindir} ({info.bin_source})"),
    ]
    for key, value in rows:
        click.echo(f"{key:<12} {value}")
    if not info.running:
        sys.exit(3)


@db.command()
def url() -> None:
    """Print the database URL (password included), e.g. for DATABASE_URL."""
    click.echo(database_url())


@db.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("psql_args", nargs=-1, type=click.UNPROCESSED)
def psql(psql_args: tuple[str, ...]) -> None:
    """Open psql on the database; extra arguments go to psql.

    \b
    Examples:
      pgfraud db psql
      pgfraud db psql -c '\\dn'
      pgfraud db psql -- --help      (psql's own help)
    """
    target = database_url()
    conninfo, password = without_password(target)
    executable = shutil.which("psql") or _bundled_psql()
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    os.execvpe(executable, [executable, conninfo, *psql_args], env)


@db.command()
@click.argument("user")
@click.option("--role", "member_of", required=True,
              type=click.Choice(sorted(ROLES)),
              help="The pgfraud group role the login acts with.")
@click.option("--password-file", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="File holding the password (e.g. a Docker secret).")
def login(user: str, member_of: str, password_file: Path) -> None:
    """Create (or update) a login USER that is a member of a pgfraud role.

    Idempotent: the password is set again and the membership granted again. Needs a
    role that may create roles (the owner who ran `pgfraud migrate`).

    \b
    Example (what the compose stack runs for Grafana):
      pgfraud db login pgfraud_grafana --role pgfraud_reader \\
          --password-file /run/secrets/grafana_db_password
    """
    password = read_secret(password_file, "--password-file")
    if not password:
        raise PgfraudError(f"{password_file} is empty")
    with connect(autocommit=True) as conn:
        # fetchone() of a zero-column row is (), which is false: compare with None.
        exists = conn.execute(queries.load("db")["role_exists"],
                              {"name": user}).fetchone() is not None
        verb = sql.SQL("alter role" if exists else "create role")
        # Utility statements take no bind parameters: the password goes in as a literal.
        conn.execute(sql.SQL("{} {} login password {}").format(
            verb, sql.Identifier(user), sql.Literal(password)))
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(member_of),
                                                      sql.Identifier(user)))
    click.echo(f"login {user} {'updated' if exists else 'created'}, member of {member_of}")


@db.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def destroy(yes: bool) -> None:
    """Stop the embedded cluster and delete its data (irreversible)."""
    settings = Settings.from_env()
    if not settings.uses_embedded:
        raise PgfraudError("DATABASE_URL is set: pgfraud never deletes an external server's data")
    cluster = EmbeddedPostgres(settings)
    info = cluster.status()
    if not info.initialized:
        click.echo(f"no embedded cluster in {settings.home}; nothing to delete")
        return
    if not yes:
        click.confirm(f"Delete the cluster in {info.data_dir} and all its data?", abort=True)
    cluster.destroy()
    click.echo("embedded cluster deleted")


def _check_external(settings: Settings) -> None:
    assert settings.database_url
    with connect(settings.database_url) as conn:
        row = conn.execute(queries.load("db")["server_version"]).fetchone()
    version = row[0] if row else "?"
    click.echo(f"DATABASE_URL is set: using {redact(settings.database_url)} "
               f"(PostgreSQL {version}); nothing started")


def _bundled_psql() -> str:
    settings = Settings.from_env()
    candidate = find_server_binaries(env_bindir=settings.pg_bindir).bindir / "psql"
    if not candidate.exists():
        raise PgfraudError("psql not found: install the PostgreSQL client (postgresql-client)")
    return str(candidate)


@click.command()
@click.option("--to", "target", default="head", show_default=True, metavar="REVISION",
              help="Upgrade to this revision.")
@click.option("--downgrade", "down_to", metavar="REVISION",
              help="Downgrade to this revision instead ('base' removes everything pgfraud "
                   "created, data included).")
@click.option("--status", "show_status", is_flag=True,
              help="Only print the current and latest revision.")
def migrate(target: str, down_to: str | None, show_status: bool) -> None:
    """Bring the database schema up to date (idempotent).

    Creates the schemas ingest, features, scoring, ml and analytics, their tables and
    the roles pgfraud_producer, pgfraud_scorer, pgfraud_analyst and pgfraud_reader.
    Run it as the owner role (the embedded default connects as the superuser).
    """
    url = database_url()
    before = migrations.current_revision(url)
    head = migrations.head_revision()
    if show_status:
        click.echo(f"database {redact(url)}")
        click.echo(f"current  {before or '(empty)'}")
        click.echo(f"latest   {head}")
        return
    if down_to:
        migrations.downgrade(url, down_to)
    else:
        migrations.upgrade(url, target)
    after = migrations.current_revision(url)
    if before == after:
        click.echo(f"{redact(url)} is at revision {after or '(empty)'}; nothing to do")
    else:
        click.echo(f"migrated {redact(url)}: {before or '(empty)'} -> {after or '(empty)'}")
