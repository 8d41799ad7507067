"""MTurk requester side: the boto3 gateway and the ``flask hits`` commands built on it."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register ``flask hits`` (importing its models, so ``db.create_all()`` makes them)."""
    from . import cli, cli_bonus, cli_manage, cli_review, models  # noqa: F401  (commands, tables)

    app.cli.add_command(cli.hits_cli)
