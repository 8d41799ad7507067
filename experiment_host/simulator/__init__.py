"""Local MTurk and Prolific simulators, so both flows are tested for real without spending
money: each platform's participant side and its requester API, in one process and state,
served on its own origin (Prolific's under ``/prolific/``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from ..config import PROJECT_ROOT
from .prolific_state import ProlificState
from .state import SimulatorState


def create_simulator_app(state: SimulatorState | None = None,
                         config: dict[str, Any] | None = None,
                         prolific: ProlificState | None = None) -> Flask:
    """Build the simulator app around ``state`` (a fresh one by default); Prolific's side,
    around ``prolific``, is served under ``/prolific/``."""
    from . import (
        prolific_api,
        prolific_hooks_api,  # noqa: F401  (routes on prolific_api.bp)
        prolific_site,
        prolific_submissions_api,  # noqa: F401  (routes on prolific_api.bp)
        requester_api,
        worker_site,
    )

    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"))
    app.config.update(config or {})
    app.extensions["mturk_simulator"] = state or SimulatorState()
    app.register_blueprint(worker_site.bp)
    app.register_blueprint(requester_api.bp)  # POST / with X-Amz-Target; GET / stays the list
    app.extensions["prolific_simulator"] = prolific or ProlificState()
    app.register_blueprint(prolific_api.bp)
    app.register_blueprint(prolific_site.bp)
    return app


@dataclass
class RunningServer:
    """A server started in a background thread (tests, ``flask simulator run``)."""

    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def serve_in_thread(app: Flask, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` from a daemon thread; port 0 picks a free port."""
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    return RunningServer(server, thread)
