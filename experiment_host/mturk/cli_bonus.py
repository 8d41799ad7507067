"""``flask hits bonus``: pay the bonuses of approved assignments with verified data, once
each; everything else is skipped with the reason, so a researcher sees why a bonus waits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from flask.cli import with_appcontext

from ..extensions import db
from . import bonuses
from .cli import confirm, live_option, open_gateway
from .cli_review import (
    apply_all,
    approve_decided,
    audit_assignments,
    chosen_hits,
    report_failures,
)
from .gateway import AssignmentInfo, Gateway
from .review import APPROVE, Decision, Failure, assignments_of, decide_approval, look_up, runs_for


def _scope(gateway: Gateway, hit_id: str | None, all_hits: bool, csv_file: Path | None
           ) -> tuple[list[AssignmentInfo], list[bonuses.Wanted] | None, list[Failure]]:
    """The assignments in question, the CSV's bonuses (None: the runs'), what MTurk refused."""
    if csv_file is None:
        found, refused = assignments_of(gateway, chosen_hits(gateway, hit_id, all_hits),
                                        ("Submitted", "Approved"))
        return found, None, refused
    if hit_id or all_hits:
        raise click.UsageError("Give either --csv or HIT_ID/--all, not both.")
    wanted = bonuses.read_csv(csv_file)
    found, refused = look_up(gateway, [w.assignment_id for w in wanted])
    failed = {key for key, _ in refused}
    return found, [w for w in wanted if w.assignment_id not in failed], refused


def _show(plan: bonuses.BonusPlan, approvals: list[Decision], gateway: Gateway) -> None:
    for bonus, reason in plan.skipped:
        click.echo(f"  skip {bonus.assignment_id}: {reason}")
    if approvals:
        click.echo(f"{len(approvals)} submitted assignment(s) to approve first.")
    click.echo(f"{len(plan.to_pay)} bonus(es) to pay: ${plan.total:.2f} + Amazon's fee "
               f"${plan.fees:.2f} = ${plan.total + plan.fees:.2f} on {gateway.target.label}")


def _check_balance(gateway: Gateway, plan: bonuses.BonusPlan) -> None:
    if not plan.to_pay:
        return
    balance = gateway.balance()
    if plan.total + plan.fees > balance:
        raise click.ClickException(f"The account balance ${balance:.2f} does not cover "
                                   f"${plan.total + plan.fees:.2f}. Add funds first.")


def _pay(gateway: Gateway, plan: bonuses.BonusPlan, approvals: list[Decision]
         ) -> list[Failure]:
    """Approve, then pay the bonuses whose approval did not fail; the failures."""
    approved, approve_failed = approve_decided(gateway, approvals) if approvals else ([], [])
    if approvals:
        fresh = sum(1 for _, changed in approved if changed)
        click.echo(f"Approved {fresh} now, {len(approved) - fresh} were already.")
    blocked = {key for key, _ in approve_failed}
    to_pay = [b for b in plan.to_pay if b.assignment_id not in blocked]
    done, failed = apply_all(to_pay, lambda b: bonuses.pay(gateway, b), "Paying")
    for bonus, _ in done:
        bonuses.record(gateway.target.endpoint, bonus)
    audit_assignments("pay", [b.assignment_id for b, result in done if result == bonuses.PAID])
    db.session.commit()
    outcomes = Counter(result for _, result in done)
    click.echo(f"Summary: {outcomes[bonuses.PAID]} paid now, {outcomes[bonuses.ALREADY]} had "
               f"been paid already, {len(plan.skipped)} skipped, "
               f"{len(approve_failed) + len(failed)} failed.")
    return approve_failed + [(b.assignment_id, error) for b, error in failed]


@click.command("bonus")
@with_appcontext
@click.argument("hit_id", required=False)
@click.option("--all", "all_hits", is_flag=True, help="Every HIT of this project.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV with columns assignment_id, amount, reason (instead of the runs).")
@click.option("--approve", is_flag=True,
              help="First approve the submitted assignments that `flask hits approve` would.")
@click.option("--dry-run", is_flag=True, help="Only show the plan.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@live_option
def bonus_command(hit_id: str | None, all_hits: bool, csv_file: Path | None, approve: bool,
                  dry_run: bool, yes: bool, live: bool) -> None:
    """Pay the bonuses recorded on runs (or listed in a CSV) of approved assignments whose
    run (same worker) completed with its data; each assignment once."""
    gateway = open_gateway(live)
    assignments, wanted, refused = _scope(gateway, hit_id, all_hits, csv_file)
    runs = runs_for(assignments)
    decisions = [decide_approval(a, runs.get(a.assignment_id)) for a in assignments]
    approvals = [d for d in decisions if approve and d.action == APPROVE]
    plan = bonuses.plan(gateway.target.endpoint,
                        bonuses.from_runs(runs.values()) if wanted is None else wanted,
                        {a.assignment_id: a for a in assignments}, runs,
                        {d.assignment.assignment_id for d in approvals})
    _show(plan, approvals, gateway)
    if dry_run or not (plan.to_pay or approvals):
        report_failures(refused, "MTurk calls")
        return
    _check_balance(gateway, plan)
    what = f"Approve {len(approvals)} assignment(s) and pay" if approvals else "Pay"
    confirm(f"{what} {len(plan.to_pay)} bonus(es)?", yes, gateway.target)
    report_failures(refused + _pay(gateway, plan, approvals), "MTurk calls")
