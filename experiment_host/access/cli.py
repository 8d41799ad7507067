"""The access check of the ``flask`` commands: who acts, and what they may do.

A command acts as the researcher named by ``--as NAME`` (every command of the groups that
touch experiments has it) or by the environment variable EXPERIMENT_HOST_RESEARCHER, with
that researcher's rights; the audit log names them. With nobody named it acts as the
server's operator, who holds the database credentials anyway, unless
CLI_REQUIRE_RESEARCHER is set. This prevents mistakes and makes the log attributable; it is
no boundary against someone who can read the config.
"""

from __future__ import annotations

from collections.abc import Iterable

import click
from flask import current_app, g
from sqlalchemy import select

from ..experiments import Experiment, registry
from ..extensions import db
from ..models import Platform, Run
from ..researcher.accounts import AccountError, Researcher, get_researcher
from .models import Level
from .rules import current_level

ENV_VAR = "EXPERIMENT_HOST_RESEARCHER"
_META_KEY = "experiment_host.acting_as"
_FOUND_KEY = "experiment_host.acting_researcher"


def _remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value and value.strip():
        ctx.meta[_META_KEY] = value.strip()


def add_acting_option(command: click.Command) -> None:
    """Give ``command`` the ``--as NAME`` option (once), read by :func:`cli_access`."""
    if any(param.name == "acting_as" for param in command.params):
        return
    command.params.append(click.Option(
        ["--as", "acting_as"], metavar="NAME", envvar=ENV_VAR, expose_value=False,
        callback=_remember, help=f"Act as this researcher, with their rights [{ENV_VAR}]."))


def acting_researcher() -> Researcher | None:
    """The researcher named for this command, or None (the operator). Once found, they
    are ``g.researcher``: the access rules and the audit log's actor follow."""
    context = click.get_current_context()
    name = context.meta.get(_META_KEY)
    researcher = context.meta.get(_FOUND_KEY)
    if name is not None and researcher is None:
        try:
            researcher = context.meta[_FOUND_KEY] = get_researcher(name)
        except AccountError as error:
            raise click.ClickException(
                f"{str(error).rstrip('.')} (named by --as or {ENV_VAR}).") from error
    g.researcher = researcher
    return researcher


def _operator(names_experiments: bool) -> None:
    if names_experiments and current_app.config["CLI_REQUIRE_RESEARCHER"]:
        raise click.ClickException(
            "This server wants to know who acts (CLI_REQUIRE_RESEARCHER): give --as NAME or "
            f"set {ENV_VAR}=NAME.")


def cli_visible(slugs: Iterable[str], level: Level | str = Level.VIEW) -> list[str]:
    """The slugs among ``slugs`` whoever acts may use at ``level`` (for lists and --all)."""
    researcher, wanted = acting_researcher(), Level(level)
    if researcher is None:
        _operator(True)
    if researcher is None or researcher.is_admin:
        return list(slugs)
    return [slug for slug in slugs
            if (have := current_level(slug)) is not None and have.rank >= wanted.rank]


def unknown_experiment(slug: str) -> click.ClickException:
    """The one answer for an experiment that does not exist or that whoever acts cannot see."""
    known = ", ".join(cli_visible(registry())) or "none"
    return click.ClickException(f"There is no experiment {slug!r} (experiments: {known}).")


def cli_access(slug: str | None, level: Level | str = Level.VIEW, thing: str = "") -> None:
    """Stop the command unless whoever acts has ``level`` on ``slug``. ``thing`` is what the
    command named instead of the experiment ("HIT 3X..."), its slug None if not ours: a
    researcher who cannot see it is told it does not exist. No slug and no thing: the whole
    server (accounts, platform account), which a named researcher must be an admin for."""
    researcher = acting_researcher()
    if researcher is None:
        return _operator(bool(slug or thing))
    if researcher.is_admin:
        return None
    if slug is None and not thing:
        raise click.ClickException(
            f"Only an admin may do this, and {researcher.name!r} is not one.")
    have = current_level(slug) if slug is not None else None
    if have is None:
        raise click.ClickException(f"There is no {thing}.") if thing else \
            unknown_experiment(str(slug))
    wanted = Level(level)
    if have.rank < wanted.rank:
        raise click.ClickException(f"This needs {wanted.value} access to {slug!r}; "
                                   f"{researcher.name!r} has {have.value} access.")
    return None


def cli_access_sessions(platform: Platform, session_keys: Iterable[str], level: Level | str,
                        noun: str) -> None:
    """:func:`cli_access` for each assignment or submission named by id, traced to its
    experiment by its run here (none: for the operator and admins only)."""
    wanted = list(session_keys)
    slugs = dict(db.session.execute(select(Run.session_key, Run.experiment_slug).where(
        Run.platform == platform, Run.session_key.in_(wanted))).all())
    for key in wanted:
        cli_access(slugs.get(key), level, f"{noun} {key}")


def cli_experiment(slug: str, level: Level | str = Level.VIEW) -> Experiment:
    """The hosted experiment ``slug`` if whoever acts has ``level`` on it (else an error
    that is the same whether it does not exist or they may not see it)."""
    cli_access(slug, level)
    experiment = registry().get(slug)
    if experiment is None:
        raise unknown_experiment(slug)
    return experiment
