"""``pgfraud serve`` and ``pgfraud tokens``: the authorization API and its clients."""

from __future__ import annotations

import click

from pgfraud.cli.output import printable
from pgfraud.kernel.db import connect, database_url, redact
from pgfraud.kernel.names import API_ROLE


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="PGFRAUD_API_HOST",
              help="Address to listen on. Keep loopback unless a TLS proxy sits in front.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535),
              envvar="PGFRAUD_API_PORT")
@click.option("--deadline-ms", default=100.0, show_default=True,
              type=click.FloatRange(1, 60_000), envvar="PGFRAUD_API_DEADLINE_MS",
              help="Answer with the fallback decision when the database or the model has "
                   "not answered within this time (the request is still stored, scored and "
                   "recorded as a fallback).")
@click.option("--fallback", default="approve", show_default=True,
              type=click.Choice(["approve", "review", "decline"]),
              envvar="PGFRAUD_API_FALLBACK", help="The decision when the deadline passes or "
              "no champion is deployed.")
@click.option("--review-at", type=click.FloatRange(0, 1), envvar="PGFRAUD_API_REVIEW_AT",
              help="Score from which the answer is review [default: the champion's alert "
                   "threshold, so review = what the stream alerts on].")
@click.option("--decline-at", default=0.9, show_default=True, type=click.FloatRange(0, 1),
              envvar="PGFRAUD_API_DECLINE_AT", help="Score from which the answer is decline.")
@click.option("--max-body-bytes", default=16_384, show_default=True,
              type=click.IntRange(256, 10_000_000), help="Larger bodies get 413.")
@click.option("--max-batch", default=256, show_default=True, type=click.IntRange(1, 10_000),
              help="Most requests decided in one database transaction.")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="Log every request line (method, path, status; never a body).")
def serve(host: str, port: int, deadline_ms: float, fallback: str, review_at: float | None,
          decline_at: float, max_body_bytes: int, max_batch: int, access_log: bool) -> None:
    """Serve authorization-time decisions over HTTP.

    POST /v1/authorizations with a bearer token (`pgfraud tokens create NAME`) and a
    transaction as JSON; the answer is approve, review or decline with the champion's
    score and reasons. Each request is stored, featured, scored and decided in one
    database transaction, exactly as the stream would, so the scorer never scores it
    again. Also GET /healthz, /readyz, /metrics (Prometheus) and /docs (OpenAPI).

    TLS belongs to a reverse proxy in front of this process (docs/api.md).

    \b
    Examples:
      pgfraud tokens create checkout      # prints the token once
      pgfraud serve --port 8080 --deadline-ms 50 --fallback review
    """
    import uvicorn

    from pgfraud.api.app import ServerOptions, create_app
    from pgfraud.api.service import Policy
    from pgfraud.kernel import migrate
    from producer.cards import Tokenizer

    migrate.ensure_schema(announce=lambda line: click.echo(line, err=True))
    url = database_url()
    policy = Policy(decline_at=decline_at, review_at=review_at, fallback=fallback,
                    deadline_s=deadline_ms / 1000)
    options = ServerOptions(url=url, tokenizer=Tokenizer.from_settings(), policy=policy,
                            max_body_bytes=max_body_bytes, max_batch=max_batch)
    click.echo(f"serving decisions on http://{host}:{port} from {redact(url)} as {API_ROLE} "
               f"(deadline {deadline_ms:g} ms, fallback {fallback})", err=True)
    uvicorn.run(create_app(options), host=host, port=port, access_log=access_log,
                log_level="info" if access_log else "warning", server_header=False,
                timeout_graceful_shutdown=10,
                # Terminals and gateways keep connections open between authorizations;
                # uvicorn's 5 s default closed some just as a request was sent on them.
                timeout_keep_alive=75)


@click.group()
def tokens() -> None:
    """API clients' bearer tokens: create (shown once), list, revoke.

    Only a token's SHA-256 is stored (api.clients). A running server picks up a new or
    revoked token within a moment, without a restart.
    """


@tokens.command("create")
@click.argument("name")
def tokens_create(name: str) -> None:
    """Make a token for client NAME and print it (only now: it is not stored)."""
    from pgfraud.api import tokens as api_tokens
    from pgfraud.kernel import migrate

    migrate.ensure_schema(announce=lambda line: click.echo(line, err=True))
    with connect(database_url()) as conn:
        token = api_tokens.create(conn, name)
    click.echo(token)
    click.echo(f"client {name}: keep this token secret, it is shown only once; send it as "
               "'Authorization: Bearer <token>'", err=True)


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke client NAME's token (its decisions stay)."""
    from pgfraud.api import tokens as api_tokens

    with connect(database_url()) as conn:
        api_tokens.revoke(conn, name)
    click.echo(f"revoked the token of {name}", err=True)


@tokens.command("list")
def tokens_list() -> None:
    """Every client: live or revoked, and how many decisions it asked for."""
    from pgfraud.api import tokens as api_tokens

    with connect(database_url()) as conn:
        rows = api_tokens.clients(conn)
    if not rows:
        click.echo("no clients yet (pgfraud tokens create NAME)", err=True)
        return
    click.echo(f"{'client':<24} {'created':<20} {'status':<28} {'decisions':>10}")
    for c in rows:
        status = f"revoked {c.revoked_at:%Y-%m-%d %H:%M}" if c.revoked_at else "live"
        click.echo(f"{printable(c.name):<24} {c.created_at:%Y-%m-%d %H:%M:%S}  {status:<28} "
                   f"{c.decisions:>10,}")
