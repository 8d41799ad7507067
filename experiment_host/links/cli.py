"""``flask links``: batches, creating, listing, switching, QR codes and the CSV of links,
the same as the dashboard's Study Links page."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from ..access import Level, cli_access, cli_experiment
from ..dry_run import commit_unless, dry_run_option
from ..extensions import db
from .models import LinkType, StudyLink
from .rules import link_url, qr_svg
from .store import (
    DEFAULT_BATCH,
    LinkError,
    batch_named,
    batch_of,
    batches,
    create_links,
    find_link,
    link_rows,
    rename_batch,
    runs_in_batch,
    switch_type,
)
from .table import csv_lines, parse_comments

links_cli = AppGroup("links", help="Study links: batches, personal and general links, codes.")
TYPES = click.Choice([t.value for t in LinkType])


def _slug(slug: str, level: Level) -> str:
    return cli_experiment(slug, level).slug


def _link(value: str, level: Level) -> StudyLink:
    link = find_link(value)
    thing = f"link with the token or code {value!r}"
    cli_access(batch_of(link).experiment_slug if link else None, level, thing)
    if link is None:
        raise click.ClickException(f"There is no {thing}.")
    return link


@links_cli.command("batches")
@click.argument("slug")
def list_batches(slug: str) -> None:
    """Show the experiment's batches: runs, maximum, switches, end redirect."""
    for batch in batches(_slug(slug, Level.VIEW)):
        cap = batch.max_participants if batch.max_participants is not None else "-"
        click.echo(f"{batch.name}\t{'open' if batch.active else 'OFF'}\t"
                   f"runs {runs_in_batch(batch)}/{cap}\ttypes {batch.allowed_types or '-'}\t"
                   f"redirect {batch.end_redirect_url or '-'}")
    db.session.commit()


@links_cli.command("batch")
@click.argument("slug")
@click.argument("name")
@click.option("--max", "max_participants", type=click.IntRange(0), default=None,
              help="Most participants (runs) the batch takes.")
@click.option("--redirect", "end_redirect_url", default=None,
              help="End redirect URL; {participant}, {run_id}, {completion_code}, {code} and "
                   "the entry's own query parameters are filled in.")
@click.option("--off/--on", "off", default=None, help="Close or open the batch to new runs.")
@click.option("--type-off", type=TYPES, multiple=True, help="Refuse a link type here.")
@click.option("--type-on", type=TYPES, multiple=True, help="Allow a link type here again.")
@click.option("--rename", default=None, help="A new name for the batch.")
@dry_run_option
def edit_batch(slug: str, name: str, max_participants: int | None, end_redirect_url: str | None,
               off: bool | None, type_off: tuple[str, ...], type_on: tuple[str, ...],
               rename: str | None, dry_run: bool) -> None:
    """Create the batch NAME or change it."""
    try:
        batch = batch_named(_slug(slug, Level.EDIT), name, create=True)
        if rename is not None:
            rename_batch(batch, rename)
    except LinkError as error:
        raise click.ClickException(str(error)) from error
    if max_participants is not None:
        batch.max_participants = max_participants
    if end_redirect_url is not None:
        if end_redirect_url and not end_redirect_url.startswith(("https://", "http://")):
            raise click.ClickException("The end redirect URL must start with https://.")
        batch.end_redirect_url = end_redirect_url or None
    if off is not None:
        batch.active = not off
    for value in type_off:
        switch_type(batch, LinkType(value), False)
    for value in type_on:
        switch_type(batch, LinkType(value), True)
    shown = (f"Batch {batch.name}: {'open' if batch.active else 'OFF'}, types "
             f"{batch.allowed_types or '-'}")
    commit_unless(dry_run)
    click.echo(f"Would set {shown}" if dry_run else shown)


@links_cli.command("create")
@click.argument("slug")
@click.option("--type", "link_type", type=TYPES, required=True)
@click.option("--amount", type=click.IntRange(1), default=1, show_default=True)
@click.option("--batch", "batch_name", default=DEFAULT_BATCH, show_default=True)
@click.option("--comment", default=None, help="One comment for every new link.")
@click.option("--comments", "comments_file", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="A CSV whose first column has one comment per link.")
@click.option("--confirm-first", is_flag=True, help="Show a Start page before the run.")
@dry_run_option
def create(slug: str, link_type: str, amount: int, batch_name: str, comment: str | None,
           comments_file: Path | None, confirm_first: bool, dry_run: bool) -> None:
    """Create personal links (or the batch's general link) and print their URLs and codes."""
    _slug(slug, Level.EDIT)
    if comment and comments_file:
        raise click.ClickException("Give --comment or --comments, not both.")
    comments: list[str | None] = [comment] if comment else []
    try:
        if comments_file:
            comments = list(parse_comments(comments_file.read_bytes()))
            amount = len(comments) if amount == 1 else amount
        batch = batch_named(slug, batch_name, create=batch_name == DEFAULT_BATCH)
        made = create_links(batch, LinkType(link_type), amount, comments, confirm_first)
    except (LinkError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    if dry_run:
        db.session.rollback()
        click.echo(f"Would create {len(made)} {link_type} link(s) in batch {batch_name}.")
        return
    db.session.commit()
    for link in made:
        click.echo(f"{link_url(link)}\t{link.code}\t{link.comment or ''}")


@links_cli.command("list")
@click.argument("slug")
@click.option("--type", "link_type", type=TYPES, default=None)
@click.option("--used", "state", flag_value="used", help="Only links that started a run.")
@click.option("--unused", "state", flag_value="unused", help="Only links never used.")
@click.option("--off", "state", flag_value="off", help="Only switched-off links.")
@click.option("--batch", "batch_name", default=None)
def list_links(slug: str, link_type: str | None, state: str | None, batch_name: str | None
               ) -> None:
    """List links: URL, code, type, batch, comment, on/off, runs, last use."""
    rows = link_rows(_slug(slug, Level.VIEW), LinkType(link_type) if link_type else None,
                     state or "all", batch_name)
    for row in rows:
        link = row.link
        click.echo("\t".join([link_url(link), link.code, link.link_type, row.batch,
                              link.comment or "", "on" if link.active else "OFF",
                              f"runs {row.runs}",
                              row.used_at.isoformat() if row.used_at else "never"]))


@links_cli.command("off")
@click.argument("link_or_code")
@dry_run_option
def switch_off(link_or_code: str, dry_run: bool) -> None:
    """Switch a link off: it starts no new run (runs it started may finish)."""
    _switch(link_or_code, False, dry_run)


@links_cli.command("on")
@click.argument("link_or_code")
@dry_run_option
def switch_on(link_or_code: str, dry_run: bool) -> None:
    """Switch a link back on."""
    _switch(link_or_code, True, dry_run)


def _switch(link_or_code: str, on: bool, dry_run: bool) -> None:
    _link(link_or_code, Level.EDIT).active = on
    commit_unless(dry_run)
    word = "on" if on else "off"
    click.echo(f"Would switch {link_or_code} {word}." if dry_run else f"Switched {word}.")


@links_cli.command("qr")
@click.argument("link_or_code")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="The SVG file to write (- for standard output).")
def qr(link_or_code: str, output: click.utils.LazyFile) -> None:
    """Write a link's QR code as SVG."""
    output.write(qr_svg(link_url(_link(link_or_code, Level.VIEW))))


@links_cli.command("export")
@click.argument("slug")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"),
              required=True, help="The CSV file to write (- for standard output).")
def export(slug: str, output: click.utils.LazyFile) -> None:
    """Write every link as CSV: url, code, type, batch, comment, active, used_at, run_id."""
    for line in csv_lines(link_rows(_slug(slug, Level.VIEW))):
        output.write(line)

