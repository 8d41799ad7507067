"""``flask hits approve / reject / bonus``: review assignments and pay bonuses, safely."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import click
from flask import current_app

from ..extensions import db
from ..models import RunStatus
from . import bonuses
from .cli import confirm, hits_cli, live_option, open_gateway
from .errors import MTurkError
from .gateway import AssignmentInfo, Gateway
from .posting import project_hits
from .review import (
    APPROVE,
    REJECT,
    Decision,
    decide_approval,
    decide_rejection,
    mark_reviewed,
    run_concurrently,
    runs_for,
    submitted_assignments,
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


def report_failures(failed: list[tuple[T, MTurkError]], what: str) -> None:
    """Print failures and end with an error, if there were any."""
    if not failed:
        return
    for _, error in failed[:20]:
        click.echo(f"  failed: {error}", err=True)
    raise click.ClickException(f"{len(failed)} {what} failed; run the command again to retry "
                               "them (finished ones are not repeated).")


def _review(gateway: Gateway, decisions: list[Decision], action: str, message: str,
            yes: bool) -> None:
    chosen = [d for d in decisions if d.action == action]
    verb = "approve" if action == APPROVE else "reject"
    click.echo(f"{len(chosen)} to {verb}, {len(decisions) - len(chosen)} skipped.")
    if not chosen:
        return
    confirm(f"{verb.capitalize()} {len(chosen)} assignment(s) on {gateway.target.label}?",
            yes, gateway.target)
    if action == APPROVE:
        def work(d: Decision) -> bool:
            return gateway.approve(d.assignment.assignment_id)
    else:
        def work(d: Decision) -> bool:
            return gateway.reject(d.assignment.assignment_id, message)
    done, failed = apply_all(chosen, work, f"{verb.capitalize()[:-1]}ing")
    status = RunStatus.APPROVED if action == APPROVE else RunStatus.REJECTED
    for decision, _ in done:
        mark_reviewed(decision.run_id, status)
    db.session.commit()
    fresh = sum(1 for _, changed in done if changed)
    click.echo(f"Summary: {fresh} {verb.rstrip('e')}ed now, {len(done) - fresh} were already, "
               f"{len(decisions) - len(chosen)} skipped, {len(failed)} failed.")
    report_failures(failed, f"{verb} calls")


@hits_cli.command("approve")
@click.argument("hit_id", required=False)
@click.option("--all", "all_hits", is_flag=True, help="Every HIT of this project.")
@click.option("--dry-run", is_flag=True, help="Only show what would be approved.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@live_option
def approve_command(hit_id: str | None, all_hits: bool, dry_run: bool, yes: bool,
                    live: bool) -> None:
    """Approve submitted assignments whose run completed with all its data; skip the rest."""
    gateway = open_gateway(live)
    assignments = submitted_assignments(gateway, chosen_hits(gateway, hit_id, all_hits))
    runs = runs_for(assignments)
    decisions = [decide_approval(a, runs.get(a.assignment_id)) for a in assignments]
    show_skipped(d for d in decisions if d.action != APPROVE)
    if dry_run:
        click.echo(f"Dry run: {sum(d.action == APPROVE for d in decisions)} would be approved.")
        return
    _review(gateway, decisions, APPROVE, "", yes)


def _named(gateway: Gateway, assignment_ids: tuple[str, ...]) -> list[AssignmentInfo]:
    return [gateway.get_assignment(one) for one in assignment_ids]


@hits_cli.command("reject")
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
    assignments = (_named(gateway, assignment_ids) if assignment_ids else
                   submitted_assignments(gateway, chosen_hits(gateway, hit_id, all_hits)))
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
        return
    _review(gateway, decisions, REJECT, message.strip(), yes)


def _gather_bonuses(gateway: Gateway, hit_id: str | None, all_hits: bool,
                    csv_file: Path | None) -> list[bonuses.BonusInfo]:
    if csv_file is not None:
        if hit_id or all_hits:
            raise click.UsageError("Give either --csv or HIT_ID/--all, not both.")
        return bonuses.read_csv(csv_file, gateway)
    ids = [a.assignment_id for one in chosen_hits(gateway, hit_id, all_hits)
           for a in gateway.assignments(one, ("Submitted", "Approved"))]
    return bonuses.from_runs(ids)


@hits_cli.command("bonus")
@click.argument("hit_id", required=False)
@click.option("--all", "all_hits", is_flag=True, help="Every HIT of this project.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV with columns assignment_id, amount, reason (instead of the runs).")
@click.option("--dry-run", is_flag=True, help="Only show the plan.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@live_option
def bonus_command(hit_id: str | None, all_hits: bool, csv_file: Path | None, dry_run: bool,
                  yes: bool, live: bool) -> None:
    """Pay the bonuses recorded on runs (or listed in a CSV), each assignment once."""
    gateway = open_gateway(live)
    plan = bonuses.plan(gateway.target.endpoint,
                        _gather_bonuses(gateway, hit_id, all_hits, csv_file))
    for bonus, reason in plan.skipped:
        click.echo(f"  skip {bonus.assignment_id}: {reason}")
    click.echo(f"{len(plan.to_pay)} bonus(es) to pay: ${plan.total:.2f} + Amazon's fee "
               f"${plan.fees:.2f} = ${plan.total + plan.fees:.2f} on {gateway.target.label}")
    if not plan.to_pay or dry_run:
        return
    balance = gateway.balance()
    if plan.total + plan.fees > balance:
        raise click.ClickException(f"The account balance ${balance:.2f} does not cover "
                                   f"${plan.total + plan.fees:.2f}. Add funds first.")
    confirm(f"Pay {len(plan.to_pay)} bonus(es)?", yes, gateway.target)
    done, failed = apply_all(plan.to_pay, lambda b: bonuses.pay(gateway, b), "Paying")
    for bonus, _ in done:
        bonuses.record(gateway.target.endpoint, bonus)
    db.session.commit()
    outcomes = Counter(result for _, result in done)
    click.echo(f"Summary: {outcomes[bonuses.PAID]} paid now, {outcomes[bonuses.ALREADY]} had "
               f"been paid already, {len(plan.skipped)} skipped, {len(failed)} failed.")
    report_failures(failed, "bonus payments")
