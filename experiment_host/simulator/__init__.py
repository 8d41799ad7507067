"""Local MTurk simulator, so the MTurk flow is tested for real without AWS: the worker site
(frames HITs, receives externalSubmit) and the requester API for boto3, in one process and
state, served on its own origin so the experiment is framed cross-site as on MTurk."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from ..config import PROJECT_ROOT
from .state import SimulatorState


def create_simulator_app(state: SimulatorState | None = None,
                         config: dict[str, Any] | None = None) -> Flask:
    """Build the simulator app around ``state`` (a fresh one by default)."""
    from . import requester_api, worker_site

    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"))
    app.config.update(config or {})
    app.extensions["mturk_simulator"] = state or SimulatorState()
    app.register_blueprint(worker_site.bp)
    app.register_blueprint(requester_api.bp)  # POST / with X-Amz-Target; GET / stays the list
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
