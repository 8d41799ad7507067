"""``flask runs ...``: test runs (test, purge-tests) and withdrawals (delete), the same
actions as the experiment's dashboard page."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from .access import Level, cli_access, cli_experiment
from .audit import audit
from .dry_run import dry_run_option
from .extensions import db
from .models import Platform, Run
from .pilots import purge_tests, test_entry_url, test_run_counts
from .withdrawal import WithdrawalError, delete_runs, plan_deletion

runs_cli = AppGroup("runs", help="Test runs and withdrawals of an experiment's runs.")


@runs_cli.command("test")
@click.argument("slug")
@click.option("--platform", type=click.Choice([p.value for p in Platform]), default="link",
              show_default=True, help="Whose worker flow to open.")
@dry_run_option
def test_command(slug: str, platform: str, dry_run: bool) -> None:
    """Print a URL that opens SLUG's real worker flow as a test run (valid for 7 days)."""
    cli_experiment(slug, Level.EDIT)
    if dry_run:
        click.echo(f"Would print a URL opening {slug}'s {platform} worker flow as a test run "
                   "(valid for 7 days).")
        return
    with current_app.test_request_context(base_url=current_app.config["PUBLIC_URL"]):
        click.echo(test_entry_url(slug, Platform(platform), external=True))


@runs_cli.command("purge-tests")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@dry_run_option
def purge_tests_command(slug: str, yes: bool, dry_run: bool) -> None:
    """Delete every test run of SLUG and its trial records (participants' runs stay)."""
    cli_access(slug, Level.EDIT)
    counts = test_run_counts(slug)
    total = sum(counts.values())
    if not total:
        click.echo(f"{slug}: no test runs.")
        return
    detail = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
    click.echo(f"{slug}: {total} test run(s) would be deleted ({detail}).")
    if dry_run:
        return
    if not yes:
        click.confirm("Delete them?", abort=True)
    purged = purge_tests(slug)
    audit("purge-tests", slug, f"{purged} test run(s)")
    db.session.commit()
    click.echo(f"Deleted {purged} test run(s).")


def _describe(run: Run) -> str:
    test = " (test)" if run.is_test else ""
    return (f"  run {run.id}{test}: {run.platform.value} {run.worker_id}, {run.status.value}, "
            f"{run.record_count} trial(s)")


@runs_cli.command("delete")
@click.argument("slug")
@click.option("--run", "run_id", type=int, help="The run's id (dashboard, runs.csv).")
@click.option("--worker", "worker_id", help="The participant's worker id (any platform).")
@click.option("--code", help="The run's completion code.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@dry_run_option
def delete_command(slug: str, run_id: int | None, worker_id: str | None, code: str | None,
                   yes: bool, dry_run: bool) -> None:
    """Delete a participant's runs of SLUG on request: their trial records and identifying
    fields go for good; the audit log keeps only that a deletion happened."""
    cli_access(slug, Level.EDIT)
    try:
        plan = plan_deletion(slug, run_id, worker_id, code)
    except WithdrawalError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{slug}: {len(plan.runs)} run(s) and {plan.records} trial record(s) "
               "would be deleted for good:")
    for run in plan.runs:
        click.echo(_describe(run))
    for warning in plan.warnings:
        click.echo(f"Note: {warning}", err=True)
    if dry_run:
        return
    if not yes:
        click.confirm("Delete them?", abort=True)
    gone = delete_runs(plan)
    db.session.commit()
    click.echo(f"Deleted {gone} run(s).")
