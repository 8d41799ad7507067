"""The ``flask`` command groups, every one registered here; and ``flask simulator run``."""

from __future__ import annotations

import time
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from .experiments import registry

simulator_cli = AppGroup("simulator", help="Run the local MTurk and Prolific simulators.")


@simulator_cli.command("run")
@click.option("--host", default=None, help="Address to bind (default SIMULATOR_HOST).")
@click.option("--port", default=None, type=int, help="Port (default SIMULATOR_PORT).")
@click.option("--experiment-base", default="http://127.0.0.1:5000",
              show_default=True, help="Where this app serves /exp/<slug>.")
def simulator_run(host: str | None, port: int | None, experiment_base: str) -> None:
    """Serve the simulated MTurk and Prolific (participant sides and APIs), one HIT and one
    published Prolific study per experiment."""
    from .prolific import internal_name, study_body
    from .simulator import create_simulator_app, serve_in_thread
    from .simulator.prolific_state import ProlificState

    host = host or current_app.config["SIMULATOR_HOST"]
    port = port or current_app.config["SIMULATOR_PORT"]
    prolific = ProlificState()
    bodies = {}
    for slug, experiment in registry().items():
        if experiment.config.prolific.completion_code:
            bodies[slug] = study_body(experiment, experiment_base, internal_name(slug, 0))
            prolific.studies[slug] = {**bodies[slug], "id": slug, "status": "ACTIVE"}
    running = serve_in_thread(create_simulator_app(prolific=prolific), host, port)
    endpoint = f"http://{host}:{port}"
    try:
        _post_rehearsal_hits(endpoint, experiment_base)
        _record_rehearsal_studies(f"{endpoint}/prolific/api/v1", bodies)
    except BaseException:
        running.stop()
        raise
    click.echo(f"MTurk simulator: {endpoint}/  (Ctrl+C to stop)")
    click.echo(f"Requester API on the same port; for `flask hits`, in another shell:\n"
               f"  export MTURK_ENDPOINT_URL={endpoint}\n"
               "  (no AWS credentials needed for a simulator on this machine)")
    click.echo(f"Prolific simulator: {endpoint}/prolific/  (studies published with "
               "`flask prolific` appear there); for `flask prolific` and the done page:\n"
               f"  export PROLIFIC_API_URL={endpoint}/prolific/api/v1"
               " PROLIFIC_API_TOKEN=rehearsal\n"
               f"  export PROLIFIC_COMPLETE_URL={endpoint}/prolific/submissions/complete")
    try:
        while running.thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        running.stop()


def _record_rehearsal_studies(api_url: str, bodies: dict[str, dict[str, Any]]) -> None:
    """Record the simulator's published studies as this project's (see
    :func:`..prolific.studies.record_simulator_studies`)."""
    from sqlalchemy.exc import SQLAlchemyError

    from .extensions import db
    from .prolific.studies import record_simulator_studies

    try:
        record_simulator_studies(api_url, bodies)
        db.session.commit()
    except SQLAlchemyError as error:
        raise click.ClickException(
            "Could not record the simulator's Prolific studies in the database "
            f"({error.__class__.__name__}). Run `flask db upgrade` first.") from error


def _post_rehearsal_hits(endpoint: str, experiment_base: str) -> None:
    """Post each experiment's HIT to the new simulator and record it as this project's."""
    from sqlalchemy.exc import SQLAlchemyError

    from .extensions import db
    from .mturk import MTurkError, QuestionError, rehearsal

    try:
        gateway = rehearsal.simulator_gateway(current_app.config, endpoint)
        forgotten = rehearsal.forget_simulator_hits(gateway.target)
        db.session.commit()
        posted = rehearsal.post_rehearsal_hits(gateway, experiment_base)
    except SQLAlchemyError as error:
        raise click.ClickException(
            f"Could not record the simulator's HITs in the database ({error.__class__.__name__})."
            " Run `flask db upgrade` first.") from error
    except (MTurkError, QuestionError, rehearsal.RehearsalError) as error:
        raise click.ClickException(str(error)) from error
    if forgotten:
        click.echo(f"Forgot {forgotten} HIT(s) of an earlier simulator at {endpoint}.")
    for hit in posted:
        click.echo(f"Posted HIT {hit.hit_id} for {hit.experiment_slug}: "
                   f"{gateway.target.preview_url(hit.hit_id, hit.hit_group_id)}")


def init_app(app: Flask) -> None:
    """Register every command group on the app, each named here; every command but the
    simulator's takes ``--as NAME``, the researcher it acts as (access/cli.py)."""
    from .access import add_acting_option
    from .experiments_cli import experiments_cli
    from .links.cli import links_cli
    from .mturk import hits_group
    from .prolific import prolific_group
    from .researcher.commands import export_cli, researchers_cli
    from .run_commands import runs_cli

    for group in (hits_group(), prolific_group(), researchers_cli, export_cli, links_cli,
                  simulator_cli, runs_cli, experiments_cli):
        app.cli.add_command(group)
        for command in group.commands.values() if group is not simulator_cli else ():
            add_acting_option(command)
