"""``flask runs test`` and ``flask runs purge-tests``: the dashboard's test-run actions."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from ..experiments import registry
from ..extensions import db
from ..models import Platform
from .marking import test_entry_url
from .purging import purge_tests, test_run_counts

runs_cli = AppGroup("runs", help="Test runs of an experiment (and, later, withdrawals).")


def _hosted(slug: str) -> None:
    if slug not in registry():
        known = ", ".join(registry()) or "none"
        raise click.ClickException(f"There is no experiment {slug!r} (experiments: {known}).")


@runs_cli.command("test")
@click.argument("slug")
@click.option("--platform", type=click.Choice([p.value for p in Platform]), default="link",
              show_default=True, help="Whose worker flow to open.")
def test_command(slug: str, platform: str) -> None:
    """Print a URL that opens SLUG's real worker flow as a test run (valid for 7 days)."""
    _hosted(slug)
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        click.echo(test_entry_url(slug, Platform(platform), external=True))


@runs_cli.command("purge-tests")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def purge_tests_command(slug: str, yes: bool) -> None:
    """Delete every test run of SLUG and its trial records (participants' runs stay)."""
    counts = test_run_counts(slug)
    total = sum(counts.values())
    if not total:
        click.echo(f"{slug}: no test runs.")
        return
    detail = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    click.echo(f"{slug}: {total} test run(s) would be deleted ({detail}).")
    if not yes:
        click.confirm("Delete them?", abort=True)
    purged = purge_tests(slug)
    db.session.commit()
    click.echo(f"Deleted {purged} test run(s).")
