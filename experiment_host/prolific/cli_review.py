"""``flask prolific approve / reject / bonus / bonus-resolve / sync / message``: the commands
that move money or reach participants, each deciding from Prolific's view joined with our
runs, listing what it leaves alone and why, and safe to run again."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ..access import Level, cli_access, cli_access_sessions
from ..dry_run import dry_run_option
from ..extensions import db
from ..models import Platform
from . import actions, bonuses, hooks, messages, review
from .cli import asking, check_study, confirm, money, open_client, study_ids, where

MIN_REJECTION_MESSAGE = actions.MIN_REJECTION_MESSAGE


def _echo(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


@click.command("approve")
@with_appcontext
@click.argument("study_id", required=False)
@click.option("--all", "all_studies", is_flag=True, help="Every study of this project.")
@asking
def approve_command(study_id: str | None, all_studies: bool, dry_run: bool, yes: bool) -> None:
    """Approve (in bulk) the submissions whose run here, of the same participant, completed
    with its data; list every other one with the reason."""
    client = open_client()
    if bool(study_id) == all_studies:
        raise click.UsageError("Name one STUDY_ID, or give --all.")
    for sid in study_ids(client, study_id, all_studies):
        plan = actions.approval_plan(client, sid)
        _echo(plan.lines())
        if dry_run or not plan.chosen:
            continue
        confirm(f"Approve {len(plan.chosen)} submission(s) of study {sid}?", yes, client)
        with click.progressbar(length=len(plan.chosen), label="Approving") as bar:
            outcome = actions.carry_out_review(client, plan, bar.update)
        click.echo(outcome.summary())


@click.command("reject")
@with_appcontext
@click.argument("submission_ids", nargs=-1)
@click.option("--no-data", "no_data_study", metavar="STUDY_ID",
              help="Reject every submission of STUDY_ID awaiting review with no run or no records.")
@click.option("--category", type=click.Choice(review.REJECTION_CATEGORIES), required=True,
              help="Prolific's rejection category.")
@click.option("--message", required=True,
              help=f"What the participant is told (at least {MIN_REJECTION_MESSAGE} characters).")
@asking
def reject_command(submission_ids: tuple[str, ...], no_data_study: str | None, category: str,
                   message: str, dry_run: bool, yes: bool) -> None:
    """Reject only the submissions named (or, with --no-data, those without data)."""
    if bool(submission_ids) == bool(no_data_study):
        raise click.UsageError("Name SUBMISSION_IDs, or give --no-data STUDY_ID.")
    if problem := actions.check_rejection(message, category):
        raise click.BadParameter(problem, param_hint="--message")
    client = open_client()
    if no_data_study:
        check_study(client, no_data_study, Level.EDIT)
    else:
        cli_access_sessions(Platform.PROLIFIC, submission_ids, Level.EDIT, "submission")
    plan = actions.rejection_plan(client, message, category, submission_ids, no_data_study)
    _echo(plan.lines())
    if dry_run or not plan.chosen:
        return
    confirm(f"Reject {len(plan.chosen)} submission(s)?", yes, client)
    with click.progressbar(length=len(plan.chosen), label="Rejecting") as bar:
        outcome = actions.carry_out_review(client, plan, bar.update)
    click.echo(outcome.summary())


@click.command("bonus")
@with_appcontext
@click.argument("study_id", required=False)
@click.option("--all", "all_studies", is_flag=True, help="Every study of this project.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV with columns submission_id, amount, reason (instead of the runs).")
@asking
def bonus_command(study_id: str | None, all_studies: bool, csv_file: Path | None,
                  dry_run: bool, yes: bool) -> None:
    """Pay the bonuses recorded on runs (or listed in a CSV, with STUDY_ID) of approved
    submissions with complete data, within the experiment's max_bonus; each at most once."""
    if bool(study_id) == all_studies or (csv_file and not study_id):
        raise click.UsageError("Name one STUDY_ID (needed with --csv), or give --all.")
    client = open_client()
    for sid in study_ids(client, study_id, all_studies):
        wanted = bonuses.read_csv(csv_file) if csv_file else None
        round_ = actions.bonus_round(client, sid, wanted)
        _echo(round_.lines())
        if dry_run or not round_.rows:
            db.session.rollback()
            continue
        confirm(f"Pay {len(round_.rows)} bonus(es) of study {sid}?", yes, client)
        with click.progressbar(length=len(round_.rows), label="Paying") as bar:
            result = actions.pay_round(client, round_, current_app.config["PROLIFIC_CONCURRENCY"],
                                       bar.update)
        _echo(actions.pay_lines(sid, result))
        if result.unknown or result.failed:
            raise click.ClickException("Some bonuses were not confirmed paid (see above).")


@click.command("bonus-resolve")
@with_appcontext
@click.argument("study_id")
@click.option("--unpaid", is_flag=True,
              help="Bonuses Prolific does not show as paid may be paid again by `bonus` (only "
                   "after checking the study's payments on app.prolific.com).")
@dry_run_option
def bonus_resolve_command(study_id: str, unpaid: bool, dry_run: bool) -> None:
    """Settle bonuses whose pay call got no answer: paid when Prolific's submission lists
    the bonus; otherwise left unknown, or (--unpaid) payable again."""
    client = open_client()
    check_study(client, study_id, Level.EDIT)
    paid, reopened, still = bonuses.resolve(client, client.url, study_id, unpaid, dry_run)
    confirmed, made = ("Would confirm", "would make") if dry_run else ("Confirmed", "made")
    click.echo(f"{confirmed} paid {paid}; {made} payable again {reopened}; still unknown "
               f"{len(still)}.")
    for row in still:
        click.echo(f"  unknown {row.submission_id} ({money(row.amount_cents)}): Prolific pays "
                   "asynchronously; check again in a few minutes, then on app.prolific.com, and "
                   "if it was not paid re-run with --unpaid.")


@click.command("sync")
@with_appcontext
@click.argument("study_id", required=False)
@click.option("--all", "all_studies", is_flag=True, help="Every study of this project.")
@dry_run_option
def sync_command(study_id: str | None, all_studies: bool, dry_run: bool) -> None:
    """Copy Prolific's submission statuses into the runs (returned and timed-out runs stop
    holding quota places at once)."""
    if bool(study_id) == all_studies:
        raise click.UsageError("Name one STUDY_ID, or give --all.")
    client = open_client()
    for sid in study_ids(client, study_id, all_studies):
        _echo(actions.sync_lines(sid, actions.sync_study(client, sid, dry_run), dry_run))


@click.command("message")
@with_appcontext
@click.argument("study_id")
@click.option("--body", required=True, help="The message text.")
@click.option("--to", "statuses", multiple=True, show_default=True,
              default=("AWAITING REVIEW", "APPROVED"),
              help="Submission statuses whose participants get it (repeat the option).")
@asking
def message_command(study_id: str, body: str, statuses: tuple[str, ...], dry_run: bool,
                    yes: bool) -> None:
    """Send a message to a study's participants; a re-run sends only to those not sent it."""
    if not body.strip():
        raise click.BadParameter("Give the message text.", param_hint="--body")
    client = open_client()
    check_study(client, study_id, Level.EDIT)
    items = review.submissions(client, study_id)
    everyone = [str(s["participant_id"]) for s in items if s.get("status") in statuses]
    todo = messages.unsent(client.url, study_id, everyone, body)
    click.echo(f"{len(todo)} participant(s) to message ({len(everyone) - len(todo)} already "
               f"sent) on {where(client)}.")
    if dry_run or not todo:
        return
    confirm(f"Send the message to {len(todo)} participant(s)?", yes, client)
    messages.send(client, study_id, todo, body)
    click.echo(f"Sent to {len(todo)}.")


@click.command("subscribe")
@with_appcontext
@click.option("--workspace", help="Workspace id (default: your only workspace).")
@asking
def subscribe_command(workspace: str | None, dry_run: bool, yes: bool) -> None:
    """Have Prolific call PUBLIC_URL/prolific/hooks on every submission status change (as
    `sync` does, at once); prints the signing secret to set as PROLIFIC_HOOK_SECRET."""
    client = open_client()
    cli_access(None)  # the workspace's hooks serve every experiment: operator and admins
    target = hooks.hook_url(current_app.config["PUBLIC_URL"])
    try:
        workspace_id = hooks.workspace_of(client, workspace)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Subscribe {target} to {hooks.EVENT} in workspace {workspace_id} on "
               f"{where(client)}.")
    if dry_run:
        return
    confirm("Subscribe?", yes, client)
    subscription_id, secret = hooks.subscribe(client, workspace_id, target)
    if secret is None:
        click.echo(f"Already subscribed ({subscription_id}); PROLIFIC_HOOK_SECRET stays as set.")
        return
    click.echo(f"Subscribed ({subscription_id}). Set this on the app and restart it:\n"
               f"  PROLIFIC_HOOK_SECRET={secret}")
