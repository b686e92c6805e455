"""Printing what the database holds: as plain text, never as markup or terminal codes.

Merchant names, notes, user names and model details come from the database, and some of
them from outside (a CSV feed, an analyst). Rich reads ``[bold]`` in a string as markup
(a merchant ``[/bold]`` crashed ``pgfraud review``), and a terminal obeys escape
sequences: wrap every such value with :func:`plain` for Rich, :func:`printable` for
``click.echo``.

>>> printable("Shop [/bold] \\x1b[2J")
'Shop [/bold] \\\\x1b[2J'
>>> plain("[red]x[/red]").plain
'[red]x[/red]'
"""

from __future__ import annotations

from rich.text import Text

from pgfraud.kernel.text import escape_controls


def printable(value: object) -> str:
    """``value`` as text with control characters (escape sequences too) shown as ``\\xNN``."""
    return escape_controls("" if value is None else str(value))


def plain(value: object) -> Text:
    """``value`` for a Rich table or print: no markup interpretation, no control codes."""
    return Text(printable(value))
