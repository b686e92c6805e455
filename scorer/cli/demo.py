"""``pgfraud demo``: the README's main command on the embedded default."""

from __future__ import annotations

import click

from scorer import migrate as migrations
from scorer.db import connect, database_url, redact

SCHEMAS = ("ingest", "features", "scoring", "ml", "analytics", "truth")


@click.command()
def demo() -> None:
    """Start the database, migrate it and show how to connect.

    Today this sets up the foundation: PostgreSQL (embedded unless DATABASE_URL is
    set), the schema and the roles. Streaming, scoring and reports are added to this
    command as they are built.
    """
    url = database_url()
    click.echo(f"database   {redact(url)}")
    migrations.upgrade(url)
    click.echo(f"schema     revision {migrations.current_revision(url)}")
    with connect(url) as conn:
        rows = conn.execute(
            "select n.nspname, count(c.oid) from pg_namespace n "
            "left join pg_class c on c.relnamespace = n.oid and c.relkind in ('r', 'v', 'm') "
            "where n.nspname = any(%s) group by n.nspname order by n.nspname",
            (list(SCHEMAS),),
        ).fetchall()
    for schema, tables in rows:
        click.echo(f"  {schema:<10} {tables} tables/views")
    click.echo("\nTry:")
    click.echo("  pgfraud db psql -c '\\dn'")
    click.echo("  pgfraud db psql -c '\\d scoring.predictions'")
    click.echo("  export DATABASE_URL=$(pgfraud db url)   # for any other tool")
