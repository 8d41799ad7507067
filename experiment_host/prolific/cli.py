"""``flask prolific``: create studies and move them through their states, and report on them
joined with our runs. Every command shows its plan, asks before acting (``--yes``,
``--dry-run``), turns Prolific's errors into one sentence, and is harmless to re-run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from ..access import Level, cli_access, cli_experiment, cli_visible
from ..dry_run import dry_run_option
from ..extensions import db
from ..runs import has_complete_data
from . import review, studies
from .actions import is_live, money, where
from .bonuses import BonusFileError
from .client import ProlificClient, ProlificError, Settings
from .models import ProlificStudy

F = TypeVar("F", bound=Callable[..., Any])


class ProlificGroup(AppGroup):
    """An AppGroup whose commands turn Prolific errors into plain messages, never tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ProlificError, BonusFileError) as error:
            raise click.ClickException(str(error)) from error


def open_client() -> ProlificClient:
    """The client for this command; without a token it stops here, before any plan."""
    client = ProlificClient(Settings.from_config(current_app.config))
    client.require_token()
    return client


def confirm(question: str, yes: bool, client: ProlificClient) -> None:
    """Ask before doing it (``--yes`` skips); live Prolific is asked about again, always."""
    if not yes:
        click.confirm(question, abort=True)
    if is_live(client):
        click.confirm("This is LIVE Prolific: real participants, real money. Really go ahead?",
                      abort=True)


def asking(function: F) -> F:
    """Add ``--dry-run`` and ``--yes``."""
    function = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")(function)
    return dry_run_option(function)


def check_study(client: ProlificClient, study_id: str, level: Level) -> None:
    """Stop, before any Prolific call, unless whoever acts has ``level`` on the study's
    experiment (a study this project did not create: the operator and admins only)."""
    slug = db.session.scalar(select(ProlificStudy.experiment_slug).where(
        ProlificStudy.api_url == client.url, ProlificStudy.study_id == study_id))
    cli_access(slug, level, f"study {study_id}")


def visible_studies(client: ProlificClient, level: Level) -> list[ProlificStudy]:
    """This project's studies on the client's API whose experiment whoever acts may use."""
    rows = studies.recorded(client.url)
    allowed = set(cli_visible({row.experiment_slug for row in rows}, level))
    return [row for row in rows if row.experiment_slug in allowed]


def balance(client: ProlificClient) -> int:
    """The researcher's available balance in minor units (``GET /users/me/``)."""
    me = client.get("users/me/", what="reading your account")
    return int(me.get("available_balance") or me.get("balance") or 0)


@click.command("create")
@with_appcontext
@click.argument("slug")
@click.option("--round", "round_", type=click.IntRange(1), default=1, show_default=True,
              help="A new round creates a new study for the same experiment.")
@click.option("--places", type=click.IntRange(1), help="Places (default: [prolific] places).")
@asking
def create_command(slug: str, round_: int, places: int | None, dry_run: bool, yes: bool) -> None:
    """Create a draft study from the experiment's [prolific] settings (once per round)."""
    experiment = cli_experiment(slug, Level.EDIT)
    if not experiment.config.prolific.completion_code:
        raise click.ClickException(f"Experiment {slug!r} has no [prolific] completion_code; "
                                   "add one to its experiment.toml first.")
    client = open_client()
    body = studies.study_body(experiment, current_app.config["PUBLIC_URL"],
                              studies.internal_name(slug, round_), places)
    rewards = body["reward"] * body["total_available_places"]
    click.echo(f"Plan for experiment '{slug}' (round {round_}) on {where(client)}")
    click.echo(f"  Name:       {body['name']}\n  URL:        {body['external_study_url']}")
    click.echo(f"  Reward:     {money(body['reward'])} x {body['total_available_places']} "
               f"places = {money(rewards)} (+ Prolific's fee and VAT, shown by `publish`)")
    click.echo(f"  Time:       about {body['estimated_completion_time']} min, at most "
               f"{body['maximum_allowed_time']} min; devices: "
               f"{', '.join(body['device_compatibility'])}")
    click.echo(f"  Codes:      {', '.join(c['code'] for c in body['completion_codes'])}")
    if dry_run:
        return
    click.echo(f"  Balance:    {money(balance(client))}")
    confirm("Create this draft study (nothing is spent until `publish`)?", yes, client)
    created = studies.create(client, body, slug, round_)
    state = "Created" if created.new else "Already created:"
    click.echo(f"{state} draft study {created.row.study_id} "
               f"({created.study.get('status', 'UNPUBLISHED')}). Publish it with "
               f"`flask prolific publish {created.row.study_id}`.")


def transition_command(word: str) -> click.Command:
    action = studies.TRANSITIONS[word]

    @click.command(word, help=f"{word.capitalize()} a study (Prolific action {action}).")
    @with_appcontext
    @click.argument("study_id")
    @asking
    def command(study_id: str, dry_run: bool, yes: bool) -> None:
        client = open_client()
        check_study(client, study_id, Level.EDIT)
        study = client.get(f"studies/{study_id}/", what=f"reading study {study_id}")
        click.echo(f"Study {study_id} '{study.get('name')}' is {study.get('status')} on "
                   f"{where(client)}.")
        if study.get("status") == studies.TARGETS[action]:
            click.echo("Nothing to do.")
            return
        if action == "PUBLISH":
            total, available = int(study.get("total_cost") or 0), balance(client)
            click.echo(f"  {study.get('total_available_places')} places x "
                       f"{money(int(study['reward']))}; total with fee and VAT: {money(total)}; "
                       f"balance {money(available)}")
            if total > available:
                raise click.ClickException("Your balance does not cover this study: top up on "
                                           "app.prolific.com first.")
        if dry_run:
            click.echo(f"Would {word} study {study_id}.")
            return
        confirm(f"{word.capitalize()} study {study_id}?", yes, client)
        after = studies.transition(client, study_id, action)
        click.echo(f"Study {study_id} is now {after.get('status')}.")

    return command


@click.command("add-places")
@with_appcontext
@click.argument("study_id")
@click.argument("extra", type=click.IntRange(1))
@asking
def add_places_command(study_id: str, extra: int, dry_run: bool, yes: bool) -> None:
    """Add EXTRA places to a study (each re-run adds again: it is what you asked)."""
    client = open_client()
    check_study(client, study_id, Level.EDIT)
    study = client.get(f"studies/{study_id}/", what=f"reading study {study_id}")
    cost = extra * int(study["reward"])
    click.echo(f"Study {study_id}: {study['total_available_places']} places → "
               f"{int(study['total_available_places']) + extra}; rewards {money(cost)} "
               "(+ fee and VAT)")
    if dry_run:
        return
    confirm(f"Add {extra} places?", yes, client)
    after = studies.add_places(client, study_id, extra)
    click.echo(f"Study {study_id} now has {after['total_available_places']} places.")


@click.command("list")
@with_appcontext
def list_command() -> None:
    """List the studies this project created, with Prolific's status."""
    client = open_client()
    rows = visible_studies(client, Level.VIEW)
    if not rows:
        click.echo(f"No studies created from this project on {where(client)}.")
    for row in rows:
        if row.study_id is None:
            click.echo(f"{row.experiment_slug} round {row.round}: creation unconfirmed; "
                       f"re-run `flask prolific create {row.experiment_slug}`")
            continue
        study = client.get(f"studies/{row.study_id}/", what=f"reading study {row.study_id}")
        click.echo(f"{row.study_id}  {row.experiment_slug} round {row.round}  "
                   f"{study.get('status')}  {study.get('places_taken', '?')}/"
                   f"{study.get('total_available_places')} places  '{study.get('name')}'")


def study_ids(client: ProlificClient, study_id: str | None, all_studies: bool = True,
              level: Level = Level.EDIT) -> list[str]:
    """The study named, or every study of this project whose experiment whoever acts may
    use at ``level``."""
    if study_id:
        check_study(client, study_id, level)
        return [study_id]
    if not all_studies:
        raise click.UsageError("Name one STUDY_ID, or give --all for every study of this project.")
    return [row.study_id for row in visible_studies(client, level) if row.study_id]


@click.command("status")
@with_appcontext
@click.argument("study_id", required=False)
def status_command(study_id: str | None) -> None:
    """Prolific's submissions of a study (or of every study) joined with our runs."""
    client = open_client()
    for sid in study_ids(client, study_id, level=Level.VIEW):
        items = review.submissions(client, sid)
        runs = review.runs_for(str(s["id"]) for s in items)
        counts = Counter(str(s.get("status")) for s in items)
        click.echo(f"Study {sid}: " + (", ".join(f"{n} {s.lower()}" for s, n in
                                                 sorted(counts.items())) or "no submissions"))
        waiting = [s for s in items if s.get("status") == "AWAITING REVIEW"]
        complete = [s for s in waiting if has_complete_data(runs.get(str(s["id"])))]
        click.echo(f"  awaiting review with complete data here: {len(complete)}; "
                   f"with none: {len(waiting) - len(complete)}")
        for s in waiting:
            if s not in complete:
                click.echo(f"    no data: {s['id']} ({s.get('participant_id')})")
        lost = review.completed_runs_of_study(sid, {str(s["id"]): str(s.get("status"))
                                                    for s in items})
        for run in lost:
            click.echo(f"  completed here but never reached Prolific: run {run.id} "
                       f"(submission {run.session_key}, participant {run.worker_id})")
