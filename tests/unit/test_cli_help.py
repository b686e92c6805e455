"""Every verb explains itself with --help (no database needed)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from pgfraud.cli import cli


def walk(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...],
                                                                         click.Command]]:
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            found += walk(sub, (*path, name))
    return found


COMMANDS = walk(cli)


def test_the_required_verbs_exist() -> None:
    paths = {" ".join(path) for path, _ in COMMANDS}
    assert {"db start", "db stop", "db status", "db url", "db psql", "migrate"} <= paths


@pytest.mark.parametrize(("path", "command"), COMMANDS,
                         ids=[" ".join(p) or "pgfraud" for p, _ in COMMANDS])
def test_help(path: tuple[str, ...], command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert command.help, f"{' '.join(path)} has no help text"
    first_line = command.help.strip().splitlines()[0]
    assert first_line in " ".join(result.output.split())
