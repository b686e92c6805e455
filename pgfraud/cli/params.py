"""Click callbacks for option values shared by several verbs."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import click

from pgfraud.kernel.durations import parse_duration


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


def gate_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The promotion gates' options (docs/models.md), collected into ``gates``: a
    ``pgfraud.lifecycle.governance.Gates``. Shared by ``pgfraud retrain`` and ``models promote``."""
    from pgfraud.lifecycle.governance import Gates

    defaults = Gates()
    options = [
        click.option("--margin", default=defaults.margin, show_default=True, type=float,
                     help="Average-precision points the paired bootstrap's lower bound "
                          "must exceed for a promotion."),
        click.option("--min-frauds", default=defaults.min_frauds, show_default=True,
                     type=click.IntRange(min=1),
                     help="Matured labelled frauds the paired comparison needs."),
        click.option("--min-shadow", default="2d", show_default=True, callback=timedelta,
                     metavar="TIME", help="Event time a challenger scores in shadow "
                                          "before it may be promoted."),
        click.option("--confidence", default=defaults.confidence, show_default=True,
                     type=click.FloatRange(0.5, 1, max_open=True),
                     help="One-sided confidence of the bootstrap's lower bound."),
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, margin: float, min_frauds: int, min_shadow: dt.timedelta,
                confidence: float, **kwargs: Any) -> Any:
        gates = Gates(margin=margin, min_frauds=min_frauds, min_shadow=min_shadow,
                      confidence=confidence)
        return command(*args, gates=gates, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


#: TrainOptions' defaults (pgfraud/lifecycle/training.py), for help texts without importing
#: LightGBM; tests/unit/test_training_window.py checks that they agree.
DEFAULT_TRAIN_WINDOW = "120d"
DEFAULT_MAX_TRAIN_ROWS = 100_000


def training_set_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--train-window`` and ``--max-train-rows``, collected into ``training_set``: the
    TrainOptions fields given (``window``, ``max_rows``; 0 turns a limit off, None in
    TrainOptions). Shared by ``pgfraud train`` and ``pgfraud retrain``."""
    options = [
        click.option("--train-window", callback=timedelta, metavar="TIME",
                     help="Train on this much labelled event time, ending at the newest "
                          "transaction labelled by the cutoff; 0: every label "
                          f"[default: {DEFAULT_TRAIN_WINDOW}]."),
        click.option("--max-train-rows", type=click.IntRange(min=0), metavar="N",
                     help="Above this many labelled training rows (validation excluded), "
                          "keep every fraud and sample legitimate ones at random, "
                          "weighted back so scores stay calibrated; 0: no cap "
                          f"[default: {DEFAULT_MAX_TRAIN_ROWS:,}]."),
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, train_window: dt.timedelta | None, max_train_rows: int | None,
                **kwargs: Any) -> Any:
        given: dict[str, Any] = {}
        if train_window is not None:
            given["window"] = train_window if train_window > dt.timedelta(0) else None
        if max_train_rows is not None:
            given["max_rows"] = max_train_rows or None
        return command(*args, training_set=given, **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper
