"""``flask researchers ...`` (accounts, tokens) and ``flask export ...`` (the same files as
the download links), thin wrappers over plain functions."""

from __future__ import annotations

import sys
from contextlib import closing
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from ..access import Level, cli_access, grant, revoke, unknown_experiment
from ..audit import audit, audit_entries
from ..dry_run import commit_unless, dry_run_option
from ..experiments import registry
from ..extensions import db
from ..models import Run
from ..saving import backfill_columns
from .accounts import (
    AccountError,
    add_researcher,
    issue_token,
    list_researchers,
    list_tokens,
    remove_researcher,
    revoke_tokens,
    set_password,
)
from .export import ExportOptions, MissingColumnError
from .filters import FilterError, parse_filter
from .streaming import count_rows, export_chunks, pseudonym_key, snapshot

researchers_cli = AppGroup("researchers", help="Manage researcher accounts and API tokens.")
export_cli = AppGroup("export", help="Export an experiment's data (like the download links).")


def _commit(action: Any, *args: Any, dry_run: bool = False) -> Any:
    """Do ``action`` and commit it, or on a dry run roll it back (its checks still run)."""
    try:
        result = action(*args)
    except AccountError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from error
    commit_unless(dry_run)
    return result


def _say(dry_run: bool, done: str, planned: str) -> None:
    click.echo(f"Would {planned}." if dry_run else done)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"


@researchers_cli.command("add")
@click.argument("name")
@click.password_option(help="The password (asked for when not given).")
@click.option("--admin", is_flag=True, help="Manages accounts and every experiment.")
@dry_run_option
def add_command(name: str, password: str, admin: bool, dry_run: bool) -> None:
    """Create a researcher account, asking for its password. A researcher who is not an
    admin sees no experiment until granted one (`flask researchers grant`)."""
    cli_access(None)
    _commit(add_researcher, name, password, admin, dry_run=dry_run)
    role = "admin" if admin else "researcher"
    _say(dry_run, f"{role.capitalize()} {name!r} added.", f"add the {role} {name!r}")


@researchers_cli.command("grant")
@click.argument("slug")
@click.argument("name")
@click.option("--level", type=click.Choice([level.value for level in Level]), default="view",
              show_default=True, help="view: dashboard and exports; edit: everything else; "
              "owner: edit, and sharing.")
@dry_run_option
def grant_command(slug: str, name: str, level: str, dry_run: bool) -> None:
    """Give researcher NAME access to experiment SLUG (or change their level)."""
    _check_slug(slug, Level.OWNER)
    _commit(grant, slug, name, level, dry_run=dry_run)
    _say(dry_run, f"{name!r} now has {level} access to {slug!r}.",
         f"give {name!r} {level} access to {slug!r}")


@researchers_cli.command("revoke")
@click.argument("slug")
@click.argument("name")
@dry_run_option
def revoke_access_command(slug: str, name: str, dry_run: bool) -> None:
    """Take researcher NAME's access to experiment SLUG away."""
    cli_access(slug, Level.OWNER)
    _commit(revoke, slug, name, dry_run=dry_run)
    _say(dry_run, f"{name!r} no longer has access to {slug!r}.",
         f"take {name!r}'s access to {slug!r} away")


@researchers_cli.command("audit")
@click.argument("slug", required=False)
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
def audit_command(slug: str | None, limit: int) -> None:
    """Print the audit log (of SLUG, or of every experiment), newest first."""
    cli_access(slug, Level.OWNER)
    for entry in audit_entries(slug, limit):
        click.echo(f"{_when(entry.at)}\t{entry.actor}\t{entry.action}\t"
                   f"{entry.experiment_slug or '-'}\t{entry.detail}")


@researchers_cli.command("set-password")
@click.argument("name")
@click.password_option(help="The new password (asked for when not given).")
@dry_run_option
def set_password_command(name: str, password: str, dry_run: bool) -> None:
    """Change a researcher's password (ends their browser sessions)."""
    cli_access(None)
    _commit(set_password, name, password, dry_run=dry_run)
    _say(dry_run, f"Password of {name!r} changed.", f"change the password of {name!r}")


@researchers_cli.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@dry_run_option
def remove_command(name: str, yes: bool, dry_run: bool) -> None:
    """Delete a researcher account and its tokens."""
    cli_access(None)
    if not (yes or dry_run):
        click.confirm("Remove this researcher and their API tokens?", abort=True)
    _commit(remove_researcher, name, dry_run=dry_run)
    _say(dry_run, f"Researcher {name!r} removed.", f"remove the researcher {name!r} and their "
         "API tokens")


@researchers_cli.command("list")
def list_command() -> None:
    """List researcher accounts."""
    cli_access(None)
    rows = list_researchers()
    if not rows:
        click.echo("No researchers yet; add one with `flask researchers add NAME`.")
    for researcher, tokens in rows:
        role = "admin" if researcher.is_admin else "researcher"
        click.echo(f"{researcher.name}\t{role}\tlast login {_when(researcher.last_login_at)}\t"
                   f"{tokens} active token(s)")


@researchers_cli.command("token")
@click.argument("name")
@click.option("--read-only", is_flag=True, help="View access at most (dashboard, exports).")
@click.option("--experiment", "experiments", multiple=True,
              help="Limit the token to this experiment (repeatable).")
@dry_run_option
def token_command(name: str, read_only: bool, experiments: tuple[str, ...], dry_run: bool
                  ) -> None:
    """Make a new API token for NAME and print it (it is shown only this once). It acts with
    NAME's rights, narrowed by --read-only and --experiment."""
    cli_access(None)
    token, plain = _commit(issue_token, name, read_only, experiments, dry_run=dry_run)
    if dry_run:
        scope = ("read-only, " if read_only else "") + (", ".join(experiments) or "all")
        click.echo(f"Would make a new API token for {name!r} ({scope}).")
        return
    click.echo(f"Token {token.id} for {name!r} (store it now; it cannot be shown again):",
               err=True)
    click.echo(plain)


@researchers_cli.command("tokens")
@click.argument("name")
def tokens_command(name: str) -> None:
    """List NAME's API tokens."""
    cli_access(None)
    for token in _commit(list_tokens, name):
        state = f"revoked {_when(token.revoked_at)}" if token.revoked_at else "active"
        scope = ("read-only " if token.read_only else "") + (token.experiments or "all")
        click.echo(f"{token.id}\t{token.hint}…\tcreated {_when(token.created_at)}\t"
                   f"last used {_when(token.last_used_at)}\t{state}\t{scope}")


@researchers_cli.command("revoke-token")
@click.argument("name")
@click.argument("token_id", type=int, required=False)
@click.option("--all", "revoke_all", is_flag=True, help="Revoke every token of NAME.")
@dry_run_option
def revoke_command(name: str, token_id: int | None, revoke_all: bool, dry_run: bool) -> None:
    """Revoke one of NAME's tokens (TOKEN_ID from `tokens`), or all with --all."""
    if (token_id is None) == (not revoke_all):
        raise click.UsageError("Give a TOKEN_ID or --all (not both).")
    cli_access(None)
    count = _commit(revoke_tokens, name, token_id, dry_run=dry_run)
    _say(dry_run, f"Revoked {count} token(s) of {name!r}.",
         f"revoke {count} token(s) of {name!r}")


def _export_command(kind: str) -> click.Command:
    @click.argument("slug")
    @click.option("-o", "--output", type=click.File("w", encoding="utf-8", lazy=True),
                  default="-", help="File to write (default: standard output).")
    @click.option("--status", multiple=True, help="Only runs with this status (repeatable).")
    @click.option("--condition", multiple=True, help="Only this condition (repeatable).")
    @click.option("--platform", multiple=True, help="mturk, prolific or link (repeatable).")
    @click.option("--since", help="ISO 8601 time: only runs/records active since then.")
    @click.option("--outcome", multiple=True, help="Only runs ended with this outcome.")
    @click.option("--completed-only", "preset", flag_value="completed", default=None,
                  help="Only runs that completed as intended (outcome completed).")
    @click.option("--batch", multiple=True, help="Only runs of this study-link batch.")
    @click.option("--include-tests", "include_tests", flag_value="1", default=None,
                  help="Keep test runs (pilots, sandbox, simulators), left out otherwise.")
    @click.option("--worker-ids", type=click.Choice(["pseudonym", "raw"]), default=None,
                  help="Worker ids as keyed-hash pseudonyms or raw [EXPORT_WORKER_IDS].")
    @click.option("--no-escape-formulas", is_flag=True, help="Write cells exactly as stored.")
    @click.option("--checkpoints", is_flag=True, help="Keep jsPsych resume checkpoints (CSV).")
    def command(slug: str, output: Any, worker_ids: str | None, no_escape_formulas: bool,
                checkpoints: bool, **filters: Any) -> None:
        _check_slug(slug, Level.VIEW)
        try:
            run_filter = parse_filter(lambda name: _values(filters.get(name)))
        except FilterError as error:
            raise click.BadParameter(str(error)) from error
        config = current_app.config
        options = ExportOptions(
            pseudonym_key=pseudonym_key(config),
            pseudonymize=(worker_ids or config["EXPORT_WORKER_IDS"]) == "pseudonym",
            escape_formulas=not no_escape_formulas, checkpoints=checkpoints)
        audit("export", slug, f"{kind} (command)")
        db.session.commit()
        with snapshot(db.engine) as connection:
            total = count_rows(connection, kind, slug, run_filter)
        try:
            _write(output, export_chunks(db.engine, kind, slug, run_filter, options), total)
        except MissingColumnError as error:
            raise click.ClickException(f"{error} The file is incomplete.") from error

    command.__doc__ = f"Write {kind} of the experiment SLUG (streamed; flat memory)."
    return export_cli.command(kind.split(".")[0] if kind != "trials.jsonl" else "jsonl")(command)


def _values(value: str | tuple[str, ...] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _check_slug(slug: str, level: Level) -> None:
    """Whoever acts has ``level`` on ``slug``, hosted or only in the data (a removed folder)."""
    cli_access(slug, level)
    if slug in registry():
        return
    if not db.session.scalar(db.select(Run.id).where(Run.experiment_slug == slug).limit(1)):
        raise unknown_experiment(slug)


def _write(output: Any, chunks: Any, total: int) -> None:
    to_file = output.name not in ("-", "<stdout>")
    # closing(): on an error, end the export's snapshot now, not whenever it is collected.
    with closing(chunks), click.progressbar(length=total, label="Exporting rows",
                                            file=sys.stderr, hidden=not to_file) as bar:
        for rows, text in chunks:
            output.write(text)
            bar.update(rows)
    output.close()
    if to_file:
        click.echo(f"Wrote {output.name}.", err=True)


for _kind in ("runs.csv", "trials.csv", "trials.jsonl"):
    _export_command(_kind)


@export_cli.command("backfill-columns")
@click.argument("slug", required=False)
@dry_run_option
def backfill_columns_command(slug: str | None, dry_run: bool) -> None:
    """Give trials.csv columns to the keys of records stored around the data API.

    The data API registers each record's keys as it saves it; records inserted into the
    database by other means (a restore, an import) need this. Reads every record of SLUG
    (or of all experiments) in batches; only adds columns. Safe while the app runs.
    """
    if slug is None:
        cli_access(None)
    else:
        _check_slug(slug, Level.EDIT)
    with db.engine.connect() as connection, connection.begin() as transaction:
        counts = backfill_columns(connection, current_app.config["EXPORT_MAX_COLUMNS"], slug,
                                  current_app.config["RUN_MAX_NEW_COLUMNS"])
        if dry_run:
            transaction.rollback()
    for name, count in sorted(counts.items()):
        click.echo(f"{name}: {count} columns " + ("would be registered" if dry_run
                                                   else "registered"))
    if not counts:
        click.echo("No records found.")
