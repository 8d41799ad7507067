"""Every ``flask`` command that names an experiment (by slug, HIT, study, assignment,
submission or link) checks the acting researcher (``--as`` / EXPERIMENT_HOST_RESEARCHER):
without access it is told the experiment does not exist, view-only may read but not change,
and a refused command calls neither MTurk nor Prolific and changes nothing."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from experiment_host.access import ExperimentAccess, Level, grant
from experiment_host.access.cli import ENV_VAR
from experiment_host.audit import audit_entries
from experiment_host.extensions import db
from experiment_host.links.models import LinkBatch, LinkType, StudyLink
from experiment_host.links.store import create_links, default_batch
from experiment_host.models import Platform, Run
from experiment_host.mturk import Hit
from experiment_host.researcher.accounts import add_researcher
from experiment_host.simulator import RunningServer, create_simulator_app, serve_in_thread
from tests.conftest import build_app, dispose
from tests.mturk.conftest import aws_env  # noqa: F401  (autouse: no real AWS credentials)
from tests.researcher.support import PASSWORD, add_run

REASON = "Your submission has no data at all on our server, so we cannot accept it; " \
         "please contact us if you think this is wrong."
#: Each command that names an experiment, with the level it needs. Placeholders are filled
#: from the world below: HIT and assignment of "basic", study and submission of "followup".
COMMANDS: list[tuple[str, Level]] = [
    ("hits create basic --assignments 1 --yes", Level.EDIT),
    ("hits status {hit}", Level.VIEW),
    ("hits approve {hit} --yes", Level.EDIT),
    ("hits reject {assignment} --message no --yes", Level.EDIT),
    ("hits reject --no-data --hit {hit} --message no --yes", Level.EDIT),
    ("hits bonus {hit} --yes", Level.EDIT),
    ("hits bonus --csv {csv} --yes", Level.EDIT),
    ("hits expire {hit} --yes", Level.EDIT),
    ("hits extend {hit} --add 1 --yes", Level.EDIT),
    ("hits delete {hit} --yes", Level.EDIT),
    ("hits exclude-previous basic", Level.EDIT),
    ("hits notify --hit {hit} --subject s --message m --yes", Level.EDIT),
    ("hits sync {hit}", Level.EDIT),
    ("prolific create followup --yes", Level.EDIT),
    ("prolific publish {study} --yes", Level.EDIT),
    ("prolific pause {study} --yes", Level.EDIT),
    ("prolific resume {study} --yes", Level.EDIT),
    ("prolific stop {study} --yes", Level.EDIT),
    ("prolific add-places {study} 1 --yes", Level.EDIT),
    ("prolific status {study}", Level.VIEW),
    ("prolific approve {study} --yes", Level.EDIT),
    ("prolific reject {submission} --category NO_DATA --message {reason} --yes", Level.EDIT),
    ("prolific reject --no-data {study} --category NO_DATA --message {reason} --yes",
     Level.EDIT),
    ("prolific bonus {study} --yes", Level.EDIT),
    ("prolific bonus-resolve {study}", Level.EDIT),
    ("prolific sync {study}", Level.EDIT),
    ("prolific message {study} --body hello --yes", Level.EDIT),
    ("links batches basic", Level.VIEW),
    ("links batch basic Lab --max 3", Level.EDIT),
    ("links create basic --type personal-single", Level.EDIT),
    ("links list basic", Level.VIEW),
    ("links off {link}", Level.EDIT),
    ("links on {link}", Level.EDIT),
    ("links qr {link}", Level.VIEW),
    ("links export basic -o -", Level.VIEW),
    ("runs test basic", Level.EDIT),
    ("runs purge-tests basic --yes", Level.EDIT),
    ("runs delete basic --run {run} --yes", Level.EDIT),
    ("export runs basic", Level.VIEW),
    ("export trials basic", Level.VIEW),
    ("export jsonl basic", Level.VIEW),
    ("export backfill-columns basic", Level.EDIT),
    ("researchers grant basic outsider --level edit", Level.OWNER),
    ("researchers revoke basic viewer", Level.OWNER),
    ("researchers audit basic", Level.OWNER),
    ("experiments reload basic", Level.EDIT),
]
#: Commands that name no experiment: lists (filtered to what one may see, tested below),
#: the platform account, and accounts (admins only when a researcher is named).
NO_EXPERIMENT = {"hits list", "hits balance", "prolific list", "prolific subscribe",
                 "researchers add", "researchers set-password", "researchers remove",
                 "researchers list", "researchers token", "researchers tokens",
                 "researchers revoke-token", "simulator run"}


@pytest.fixture
def simulator() -> Iterator[RunningServer]:
    running = serve_in_thread(create_simulator_app(), "127.0.0.1", 0)
    yield running
    running.stop()


@pytest.fixture
def app(database_url: str, experiments_dir: Path, simulator: RunningServer) -> Iterator[Flask]:
    app = build_app(database_url, EXPERIMENTS_DIR=str(experiments_dir),
                    PUBLIC_URL="https://experiments.example.org",
                    MTURK_ENDPOINT_URL=simulator.url, MTURK_MAX_ATTEMPTS=2,
                    PROLIFIC_API_URL=f"{simulator.url}/prolific/api/v1",
                    PROLIFIC_API_TOKEN="test-token", PROLIFIC_BACKOFF_MS=1)
    yield app
    dispose(app)


def platform_calls(simulator: RunningServer) -> int:
    """Every call the simulated MTurk and Prolific APIs answered so far."""
    extensions = simulator.server.app.extensions  # type: ignore[attr-defined]
    return sum(extensions["mturk_simulator"].calls.values()) + \
        sum(extensions["prolific_simulator"].calls.values())


def flask(app: Flask, command: str, *extra: str, env: dict[str, str] | None = None) -> Any:
    return app.test_cli_runner().invoke(args=[*command.split(), *extra], env=env)


@pytest.fixture
def world(app: Flask, tmp_path: Path) -> dict[str, Any]:
    """As the operator: a HIT and a run of "basic", a study and a run of "followup", a link
    of "basic"; "viewer" sees both experiments, "outsider" may edit "open" only."""
    made = flask(app, "hits create basic --assignments 2 --yes")
    assert made.exit_code == 0, made.output
    study = flask(app, "prolific create followup --yes")
    assert study.exit_code == 0, study.output
    with app.app_context():
        for name in ("viewer", "outsider", "boss"):
            add_researcher(name, PASSWORD, admin=name == "boss")
        for slug in ("basic", "followup"):
            grant(slug, "viewer", Level.VIEW)
        grant("open", "outsider", Level.EDIT)
        link = create_links(default_batch("basic"), LinkType.PERSONAL_SINGLE, 1)[0]
        run = add_run("basic", data=[{"rt": 1}])
        submission = add_run("followup", platform=Platform.PROLIFIC).session_key
        values = {"hit": made.output.split("Created HIT ")[1].split()[0],
                  "study": study.output.split("draft study ")[1].split()[0],
                  "link": link.code, "run": run.id, "assignment": run.session_key,
                  "submission": submission, "reason": REASON}
        db.session.commit()
    (tmp_path / "bonus.csv").write_text(f"assignment_id,amount,reason\n"
                                        f"{values['assignment']},0.10,well done\n")
    return {**values, "csv": tmp_path / "bonus.csv"}


def filled(command: str, world: dict[str, Any]) -> list[str]:
    """The command's arguments, each placeholder filled (the reason stays one argument)."""
    return [part.format(**world) for part in command.split()]


def test_every_command_that_names_an_experiment_is_in_the_table(app):
    named = {f"{group} {name}" for group, cli in app.cli.commands.items()
             for name in cli.commands if group != "db"}  # db: Flask-Migrate's schema tools
    tried = {" ".join(command.split()[:2]) for command, _ in COMMANDS}
    assert named - NO_EXPERIMENT == tried, "add the new command to COMMANDS or NO_EXPERIMENT"


@pytest.mark.parametrize("who", ["outsider", "viewer"])
def test_commands_check_the_acting_researchers_level(app, simulator, world, who):
    runner = app.test_cli_runner()
    for command, level in COMMANDS:
        with app.app_context():
            logged = len(audit_entries(limit=1000))
        calls = platform_calls(simulator)
        answer = runner.invoke(args=[*filled(command, world), "--as", who])
        allowed = who == "viewer" and level == Level.VIEW
        if allowed:
            assert answer.exit_code == 0, (command, answer.output)
            continue
        assert answer.exit_code != 0, (command, answer.output)
        expected = "There is no " if who == "outsider" else \
            f"This needs {level.value} access to"
        assert expected in answer.output, (command, answer.output)
        assert platform_calls(simulator) == calls, f"{command} called the platform"
        with app.app_context():
            assert len(audit_entries(limit=1000)) == logged, f"{command} was logged"
    with app.app_context():  # and nothing changed
        assert db.session.get(Run, world["run"]) is not None
        assert db.session.scalar(select(StudyLink.active).where(StudyLink.code == world["link"]))
        assert db.session.scalar(select(Hit.deleted_at)) is None
        assert db.session.scalar(select(func.count()).select_from(LinkBatch)) == 1
        assert db.session.scalar(select(func.count()).select_from(ExperimentAccess)) == 3


def test_no_access_reads_exactly_as_no_such_experiment(app, world):
    for command in ("export runs {}", "links list {}", "runs delete {} --run 1 --yes",
                    "hits create {} --yes", "prolific create {} --yes", "hits status {}",
                    "prolific bonus {} --yes", "links off {}"):
        hidden, real = ("followup", "nope") if command.startswith("prolific c") else \
            (world["hit"], "3NOSUCHHIT") if command.startswith("hits s") else \
            (world["study"], "nosuchstudy") if command.startswith("prolific b") else \
            (world["link"], "ZZZZZZZZZZ") if command.startswith("links o") else ("basic", "nope")
        refused = flask(app, command.format(hidden), "--as", "outsider")
        missing = flask(app, command.format(real), "--as", "outsider")
        assert refused.exit_code == missing.exit_code == 1, (command, refused.output)
        assert refused.output.replace(hidden, real) == missing.output, command
        assert "There is no" in missing.output and "basic" not in missing.output


def test_lists_and_all_keep_to_what_the_researcher_may_use(app, simulator, world):
    assert world["hit"] in flask(app, "hits list --as viewer").output
    listed = flask(app, "hits list --as outsider")
    assert listed.exit_code == 0 and world["hit"] not in listed.output
    assert world["study"] in flask(app, "prolific list --as viewer").output
    assert world["study"] not in flask(app, "prolific list --as outsider").output
    calls = platform_calls(simulator)
    for command in ("hits expire --all --yes", "hits approve --all --yes", "hits sync",
                    "prolific sync --all", "prolific approve --all --yes"):
        answer = flask(app, command, "--as", "viewer")  # view only: nothing to change
        assert answer.exit_code == 0 and world["hit"] not in answer.output, answer.output
    assert platform_calls(simulator) == calls
    expired = flask(app, "hits expire --all --yes", env={ENV_VAR: "boss"})  # an admin
    assert f"Expired {world['hit']}" in expired.output


def test_account_and_platform_wide_commands_need_an_admin(app, simulator, world):
    calls = platform_calls(simulator)
    for command in ("researchers list", "researchers add eve --password long-password-1",
                    "researchers token viewer", "researchers audit", "experiments reload",
                    "export backfill-columns", "prolific subscribe --yes",
                    "hits notify AWORKER1 --subject s --message m --yes"):
        answer = flask(app, command, "--as", "viewer")
        assert answer.exit_code == 1, (command, answer.output)
        assert "Only an admin may do this, and 'viewer' is not one." in answer.output
    assert platform_calls(simulator) == calls
    assert "viewer" in flask(app, "researchers list --as boss").output
    assert flask(app, "experiments reload --as boss").exit_code == 0


def test_the_audit_log_names_the_researcher_or_the_operator(app, world):
    assert flask(app, "researchers grant basic outsider --level edit --as boss").exit_code == 0
    assert flask(app, "export runs basic --as viewer").exit_code == 0
    assert flask(app, "export trials basic", env={ENV_VAR: "outsider"}).exit_code == 0
    assert flask(app, "export jsonl basic").exit_code == 0
    with app.app_context():
        entries = [(e.actor, e.action, e.detail) for e in audit_entries("basic")][:4]
        assert db.session.get(ExperimentAccess, ("basic", 2)).granted_by == "boss"
    assert entries == [(f"cli:{getpass.getuser()}", "export", "trials.jsonl (command)"),
                       ("outsider", "export", "trials.csv (command)"),
                       ("viewer", "export", "runs.csv (command)"),
                       ("boss", "grant", "outsider: edit")]


def test_an_unknown_name_and_a_server_that_requires_one(app, world):
    unknown = flask(app, "export runs basic --as nobody")
    assert unknown.exit_code == 1
    assert "There is no researcher called 'nobody' (named by --as or " in unknown.output
    assert flask(app, "hits balance --as nobody").exit_code == 1
    assert "Available balance" in flask(app, "hits balance --as outsider").output
    app.config["CLI_REQUIRE_RESEARCHER"] = True
    for command in ("export runs basic", "hits list", f"links off {world['link']}",
                    f"hits status {world['hit']}"):
        refused = flask(app, command)
        assert refused.exit_code == 1 and "give --as NAME or set" in refused.output, command
    assert flask(app, "export runs basic --as viewer").exit_code == 0
    added = flask(app, "researchers add eve --password long-password-1")  # the first admin
    assert added.exit_code == 0, added.output
