"""``--dry-run`` on every ``flask`` command that changes something: it shows what would
happen, writes nothing to the database and makes no changing MTurk or Prolific call; and
no command that changes something can be added without it."""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import click
import pytest
from flask import Flask
from sqlalchemy import select

from experiment_host.extensions import db
from experiment_host.prolific.models import BonusState, ProlificBonus
from experiment_host.simulator import RunningServer, create_simulator_app, serve_in_thread
from tests.conftest import build_app, dispose
from tests.mturk.conftest import aws_env, work  # noqa: F401 (fixtures)
from tests.prolific.conftest import EXPERIMENTS, PUBLIC_URL, take  # noqa: F401 (fixtures)

PASSWORD = "a-long-enough-password"

#: Commands that only read (or, ``simulator run``, run a local rehearsal), named
#: "group command"; every other command must take ``--dry-run``.
READ_ONLY = {
    "hits list", "hits status", "hits balance", "prolific list", "prolific status",
    "links batches", "links list", "links qr", "links export", "researchers list",
    "researchers tokens", "researchers audit", "export runs", "export trials",
    "export jsonl", "simulator run",
}


@pytest.fixture
def simulator() -> Iterator[RunningServer]:
    running = serve_in_thread(create_simulator_app(), "127.0.0.1", 0)
    yield running
    running.stop()


@pytest.fixture
def app(database_url: str, simulator: RunningServer) -> Iterator[Flask]:
    """One app on one simulator, MTurk's and Prolific's sides both."""
    app = build_app(
        database_url, EXPERIMENTS_DIR=str(EXPERIMENTS), PUBLIC_URL=PUBLIC_URL,
        MTURK_ENDPOINT_URL=simulator.url, MTURK_MAX_ATTEMPTS=4,
        MTURK_SUBMIT_ORIGINS=("https://workersandbox.mturk.com", simulator.url),
        PROLIFIC_API_URL=f"{simulator.url}/prolific/api/v1", PROLIFIC_API_TOKEN="test-token",
        PROLIFIC_COMPLETE_URL=f"{simulator.url}/prolific/submissions/complete",
        PROLIFIC_BACKOFF_MS=1, PROLIFIC_MAX_ATTEMPTS=4)
    yield app
    dispose(app)


def snapshot(app: Flask) -> dict[str, list[str]]:
    """Every row of every table, as text (the databases here are small)."""
    with app.app_context():
        return {table.name: sorted(repr(tuple(row)) for row in
                                   db.session.execute(select(table)))
                for table in db.metadata.sorted_tables}


def changing_calls(simulator: RunningServer) -> Counter[str]:
    """The MTurk operations and Prolific requests so far that change something."""
    extensions = simulator.server.app.extensions  # type: ignore[attr-defined]
    mturk = Counter({op: n for op, n in extensions["mturk_simulator"].calls.items()
                     if not op.startswith(("Get", "List"))})
    prolific = Counter({call: n for call, n in extensions["prolific_simulator"].calls.items()
                        if not call.startswith("GET ")})
    return mturk + prolific


def ok(runner: Any, *args: str) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, (args, result.output)
    return str(result.output)


@pytest.fixture
def world(app: Flask, simulator: RunningServer,
          work: Callable[..., Any], take: Callable[..., Any]  # noqa: F811 (the fixtures)
          ) -> dict[str, str]:
    """Something for every command to act on: a HIT worked, a Prolific study taken, links,
    a test run, researchers with a token."""
    runner = app.test_cli_runner()
    hit_id = re.findall(r"HIT ([A-Z0-9]{30})", ok(runner, "hits", "create", "survey",
                                                     "--yes"))[-1]
    ok(runner, "hits", "exclude-previous", "survey")
    worked = work(hit_id, "survey")
    created = ok(runner, "prolific", "create", "survey", "--yes")
    study_id = created.split("draft study ")[1].split()[0]
    ok(runner, "prolific", "publish", study_id, "--yes")
    took = take(study_id)
    code = ok(runner, "links", "create", "survey", "--type", "personal-single").split("\t")[1]
    ok(runner, "researchers", "add", "ada", "--password", PASSWORD)
    ok(runner, "researchers", "add", "viewer", "--password", PASSWORD)
    ok(runner, "researchers", "grant", "survey", "viewer", "--level", "view")
    ok(runner, "researchers", "grant", "survey", "ada", "--level", "edit")
    ok(runner, "researchers", "token", "ada")
    with app.app_context():  # a bonus whose pay call got no answer, for bonus-resolve
        db.session.add(ProlificBonus(
            api_url=app.config["PROLIFIC_API_URL"], study_id=study_id,
            submission_id=took.submission_id, participant_id=took.participant_id,
            amount_cents=30, reason="Accurate", state=BonusState.PAYING, bulk_id="B1"))
        db.session.commit()
    return {"HIT": hit_id, "ASSIGNMENT": worked.assignment_id, "STUDY": study_id,
            "SUBMISSION": took.submission_id, "CODE": code, "RUN": str(took.run_id)}


#: Each changing command's dry run, and what its output says would happen.
DRY_RUNS = [
    ("hits create survey", "Plan"),
    ("hits approve --all", "Dry run: 1 would be approved"),
    ("hits reject {ASSIGNMENT} --message Incomplete", "Dry run: 1 would be rejected"),
    ("hits bonus --all", "0 bonus(es) to pay"),
    ("hits expire {HIT}", "would expire"),
    ("hits extend {HIT} --hours 5", "nothing changed"),
    ("hits delete {HIT}", "would delete"),
    ("hits exclude-previous survey", "would be added"),
    ("hits notify --hit {HIT} --subject Hi --message Thanks", "would message 1 worker(s)"),
    ("hits sync", "Would sync 1 of 1 HIT(s)"),
    ("prolific create survey", "Plan"),
    ("prolific pause {STUDY}", "Would pause study {STUDY}"),
    ("prolific add-places {STUDY} 2", "5 places → 7"),
    ("prolific approve --all", "1 submission(s) to approve"),
    ("prolific reject {SUBMISSION} --category NO_DATA --message '" + "No data. " * 12 + "'",
     "1 submission(s) to reject"),
    ("prolific bonus --all", "0 bonus(es) to pay"),
    ("prolific bonus-resolve {STUDY} --unpaid", "would make payable again 1"),
    ("prolific sync --all", "would change"),
    ("prolific message {STUDY} --body Thanks", "1 participant(s) to message"),
    ("prolific subscribe", "Subscribe https://"),
    ("links batch survey Spring --max 3", "Would set Batch Spring"),
    ("links create survey --type personal-single --amount 20",
     "Would create 20 personal-single link(s) in batch Default"),
    ("links off {CODE}", "Would switch {CODE} off"),
    ("links on {CODE}", "Would switch {CODE} on"),
    ("runs test survey", "Would print a URL"),
    ("runs purge-tests survey", "would be deleted"),
    ("runs delete survey --run {RUN}", "would be deleted for good"),
    ("researchers add grace --password " + PASSWORD, "Would add the researcher 'grace'"),
    ("researchers grant survey viewer --level edit", "Would give 'viewer' edit access"),
    ("researchers revoke survey viewer", "Would take 'viewer'"),
    ("researchers set-password ada --password " + PASSWORD, "Would change the password"),
    ("researchers remove ada", "Would remove the researcher 'ada'"),
    ("researchers token ada", "Would make a new API token"),
    ("researchers revoke-token ada --all", "Would revoke 1 token(s)"),
    ("experiments reload", "Would reload"),
    ("export backfill-columns survey", "would be registered"),
]


def test_every_dry_run_changes_nothing_and_says_what_would_happen(app, simulator, world):
    runner = app.test_cli_runner()
    for command, says in DRY_RUNS:
        args = [*shlex.split(command.format(**world)), "--dry-run"]
        before, calls = snapshot(app), changing_calls(simulator)
        output = ok(runner, *args)
        assert says.format(**world) in output, (command, output)
        assert snapshot(app) == before, command
        assert changing_calls(simulator) == calls, command


def test_a_dry_run_still_checks_who_acts(app, world):
    runner = app.test_cli_runner()
    command = ["links", "create", "survey", "--type", "personal-single", "--dry-run"]
    refused = runner.invoke(args=[*command, "--as", "viewer"])
    assert refused.exit_code == 1 and "Would create" not in refused.output
    assert "viewer" in refused.output
    assert "Would create 1 personal-single" in ok(runner, *command, "--as", "ada")


def test_every_command_that_changes_something_has_dry_run(app):
    commands = {f"{group.name} {name}": command  # ours: Flask-Migrate's `db` is not
                for group in app.cli.commands.values() if isinstance(group, click.Group)
                for name, command in group.commands.items()
                if getattr(command.callback, "__module__", "").startswith("experiment_host")}
    assert set(commands) >= READ_ONLY, READ_ONLY - set(commands)
    missing = sorted(name for name, command in commands.items() if name not in READ_ONLY
                     and not any(param.name == "dry_run" for param in command.params))
    assert not missing, f"commands without --dry-run: {missing}"
    tested = {" ".join(command.split()[:2]) for command, _ in DRY_RUNS}
    assert tested == set(commands) - READ_ONLY - {"prolific publish", "prolific resume",
                                                  "prolific stop"}
