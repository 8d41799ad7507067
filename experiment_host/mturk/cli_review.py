"""``flask hits approve / reject``: every decision compares our run with what MTurk reports
for the assignment; an id MTurk refuses is reported and the rest of the batch goes on, and
any failure ends the command with a summary and a non-zero exit status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import TypeVar

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from ..audit import audit
from ..extensions import db
from ..models import Platform, Run, RunStatus
from .cli import confirm, live_option, open_gateway
from .errors import MTurkError
from .gateway import Gateway
from .posting import project_hits
from .review import (
    APPROVE,
    REJECT,
    Decision,
    Failure,
    assignments_of,
    decide_approval,
    decide_rejection,
    look_up,
    mark_reviewed,
    run_concurrently,
    runs_for,
)

T = TypeVar("T")
R = TypeVar("R")


def chosen_hits(gateway: Gateway, hit_id: str | None, all_hits: bool) -> list[str]:
    """The HIT named, or with ``--all`` every HIT of this project on the endpoint."""
    if bool(hit_id) == all_hits:
        raise click.UsageError("Name one HIT_ID, or give --all for every HIT of this project.")
    return [hit_id] if hit_id else [row.hit_id for row in project_hits(gateway.target)]


def show_skipped(decisions: Iterable[Decision]) -> None:
    """List the assignments left alone, with the reason."""
    for d in decisions:
        click.echo(f"  skip {d.assignment.assignment_id} (worker {d.assignment.worker_id}): "
                   f"{d.reason}")


def apply_all(items: list[T], work: Callable[[T], R], label: str
              ) -> tuple[list[tuple[T, R]], list[tuple[T, MTurkError]]]:
    """Run ``work`` over the items concurrently with a progress bar; (done, failed)."""
    done: list[tuple[T, R]] = []
    failed: list[tuple[T, MTurkError]] = []
    workers = int(current_app.config["MTURK_CONCURRENCY"])
    with click.progressbar(length=len(items), label=label) as bar:
        for item, result, error in run_concurrently(items, work, workers):
            if error is None:
                done.append((item, result))  # type: ignore[arg-type]
            else:
                failed.append((item, error))
            bar.update(1)
    return done, failed


def report_failures(failed: list[Failure], what: str) -> None:
    """Print each failure with its id and end with an error, if there were any."""
    if not failed:
        return
    for key, error in failed:
        click.echo(f"  failed {key}: {error}", err=True)
    raise click.ClickException(f"{len(failed)} {what} failed (listed above); the others were "
                               "done. Run the command again to retry them (finished ones are "
                               "not repeated).")


def audit_assignments(action: str, assignment_ids: list[str]) -> None:
    """Log ``action`` once per experiment of these assignments: how many, not whose."""
    if not assignment_ids:
        return
    slugs = Counter(db.session.scalars(select(Run.experiment_slug).where(
        Run.platform == Platform.MTURK, Run.session_key.in_(assignment_ids))))
    for slug, count in slugs.items():
        audit(action, slug, f"{count} assignment(s)")


def approve_decided(gateway: Gateway, chosen: list[Decision]
                    ) -> tuple[list[tuple[Decision, bool]], list[Failure]]:
    """Approve these assignments and mark their runs approved; commits."""
    done, failed = apply_all(chosen, lambda d: gateway.approve(d.assignment.assignment_id),
                             "Approving")
    for decision, _ in done:
        mark_reviewed(decision.run_id, RunStatus.APPROVED)
    audit_assignments("approve", [d.assignment.assignment_id for d, _ in done])
    db.session.commit()
    return done, [(d.assignment.assignment_id, error) for d, error in failed]


def _reject_decided(gateway: Gateway, chosen: list[Decision], message: str
                    ) -> tuple[list[tuple[Decision, bool]], list[Failure]]:
    done, failed = apply_all(
        chosen, lambda d: gateway.reject(d.assignment.assignment_id, message), "Rejecting")
    for decision, _ in done:
        mark_reviewed(decision.run_id, RunStatus.REJECTED)
    audit_assignments("reject", [d.assignment.assignment_id for d, _ in done])
    db.session.commit()
    return done, [(d.assignment.assignment_id, error) for d, error in failed]


def _review(gateway: Gateway, decisions: list[Decision], action: str, message: str,
            yes: bool, refused: list[Failure]) -> None:
    chosen = [d for d in decisions if d.action == action]
    verb = "approve" if action == APPROVE else "reject"
    click.echo(f"{len(chosen)} to {verb}, {len(decisions) - len(chosen)} skipped.")
    done: list[tuple[Decision, bool]] = []
    failed: list[Failure] = []
    if chosen:
        confirm(f"{verb.capitalize()} {len(chosen)} assignment(s) on {gateway.target.label}?",
                yes, gateway.target)
        done, failed = (approve_decided(gateway, chosen) if action == APPROVE
                        else _reject_decided(gateway, chosen, message))
    fresh = sum(1 for _, changed in done if changed)
    click.echo(f"Summary: {fresh} {verb.rstrip('e')}ed now, {len(done) - fresh} were already, "
               f"{len(decisions) - len(chosen)} skipped, {len(refused) + len(failed)} failed.")
    report_failures(refused + failed, "MTurk calls")


@click.command("approve")
@with_appcontext
@click.argument("hit_id", required=False)
@click.option("--all", "all_hits", is_flag=True, help="Every HIT of this project.")
@click.option("--dry-run", is_flag=True, help="Only show what would be approved.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@live_option
def approve_command(hit_id: str | None, all_hits: bool, dry_run: bool, yes: bool,
                    live: bool) -> None:
    """Approve submitted assignments whose run (same worker) completed with all its data."""
    gateway = open_gateway(live)
    assignments, refused = assignments_of(gateway, chosen_hits(gateway, hit_id, all_hits),
                                          ("Submitted",))
    runs = runs_for(assignments)
    decisions = [decide_approval(a, runs.get(a.assignment_id)) for a in assignments]
    show_skipped(d for d in decisions if d.action != APPROVE)
    if dry_run:
        click.echo(f"Dry run: {sum(d.action == APPROVE for d in decisions)} would be approved.")
        report_failures(refused, "MTurk calls")
        return
    _review(gateway, decisions, APPROVE, "", yes, refused)


@click.command("reject")
@with_appcontext
@click.argument("assignment_ids", nargs=-1)
@click.option("--no-data", is_flag=True,
              help="Reject submitted assignments with no run or no records (needs --hit/--all).")
@click.option("--hit", "hit_id", help="With --no-data: the HIT to look at.")
@click.option("--all", "all_hits", is_flag=True, help="With --no-data: every HIT of this project.")
@click.option("--message", required=True, help="Feedback the worker sees (required by MTurk).")
@click.option("--dry-run", is_flag=True, help="Only show what would be rejected.")
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
    assignments, refused = (
        look_up(gateway, assignment_ids) if assignment_ids else
        assignments_of(gateway, chosen_hits(gateway, hit_id, all_hits), ("Submitted",)))
    runs = runs_for(assignments)
    decisions = [decide_rejection(a, runs.get(a.assignment_id), no_data, set(assignment_ids))
                 for a in assignments]
    show_skipped(d for d in decisions if d.action != REJECT)
    for d in decisions:
        if d.action == REJECT:
            click.echo(f"  reject {d.assignment.assignment_id} (worker "
                       f"{d.assignment.worker_id}): {d.reason}")
    if dry_run:
        click.echo(f"Dry run: {sum(d.action == REJECT for d in decisions)} would be rejected.")
        report_failures(refused, "MTurk calls")
        return
    _review(gateway, decisions, REJECT, message.strip(), yes, refused)
