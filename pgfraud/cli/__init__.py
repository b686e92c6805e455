"""The ``pgfraud`` command line: one entry point, one verb (group) per module."""

from __future__ import annotations

import logging
import sys

import click
import psycopg
import sqlalchemy.exc

from pgfraud import __version__
from pgfraud.cli.api import serve, tokens
from pgfraud.cli.backtest import replay
from pgfraud.cli.db import db, migrate
from pgfraud.cli.demo import demo
from pgfraud.cli.features import features
from pgfraud.cli.ingest import clock, import_csv, produce
from pgfraud.cli.labels import analysts, label, review
from pgfraud.cli.models import models, retrain, train
from pgfraud.cli.monitoring import dashboards, dbt, leaks, refresh, report
from pgfraud.cli.score import alerts, score
from pgfraud.kernel.db import redact
from pgfraud.kernel.errors import PgfraudError, first_line
from pgfraud.kernel.settings import Settings

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="pgfraud")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logs, including Alembic's.")
def cli(verbose: bool) -> None:
    """pgfraud: real-time card-fraud scoring where PostgreSQL is the system.

    Without DATABASE_URL every command uses an embedded PostgreSQL cluster in
    ./.pgfraud (PGFRAUD_HOME), started on first use. With DATABASE_URL set, that
    server is used and nothing is started.
    """
    settings = Settings.from_env()
    level = logging.DEBUG if verbose else getattr(logging, settings.log_level, logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)


cli.add_command(db)
cli.add_command(migrate)
cli.add_command(demo)
cli.add_command(dashboards)
cli.add_command(produce)
cli.add_command(import_csv)
cli.add_command(clock)
cli.add_command(features)
cli.add_command(train)
cli.add_command(models)
cli.add_command(score)
cli.add_command(alerts)
cli.add_command(dbt)
cli.add_command(refresh)
cli.add_command(report)
cli.add_command(leaks)
cli.add_command(serve)
cli.add_command(tokens)
for command in (label, review, analysts, retrain, replay):
    cli.add_command(command)


def main() -> None:
    """Console entry point: user errors end in one line on stderr and exit status 1."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except PgfraudError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedFunction,
            psycopg.errors.UndefinedColumn, psycopg.errors.InvalidSchemaName) as exc:
        click.echo(f"error: the database schema is older than this pgfraud "
                   f"({str(exc).splitlines()[0]}); run `pgfraud migrate`", err=True)
        sys.exit(1)
    except psycopg.errors.InsufficientPrivilege as exc:
        click.echo(f"error: {str(exc).splitlines()[0]} (privileges are granted by "
                   f"`pgfraud migrate`; is the schema up to date?)", err=True)
        sys.exit(1)
    except (psycopg.OperationalError, sqlalchemy.exc.OperationalError) as exc:
        original = getattr(exc, "orig", None) or exc
        reason = first_line(original)
        url = Settings.from_env().database_url
        target = redact(url) if url else "the embedded cluster"
        click.echo(f"error: cannot connect to {target}: {reason}", err=True)
        sys.exit(1)
