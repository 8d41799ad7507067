"""``flask hits bonus``: the CLI face of :mod:`.actions` for bonuses (the console is the
other): pay the bonuses of approved assignments with verified data, once each; everything
else is skipped with the reason, so a researcher sees why a bonus waits."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from ..access import Level, cli_access_sessions
from ..dry_run import dry_run_option
from ..models import Platform
from . import bonuses
from .actions import BonusRound, bonus_round, pay_round
from .cli import confirm, live_option, open_gateway
from .cli_review import chosen_hits, report_failures, workers
from .gateway import Gateway


def _check_balance(gateway: Gateway, plan: bonuses.BonusPlan) -> None:
    if not plan.to_pay:
        return
    balance = gateway.balance()
    if plan.total + plan.fees > balance:
        raise click.ClickException(f"The account balance ${balance:.2f} does not cover "
                                   f"${plan.total + plan.fees:.2f}. Add funds first.")


def _round(gateway: Gateway, hit_id: str | None, all_hits: bool, csv_file: Path | None,
           approve: bool) -> BonusRound:
    if csv_file is None:
        return bonus_round(gateway, chosen_hits(gateway, hit_id, all_hits), approve=approve)
    if hit_id or all_hits:
        raise click.UsageError("Give either --csv or HIT_ID/--all, not both.")
    wanted = bonuses.read_csv(csv_file)
    cli_access_sessions(Platform.MTURK, [one.assignment_id for one in wanted], Level.EDIT,
                        "assignment")
    return bonus_round(gateway, wanted=wanted, approve=approve)


@click.command("bonus")
@with_appcontext
@click.argument("hit_id", required=False)
@click.option("--all", "all_hits", is_flag=True, help="Every HIT of this project.")
@click.option("--csv", "csv_file", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV with columns assignment_id, amount, reason (instead of the runs).")
@click.option("--approve", is_flag=True,
              help="First approve the submitted assignments that `flask hits approve` would.")
@dry_run_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@live_option
def bonus_command(hit_id: str | None, all_hits: bool, csv_file: Path | None, approve: bool,
                  dry_run: bool, yes: bool, live: bool) -> None:
    """Pay the bonuses recorded on runs (or listed in a CSV) of approved assignments whose
    run (same worker) completed with its data; each assignment once."""
    gateway = open_gateway(live)
    round_ = _round(gateway, hit_id, all_hits, csv_file, approve)
    click.echo("\n".join(round_.lines()))
    if dry_run or round_.empty:
        report_failures(list(round_.refused), "MTurk calls")
        return
    _check_balance(gateway, round_.plan)
    approvals = round_.approvals.chosen
    what = f"Approve {len(approvals)} assignment(s) and pay" if approvals else "Pay"
    confirm(f"{what} {len(round_.plan.to_pay)} bonus(es)?", yes, gateway.target)
    with click.progressbar(length=len(round_.plan.to_pay), label="Paying") as bar:
        outcome = pay_round(gateway, round_, workers(), lambda: bar.update(1))
    click.echo("\n".join(outcome.lines()))
    report_failures([*round_.refused, *outcome.failures], "MTurk calls")
