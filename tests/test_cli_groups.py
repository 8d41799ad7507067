"""Every command group is registered by the factory, with every command of it."""

from __future__ import annotations


def test_every_group_and_hits_command_is_registered(app):
    groups = app.cli.commands
    assert {"hits", "researchers", "export", "simulator"} <= set(groups)
    assert set(groups["hits"].commands) == {
        "create", "list", "status", "balance", "approve", "reject", "bonus", "expire",
        "extend", "delete", "exclude-previous", "notify", "sync"}
    result = app.test_cli_runner().invoke(args=["hits", "--help"])
    assert result.exit_code == 0 and "exclude-previous" in result.output
