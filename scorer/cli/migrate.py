"""``pgfraud migrate``: apply the schema (Alembic revisions that run ``sql/`` files)."""

from __future__ import annotations

import click

from scorer import migrate as migrations
from scorer.db import database_url, redact


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
