"""``flask hits expire / extend / delete / exclude-previous / notify / sync``: managing
HITs after posting, each command showing what it will do before it does it."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import click
from flask.cli import with_appcontext

from ..access import Level, cli_access, cli_experiment
from ..dry_run import commit_unless, dry_run_option
from ..extensions import db
from ..models import utcnow
from .actions import sync_hits
from .cli import check_hits, confirm, live_option, open_gateway, our_row, visible_hits
from .cli_review import report_failures
from .errors import InvalidState
from .exclusion import ExclusionResult, exclude_previous
from .fees import LARGE_HIT_ASSIGNMENTS, fee_per_payment
from .gateway import Gateway

EXPIRE_IN_THE_PAST = timedelta(minutes=1)


def _hit_ids(gateway: Gateway, hit_ids: tuple[str, ...], all_hits: bool) -> list[str]:
    if bool(hit_ids) == all_hits:
        raise click.UsageError("Name HIT_IDS, or give --all for every HIT of this project.")
    check_hits(gateway.target, hit_ids, Level.EDIT)
    return list(hit_ids) or [row.hit_id for row in visible_hits(gateway.target, Level.EDIT)]


@click.command("expire")
@with_appcontext
@click.argument("hit_ids", nargs=-1)
@click.option("--all", "all_hits", is_flag=True, help="Every HIT of this project.")
@dry_run_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@live_option
def expire_command(hit_ids: tuple[str, ...], all_hits: bool, dry_run: bool, yes: bool,
                   live: bool) -> None:
    """Stop HITs taking new workers now (workers already on them may finish)."""
    gateway = open_gateway(live)
    chosen = _hit_ids(gateway, hit_ids, all_hits)
    if dry_run:
        click.echo(f"Dry run: would expire {len(chosen)} HIT(s) on {gateway.target.label}: "
                   + " ".join(chosen))
        return
    confirm(f"Expire {len(chosen)} HIT(s) on {gateway.target.label}?", yes, gateway.target)
    when = utcnow() - EXPIRE_IN_THE_PAST
    for hit_id in chosen:
        gateway.set_expiration(hit_id, when)
        row = our_row(gateway.target, hit_id)
        if row is not None:
            row.expires_at = utcnow()
        click.echo(f"Expired {hit_id}")
    db.session.commit()


def _extension_token(gateway: Gateway, hit_id: str, before: int, count: int) -> str:
    key = f"{gateway.target.endpoint}|{hit_id}|{before}|{count}"
    return "eh-add-" + hashlib.sha256(key.encode()).hexdigest()[:48]


@click.command("extend")
@with_appcontext
@click.argument("hit_id")
@click.option("--add", "add", type=click.IntRange(1, 1_000_000), help="More assignments.")
@click.option("--hours", type=click.FloatRange(0.01, 8760), help="More hours of lifetime.")
@dry_run_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@live_option
def extend_command(hit_id: str, add: int | None, hours: float | None, dry_run: bool,
                   yes: bool, live: bool) -> None:
    """Add assignments and/or time to a HIT (a HIT of < 10 assignments stays below 10)."""
    if not add and not hours:
        raise click.UsageError("Give --add N and/or --hours H.")
    gateway = open_gateway(live)
    check_hits(gateway.target, [hit_id], Level.EDIT)
    hit = gateway.get_hit(hit_id)
    total = hit.max_assignments + (add or 0)
    if add and hit.max_assignments < LARGE_HIT_ASSIGNMENTS <= total:
        raise click.ClickException(
            f"HIT {hit_id} has {hit.max_assignments} assignments; MTurk cannot extend a HIT "
            f"of fewer than 10 to 10 or more. Post another HIT instead "
            f"(flask hits create <slug> --round 2 --assignments {add}).")
    cost = (hit.reward + fee_per_payment(hit.reward, total)) * (add or 0)
    new_expiry = max(hit.expiration, utcnow()) + timedelta(hours=hours or 0)
    click.echo(f"Extend {hit_id} on {gateway.target.label}: +{add or 0} assignments "
               f"(${cost:.2f} incl. fee), expires {new_expiry:%Y-%m-%d %H:%M} UTC")
    if dry_run:
        click.echo("Dry run: nothing changed.")
        return
    confirm("Go ahead?", yes, gateway.target)
    if add:
        token = _extension_token(gateway, hit_id, hit.max_assignments, add)
        added = gateway.add_assignments(hit_id, add, token)
        click.echo(f"Assignments: {total}" + ("" if added else " (already added)"))
    if hours:
        gateway.set_expiration(hit_id, new_expiry)
    row = our_row(gateway.target, hit_id)
    if row is not None:
        row.max_assignments, row.expires_at = total, new_expiry if hours else row.expires_at
    db.session.commit()


@click.command("delete")
@with_appcontext
@click.argument("hit_ids", nargs=-1, required=True)
@dry_run_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@live_option
def delete_command(hit_ids: tuple[str, ...], dry_run: bool, yes: bool, live: bool) -> None:
    """Delete finished HITs (expired or full, every assignment approved or rejected)."""
    gateway = open_gateway(live)
    check_hits(gateway.target, hit_ids, Level.EDIT)
    if dry_run:
        for hit_id in hit_ids:
            hit = gateway.get_hit(hit_id)
            click.echo(f"  {hit_id}: {hit.status}, {hit.pending} pending"
                       + ("" if hit.status == "Reviewable" else
                          " (MTurk deletes only a Reviewable HIT whose assignments are all "
                          "reviewed)"))
        click.echo(f"Dry run: would delete {len(hit_ids)} HIT(s) on {gateway.target.label}.")
        return
    confirm(f"Delete {len(hit_ids)} HIT(s) on {gateway.target.label}?", yes, gateway.target)
    for hit_id in hit_ids:
        try:
            gateway.delete_hit(hit_id)
        except InvalidState as error:
            raise click.ClickException(
                f"{error}\nExpire the HIT first (flask hits expire {hit_id}) and approve or "
                "reject every submitted assignment.") from error
        row = our_row(gateway.target, hit_id)
        if row is not None:
            row.deleted_at = utcnow()
        db.session.commit()
        click.echo(f"Deleted {hit_id}")


@click.command("exclude-previous")
@with_appcontext
@click.argument("slug")
@dry_run_option
@live_option
def exclude_previous_command(slug: str, dry_run: bool, live: bool) -> None:
    """Mark everyone who took part in SLUG or its related experiments (no notification)."""
    experiment = cli_experiment(slug, Level.EDIT)
    gateway = open_gateway(live)
    result = exclude_previous(gateway, experiment, dry_run)
    commit_unless(dry_run)
    _show_exclusion_skips([result])
    added = "would be added" if dry_run else "added"
    click.echo(f"Qualification type {result.qualification_type_id}: {result.granted} workers "
               f"{added}, {result.already} already had it, {len(result.failed)} failed. New "
               f"HITs of '{slug}' require that workers do NOT have it.")
    report_failures(result.failed, "MTurk calls")


def _show_exclusion_skips(results: list[ExclusionResult]) -> None:
    for result in results:
        for reason in result.skipped:
            click.echo(f"  skip {reason}")


@click.command("notify")
@with_appcontext
@click.argument("worker_ids", nargs=-1)
@click.option("--hit", "hit_id", help="Message every worker with an assignment on this HIT.")
@click.option("--subject", required=True, help="Subject line.")
@click.option("--message", required=True, help="Message text.")
@dry_run_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@live_option
def notify_command(worker_ids: tuple[str, ...], hit_id: str | None, subject: str,
                   message: str, dry_run: bool, yes: bool, live: bool) -> None:
    """Send workers a message (100 per call); report those MTurk could not reach."""
    if bool(worker_ids) == bool(hit_id):
        raise click.UsageError("Name WORKER_IDS, or give --hit HIT_ID.")
    gateway = open_gateway(live)
    if hit_id:
        check_hits(gateway.target, [hit_id], Level.EDIT)
    else:
        cli_access(None)  # workers of any experiment: the operator and admins only
    workers = list(dict.fromkeys(worker_ids)) or sorted(
        {a.worker_id for a in gateway.assignments(hit_id or "")})
    if dry_run:
        click.echo(f"Dry run: would message {len(workers)} worker(s) ({subject!r}): "
                   + " ".join(workers))
        return
    confirm(f"Message {len(workers)} worker(s)?", yes, gateway.target)
    failures = gateway.notify(subject, message, workers)
    for failure in failures:
        click.echo(f"  not sent to {failure.worker_id}: {failure.code} {failure.message}")
    click.echo(f"Sent to {len(workers) - len(failures)} of {len(workers)} worker(s).")


@click.command("sync")
@with_appcontext
@click.argument("hit_id", required=False)
@dry_run_option
@live_option
def sync_command(hit_id: str | None, dry_run: bool, live: bool) -> None:
    """Copy assignment states from MTurk into our runs; refresh exclusion qualifications."""
    gateway = open_gateway(live)
    check_hits(gateway.target, [hit_id] if hit_id else [], Level.EDIT)
    hit_ids = [hit_id] if hit_id else [row.hit_id for row in visible_hits(gateway.target,
                                                                        Level.EDIT)]
    with click.progressbar(length=len(hit_ids), label="Syncing") as bar:
        outcome = sync_hits(gateway, hit_ids, lambda: bar.update(1), dry_run)
    click.echo("\n".join(outcome.lines(dry_run)))
    report_failures(outcome.failures, "MTurk calls")
