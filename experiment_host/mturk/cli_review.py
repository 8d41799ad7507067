"""``flask hits approve / reject``: the CLI face of :mod:`.actions` (the console is the
other): it prints the plan, asks, carries it out with a progress bar; an id MTurk refuses is
reported and the rest of the batch goes on, and any failure ends the command with a
summary and a non-zero exit status."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ..access import Level, cli_access_sessions
from ..dry_run import dry_run_option
from ..models import Platform
from .actions import ReviewPlan, approval_plan, carry_out_review, rejection_plan
from .cli import (
    check_hits,
    confirm,
    live_option,
    open_gateway,
    visible_hits,
)
from .gateway import Gateway
from .review import APPROVE, REJECT, Failure

PROGRESS = {APPROVE: "Approving", REJECT: "Rejecting"}


def chosen_hits(gateway: Gateway, hit_id: str | None, all_hits: bool) -> list[str]:
    """The HIT named, or with ``--all`` every HIT of this project on the endpoint (of the
    experiments whoever acts may edit)."""
    if bool(hit_id) == all_hits:
        raise click.UsageError("Name one HIT_ID, or give --all for every HIT of this project.")
    if hit_id:
        check_hits(gateway.target, [hit_id], Level.EDIT)
        return [hit_id]
    return [row.hit_id for row in visible_hits(gateway.target, Level.EDIT)]


def workers() -> int:
    return int(current_app.config["MTURK_CONCURRENCY"])


def report_failures(failed: list[Failure], what: str) -> None:
    """Print each failure with its id and end with an error, if there were any."""
    if not failed:
        return
    for key, error in failed:
        click.echo(f"  failed {key}: {error}", err=True)
    raise click.ClickException(f"{len(failed)} {what} failed (listed above); the others were "
                               "done. Run the command again to retry them (finished ones are "
                               "not repeated).")


def _review(gateway: Gateway, plan: ReviewPlan, dry_run: bool, yes: bool) -> None:
    """Show the plan; unless a dry run, ask, carry it out and sum up."""
    click.echo("\n".join(plan.lines()))
    verb = "approve" if plan.action == APPROVE else "reject"
    if dry_run:
        click.echo(f"Dry run: {len(plan.chosen)} would be {verb.rstrip('e')}ed.")
        report_failures(list(plan.refused), "MTurk calls")
        return
    if plan.chosen:
        confirm(f"{verb.capitalize()} {len(plan.chosen)} assignment(s) on "
                f"{gateway.target.label}?", yes, gateway.target)
    with click.progressbar(length=len(plan.chosen), label=PROGRESS[plan.action]) as bar:
        outcome = carry_out_review(gateway, plan, workers(), lambda: bar.update(1))
    click.echo(outcome.summary())
    report_failures(outcome.failures, "MTurk calls")


@click.command("approve")
@with_appcontext
@click.argument("hit_id", required=False)
@click.option("--all", "all_hits", is_flag=True, help="Every HIT of this project.")
@dry_run_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@live_option
def approve_command(hit_id: str | None, all_hits: bool, dry_run: bool, yes: bool,
                    live: bool) -> None:
    """Approve submitted assignments whose run (same worker) completed with all its data."""
    gateway = open_gateway(live)
    _review(gateway, approval_plan(gateway, chosen_hits(gateway, hit_id, all_hits)), dry_run,
            yes)


@click.command("reject")
@with_appcontext
@click.argument("assignment_ids", nargs=-1)
@click.option("--no-data", is_flag=True,
              help="Reject submitted assignments with no run or no records (needs --hit/--all).")
@click.option("--hit", "hit_id", help="With --no-data: the HIT to look at.")
@click.option("--all", "all_hits", is_flag=True, help="With --no-data: every HIT of this project.")
@click.option("--message", required=True, help="Feedback the worker sees (required by MTurk).")
@dry_run_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@live_option
def reject_command(assignment_ids: tuple[str, ...], no_data: bool, hit_id: str | None,
                   all_hits: bool, message: str, dry_run: bool, yes: bool, live: bool) -> None:
    """Reject the assignments named, or (--no-data) those submitted without any data."""
    if bool(assignment_ids) == no_data:
        raise click.UsageError("Name the ASSIGNMENT_IDS to reject, or give --no-data.")
    if not message.strip():
        raise click.UsageError("--message must say why, for the worker.")
    gateway = open_gateway(live)
    cli_access_sessions(Platform.MTURK, assignment_ids, Level.EDIT, "assignment")
    hit_ids = chosen_hits(gateway, hit_id, all_hits) if no_data else None
    _review(gateway, rejection_plan(gateway, message, assignment_ids, hit_ids), dry_run, yes)
