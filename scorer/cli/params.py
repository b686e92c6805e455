"""Click callbacks for option values shared by several verbs."""

from __future__ import annotations

import datetime as dt

import click

from producer.run import parse_duration


def duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """``30s``, ``10m``, ``2h``, ``7d`` (or plain seconds) as seconds."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def timedelta(ctx: click.Context, param: click.Parameter,
              value: str | None) -> dt.timedelta | None:
    seconds = duration(ctx, param, value)
    return None if seconds is None else dt.timedelta(seconds=seconds)


def timestamp(ctx: click.Context, param: click.Parameter,
              value: str | None) -> dt.datetime | None:
    """An ISO date or time; UTC when it names no zone."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date or time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
