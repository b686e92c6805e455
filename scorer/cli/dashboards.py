"""``pgfraud dashboards``: Grafana dashboards generated from scorer/panels.py."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from scorer import grafana
from scorer.settings import PROJECT_ROOT

DEFAULT_DIR = PROJECT_ROOT / "dashboards"


@click.group()
def dashboards() -> None:
    """Build and upload the Grafana dashboards (docs/dashboards.md).

    The boards are defined in scorer/panels.py; `build` writes their JSON into
    dashboards/ (which Grafana provisions), `push` uploads them over Grafana's HTTP API.
    """


@dashboards.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DIR,
              show_default="dashboards/ in the repository",
              help="Directory for the <uid>.json files.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit with status 1 if any file is missing or differs "
                   "from what the code generates (for CI and pre-commit).")
def build(out: Path, check: bool) -> None:
    """Write one dashboard JSON file per board (sorted keys, stable ids).

    Files already up to date are left untouched. Commit the result: Grafana provisions
    dashboards from these files.
    """
    outdated = grafana.stale(out)
    if check:
        if outdated:
            names = ", ".join(str(out / name) for name in outdated)
            click.echo(f"error: stale dashboards (differ from scorer/panels.py): {names}; "
                       f"run `pgfraud dashboards build`", err=True)
            sys.exit(1)
        click.echo(f"{len(grafana.BOARDS)} dashboards in {out} are up to date")
        return
    for path in grafana.write_all(out):
        click.echo(f"{'wrote    ' if path.name in outdated else 'unchanged'} {path}")


@dashboards.command()
@click.option("--url", envvar="GRAFANA_URL", show_envvar=True, required=True,
              help="Grafana base URL, e.g. http://localhost:3000.")
@click.option("--token", envvar="GRAFANA_TOKEN", show_envvar=True, required=True,
              help="Service account token with the Editor role (prefer the environment "
                   "variable: options show up in the process list).")
@click.option("--folder", default=grafana.FOLDER_UID, show_default=True,
              help="Uid (and title, if it has to be created) of the folder for the boards.")
def push(url: str, token: str, folder: str) -> None:
    """Upload every board to a Grafana server, replacing the versions there.

    Creates the folder if it is missing and prints one line per board with its URL.
    Boards provisioned from files (dashboards/provisioning) cannot be overwritten this
    way; use one or the other.
    """
    result = grafana.push(url, token, folder)
    if result.folder_created:
        click.echo(f"created folder {folder}")
    for board in result.boards:
        version = f" (version {board.version})" if board.version is not None else ""
        click.echo(f"{board.uid}  {board.url}{version}")
