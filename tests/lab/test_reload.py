"""Reloading the experiments without a restart: every process follows the stamp within
REGISTRY_CHECK_SECONDS, and a broken folder is refused with a clear message."""

from __future__ import annotations

import shutil

from sqlalchemy import select

from experiment_host.extensions import db
from experiment_host.reloading import RegistryStamp
from tests.lab.conftest import FOLLOWUP
from tests.researcher.support import csrf_token


def add_experiment(experiments_dir, slug, config=FOLLOWUP):
    folder = experiments_dir / slug
    folder.mkdir(exist_ok=True)
    (folder / "experiment.toml").write_text(config)
    (folder / "task.html").write_text("<html><head></head><body>task</body></html>")


def stamp(app):
    with app.app_context():
        return db.session.scalar(select(RegistryStamp.version)) or 0


def test_every_process_follows_a_reload(app, client, make_app, experiments_dir):
    other = make_app(EXPERIMENTS_DIR=str(experiments_dir), REGISTRY_CHECK_SECONDS=0)
    slow = make_app(EXPERIMENTS_DIR=str(experiments_dir), REGISTRY_CHECK_SECONDS=3600)
    for each in (client, other.test_client(), slow.test_client()):
        assert each.get("/exp/added?participant=P1").status_code == 404  # each checks once
    add_experiment(experiments_dir, "added")
    assert client.get("/exp/added?participant=P1").status_code == 404  # not before a reload
    result = app.test_cli_runner().invoke(args=["experiments", "reload"])
    assert result.exit_code == 0 and "Registry version 1:" in result.output, result.output
    assert "added" in result.output
    assert client.get("/exp/added?participant=P2").status_code == 200
    assert other.test_client().get("/exp/added?participant=P3").status_code == 200
    # A process checks at most every REGISTRY_CHECK_SECONDS: this one not yet...
    assert slow.test_client().get("/exp/added?participant=P4").status_code == 404
    slow.extensions["live_registry"]._checked = float("-inf")  # ...until the time has come
    assert slow.test_client().get("/exp/added?participant=P4").status_code == 200
    assert stamp(app) == 1


def test_a_broken_folder_is_refused_and_the_running_version_stays(app, client, logged_in,
                                                                   make_app, experiments_dir):
    other = make_app(EXPERIMENTS_DIR=str(experiments_dir), REGISTRY_CHECK_SECONDS=0)
    assert other.test_client().get("/exp/open?participant=P0").status_code == 200
    add_experiment(experiments_dir, "broken", "title = [unclosed")
    result = app.test_cli_runner().invoke(args=["experiments", "reload"])
    assert result.exit_code == 1
    assert "Not reloaded:" in result.output and "broken/experiment.toml: cannot read TOML" \
        in result.output
    assert stamp(app) == 0
    page = logged_in.get("/researcher/experiments/open").get_data(as_text=True)
    assert 'id="reload-button"' in page
    refused = logged_in.post("/researcher/experiments/open/reload",
                             data={"csrf_token": csrf_token(page)})
    assert refused.status_code == 400
    assert "broken/experiment.toml: cannot read TOML" in refused.get_data(as_text=True)
    assert stamp(app) == 0
    assert client.get("/exp/open?participant=P1").status_code == 200  # still served
    # Broken after a reload was accepted (another host's stamp): processes keep theirs.
    with app.app_context():
        db.session.add(RegistryStamp(id=1, version=7))
        db.session.commit()
    assert other.test_client().get("/exp/open?participant=P2").status_code == 200
    assert other.extensions["live_registry"].version == 7
    shutil.rmtree(experiments_dir / "broken")
    fixed = logged_in.post("/researcher/experiments/open/reload",
                           data={"csrf_token": csrf_token(page)})
    assert fixed.status_code == 303 and stamp(app) == 8
    log = logged_in.get("/researcher/experiments/open").get_data(as_text=True)
    assert "version 8" in log.split('id="audit-log"')[1]


def test_an_edited_experiment_is_served_as_edited(app, logged_in, experiments_dir):
    toml = experiments_dir / "open" / "experiment.toml"
    toml.write_text(toml.read_text().replace('title = "Open experiment"',
                                             'title = "Open experiment, second wording"'))
    assert "second wording" not in logged_in.get("/researcher/").get_data(as_text=True)
    assert app.test_cli_runner().invoke(args=["experiments", "reload"]).exit_code == 0
    assert "second wording" in logged_in.get("/researcher/").get_data(as_text=True)
