"""The ``flask`` command groups, every one registered here; and ``flask simulator run``."""

from __future__ import annotations

import time

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
    from .simulator.state import SimulatorState

    host = host or current_app.config["SIMULATOR_HOST"]
    port = port or current_app.config["SIMULATOR_PORT"]
    state = SimulatorState()
    for slug, experiment in registry().items():
        hit = experiment.config.hit
        state.create_hit(f"{experiment_base.rstrip('/')}/exp/{slug}", title=experiment.title,
                         description=experiment.config.description, reward=hit.reward,
                         max_assignments=hit.assignments)
    prolific = ProlificState()
    for slug, experiment in registry().items():
        if experiment.config.prolific.completion_code:
            body = study_body(experiment, experiment_base, internal_name(slug, 0))
            prolific.studies[slug] = {**body, "id": slug, "status": "ACTIVE"}
    running = serve_in_thread(create_simulator_app(state, prolific=prolific), host, port)
    base = f"http://{host}:{port}"
    click.echo(f"MTurk simulator: http://{host}:{port}/  (Ctrl+C to stop)")
    click.echo(f"Requester API on the same port; for `flask hits`, in another shell:\n"
               f"  export MTURK_ENDPOINT_URL=http://{host}:{port}\n"
               "  (any AWS credentials are accepted: signatures are not checked)")
    click.echo(f"Prolific simulator: {base}/prolific/  (studies published with "
               "`flask prolific` appear there); for `flask prolific` and the done page:\n"
               f"  export PROLIFIC_API_URL={base}/prolific/api/v1 PROLIFIC_API_TOKEN=rehearsal\n"
               f"  export PROLIFIC_COMPLETE_URL={base}/prolific/submissions/complete")
    try:
        while running.thread.is_alive():
            time.sleep(0.5)
    except KeyboardInterrupt:
        running.stop()


def init_app(app: Flask) -> None:
    """Register every command group on the app, each named here."""
    from .links import links_cli
    from .mturk import hits_group
    from .prolific import prolific_group
    from .reloading import experiments_cli
    from .researcher.commands import export_cli, researchers_cli
    from .run_commands import runs_cli

    for group in (hits_group(), prolific_group(), researchers_cli, export_cli, links_cli,
                  simulator_cli, runs_cli, experiments_cli):
        app.cli.add_command(group)
