"""``flask hits``: create HITs and report on them (review and management in sibling modules).
Every command works on the sandbox unless given ``--live`` (which also needs
``MTURK_SANDBOX=false``), so no command spends real money by accident."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from ..access import Level, acting_researcher, cli_access, cli_experiment, cli_visible
from ..dry_run import dry_run_option
from ..experiments import Experiment
from ..extensions import db
from .bonuses import BonusFileError
from .errors import MTurkError, NotFound
from .exclusion import exclude_previous
from .fees import parse_money, plan_cost
from .gateway import Gateway, Target, gateway_for
from .models import Hit
from .posting import (
    CreatePlan,
    HitOptions,
    default_options,
    make_plan,
    post_batch,
    project_hits,
    qualification_requirements,
    with_overrides,
)
from .question import QuestionError
from .sync import HitReport, report_hit

F = TypeVar("F", bound=Callable[..., Any])
RESEARCHER_ERRORS = (MTurkError, QuestionError, BonusFileError)


class HitsGroup(AppGroup):
    """An AppGroup whose commands turn MTurk errors into plain messages, never tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RESEARCHER_ERRORS as error:
            raise click.ClickException(str(error)) from error


def live_option(function: F) -> F:
    """Add ``--live``: use live MTurk instead of the sandbox."""
    return click.option("--live", is_flag=True,
                        help="Use live MTurk (real money); needs MTURK_SANDBOX=false.")(function)


def open_gateway(live: bool) -> Gateway:
    """The gateway for this command, refusing ``--live`` unless MTURK_SANDBOX is false."""
    if live and current_app.config["MTURK_SANDBOX"]:
        raise click.ClickException(
            "--live spends real money and also needs MTURK_SANDBOX=false in the environment. "
            "Rehearse on the sandbox first (the default).")
    return gateway_for(current_app.config, live)


def confirm(question: str, yes: bool, target: Target) -> None:
    """Ask before doing it (``--yes`` skips); live MTurk is asked about again, always."""
    if not yes:
        click.confirm(question, abort=True)
    if target.live:
        click.confirm("This is LIVE MTurk: real workers, real money. Really go ahead?",
                      abort=True)


def our_row(target: Target, hit_id: str) -> Hit | None:
    """This project's record of the HIT (deleted ones too), if it has one."""
    return db.session.scalars(select(Hit).where(
        Hit.endpoint == target.endpoint, Hit.hit_id == hit_id)).one_or_none()


def check_hits(target: Target, hit_ids: Iterable[str], level: Level) -> None:
    """Stop, before any MTurk call, unless whoever acts has ``level`` on each HIT's
    experiment (a HIT this project did not post: the operator and admins only)."""
    for hit_id in hit_ids:
        row = our_row(target, hit_id)
        cli_access(row.experiment_slug if row else None, level, f"HIT {hit_id}")


def visible_hits(target: Target, level: Level) -> list[Hit]:
    """This project's HITs on ``target`` whose experiment whoever acts may use at ``level``."""
    rows = project_hits(target)
    allowed = set(cli_visible({row.experiment_slug for row in rows}, level))
    return [row for row in rows if row.experiment_slug in allowed]


def plan_lines(plan: CreatePlan) -> list[str]:
    """The plan shown before creating HITs."""
    cost, options = plan.cost, plan.options
    sizes = " + ".join(str(b.assignments) for b in cost.batches)
    rate = "40%" if cost.large_tier else "20%"
    lines = [
        f"Plan for experiment '{plan.experiment.slug}' (round {plan.round}) on {plan.target.label}",
        f"  URL:          {plan.url}",
        f"  Title:        {options.title}",
        f"  Reward:       ${options.reward:.2f} per assignment",
        f"  Assignments:  {cost.assignments} in {len(cost.batches)} HIT(s) ({sizes})",
        f"  Amazon's fee: {rate} = ${cost.fees_total:.2f}",
        f"  Total cost:   ${cost.total:.2f}",
        f"  Balance:      ${plan.balance:.2f}",
        f"  Lifetime {options.lifetime_hours:g} h, {options.duration_minutes:g} min per "
        f"assignment, auto-approval after {options.auto_approve_hours:g} h",
    ]
    if plan.exclusion:
        lines.append("  Workers who took part before are excluded by a qualification.")
    if cost.large_tier:
        batched = plan_cost(options.reward, cost.assignments, batched=True)
        lines.append(
            f"Warning: a HIT with 10 or more assignments pays Amazon 40% (${cost.fees_total:.2f})"
            f" instead of 20% (${batched.fees_total:.2f}). Use --batches to post HITs of at "
            "most 9 assignments each, with repeat workers excluded between them.")
    return lines


def _options(experiment: Experiment, reward: str | None, keywords: str | None,
             **overrides: Any) -> HitOptions:
    try:
        money = parse_money(reward) if reward is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--reward") from exc
    words = tuple(w.strip() for w in keywords.split(",") if w.strip()) if keywords else None
    return with_overrides(default_options(experiment), reward=money, keywords=words, **overrides)


def _post(gateway: Gateway, plan: CreatePlan) -> None:
    type_id = None
    if plan.exclusion:
        result = exclude_previous(gateway, plan.experiment)
        type_id = result.qualification_type_id
        click.echo(f"Exclusion qualification {type_id}: {result.granted} workers added "
                   f"({result.already} already had it).")
        db.session.commit()
    requirements = qualification_requirements(plan.experiment, type_id)
    for batch in plan.to_post:
        row, created = post_batch(gateway, plan, batch, requirements)
        db.session.commit()
        verb = "Created" if created else "Already created (found by its request token)"
        click.echo(f"{verb} HIT {row.hit_id} ({batch.assignments} assignments, batch "
                   f"{batch.index}/{len(plan.cost.batches)})")
        click.echo(f"  Worker preview: {plan.target.preview_url(row.hit_id, row.hit_group_id)}")


@click.command("create")
@with_appcontext
@click.argument("slug")
@click.option("--assignments", type=click.IntRange(1, 1_000_000), help="Number of workers.")
@click.option("--reward", help="USD per assignment, e.g. 0.50.")
@click.option("--lifetime", "lifetime_hours", type=click.FloatRange(0.01, 8760),
              help="Hours the HIT stays listed.")
@click.option("--duration", "duration_minutes", type=click.FloatRange(0.5, 525600),
              help="Minutes a worker has to finish.")
@click.option("--auto-approve", "auto_approve_hours", type=click.FloatRange(0, 720),
              help="Hours after submission until MTurk approves by itself.")
@click.option("--title", help="HIT title (default: the experiment's title).")
@click.option("--description", help="HIT description (default: the experiment's).")
@click.option("--keywords", help="Comma-separated keywords.")
@click.option("--frame-height", type=click.IntRange(0), help="Frame height in pixels (0: fit).")
@click.option("--batches", is_flag=True,
              help="Post HITs of at most 9 assignments (20% fee), excluding repeat workers.")
@click.option("--exclude-previous", is_flag=True,
              help="Hide the HIT from workers who took part in this or related experiments.")
@click.option("--round", "round_", type=click.IntRange(1), default=1, show_default=True,
              help="Post the experiment again: a new round is a new set of HITs.")
@dry_run_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@live_option
def create_command(slug: str, batches: bool, exclude_previous: bool, round_: int,
                   dry_run: bool, yes: bool, live: bool, **overrides: Any) -> None:
    """Create the HIT(s) of an experiment: show the plan and cost, ask, post, record."""
    experiment = cli_experiment(slug, Level.EDIT)
    gateway = open_gateway(live)
    options = _options(experiment, **overrides)
    plan = make_plan(experiment, gateway.target, current_app.config["PUBLIC_URL"], options,
                     batches, round_, exclude_previous or bool(
                         experiment.config.hit.qualifications.exclude_experiments),
                     gateway.balance())
    click.echo("\n".join(plan_lines(plan)))
    for index, row in sorted(plan.existing.items()):
        click.echo(f"Batch {index} of round {round_} already exists: HIT {row.hit_id} "
                   "(use --round to post the experiment again).")
    if not plan.to_post or dry_run:
        return
    remaining = plan.remaining_cost
    if remaining.total > plan.balance:
        raise click.ClickException(
            f"The account balance ${plan.balance:.2f} does not cover ${remaining.total:.2f}. "
            "Add funds, or post fewer assignments.")
    confirm(f"Create {len(plan.to_post)} HIT(s) for ${remaining.total:.2f}?", yes, plan.target)
    _post(gateway, plan)


def _hit_line(report: HitReport, slug: str) -> str:
    hit, counts = report.hit, report.counts
    return (f"{hit.hit_id}  {slug:<16} {hit.status:<12} available {hit.available}, pending "
            f"{hit.pending}, submitted {counts['Submitted']}, approved {counts['Approved']}, "
            f"rejected {counts['Rejected']}  (expires {hit.expiration:%Y-%m-%d %H:%M} UTC)")


@click.command("list")
@with_appcontext
@live_option
def list_command(live: bool) -> None:
    """List this project's HITs with their MTurk state and assignment counts."""
    gateway = open_gateway(live)
    rows = visible_hits(gateway.target, Level.VIEW)
    click.echo(f"HITs on {gateway.target.label}: {len(rows)}")
    for row in rows:
        try:
            click.echo(_hit_line(report_hit(gateway, row.hit_id), row.experiment_slug))
        except NotFound:
            click.echo(f"{row.hit_id}  {row.experiment_slug:<16} not found on MTurk "
                       "(deleted, or another account)")


@click.command("status")
@with_appcontext
@click.argument("hit_id", required=False)
@live_option
def status_command(hit_id: str | None, live: bool) -> None:
    """Show HITs (or one) with counts, joined with our runs: who has data, who has none."""
    gateway = open_gateway(live)
    check_hits(gateway.target, [hit_id] if hit_id else [], Level.VIEW)
    rows = project_hits(gateway.target, hit_id) if hit_id else \
        visible_hits(gateway.target, Level.VIEW)
    slugs = {row.hit_id: row.experiment_slug for row in rows}
    hit_ids = [hit_id] if hit_id else list(slugs)
    if not hit_ids:
        click.echo(f"No HITs of this project on {gateway.target.label}.")
    for one in hit_ids:
        report = report_hit(gateway, one)
        click.echo(_hit_line(report, slugs.get(one, "(not ours)")))
        for label, items in (("Submitted with complete data", report.complete),
                             ("Submitted WITHOUT complete data", report.without_data),
                             ("Completed here but never submitted", report.not_submitted)):
            click.echo(f"  {label}: {len(items)}")
            for item in items:
                click.echo(f"    {item}")


@click.command("balance")
@with_appcontext
@live_option
def balance_command(live: bool) -> None:
    """Show the account's available balance (open to every researcher)."""
    acting_researcher()  # an unknown --as is refused here too
    gateway = open_gateway(live)
    amount: Decimal = gateway.balance()
    click.echo(f"Available balance on {gateway.target.label}: ${amount:.2f}")
