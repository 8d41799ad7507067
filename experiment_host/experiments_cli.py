"""``flask experiments``: the experiments folder from the command line."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .access import Level, cli_access
from .dry_run import dry_run_option
from .experiments import ExperimentConfigError
from .reloading import reload_registry

experiments_cli = AppGroup("experiments", help="The experiments folder.")


@experiments_cli.command("reload")
@click.argument("slug", required=False)
@dry_run_option
def reload_command(slug: str | None, dry_run: bool) -> None:
    """Read the experiments folder again; every app process follows within
    REGISTRY_CHECK_SECONDS. A broken experiment is refused and nothing changes. A researcher
    who is not an admin names an experiment they can edit (as the dashboard's button does)."""
    cli_access(slug, Level.EDIT)
    try:
        fresh, version = reload_registry(slug, dry_run)
    except ExperimentConfigError as error:
        raise click.ClickException(f"Not reloaded: {error}") from error
    if dry_run:
        click.echo(f"Would reload (registry version {version} now): {len(fresh)} "
                   f"experiment(s) ({', '.join(fresh) or 'none'}).")
        return
    click.echo(f"Registry version {version}: {len(fresh)} experiment(s) "
               f"({', '.join(fresh) or 'none'}).")
