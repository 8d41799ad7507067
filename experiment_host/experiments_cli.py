"""``flask experiments``: the experiments folder from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .access import Level, cli_access
from .experiments import ExperimentConfigError
from .reloading import reload_registry

experiments_cli = AppGroup("experiments", help="The experiments folder.")


@experiments_cli.command("reload")
@click.argument("slug", required=False)
def reload_command(slug: str | None) -> None:
    """Read the experiments folder again; every app process follows within
    REGISTRY_CHECK_SECONDS. A broken experiment is refused and nothing changes. A researcher
    who is not an admin names an experiment they can edit (as the dashboard's button does)."""
    cli_access(slug, Level.EDIT)
    try:
        fresh, version = reload_registry(slug)
    except ExperimentConfigError as error:
        raise click.ClickException(f"Not reloaded: {error}") from error
    click.echo(f"Registry version {version}: {len(fresh)} experiment(s) "
               f"({', '.join(fresh) or 'none'}).")
