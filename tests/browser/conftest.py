"""Real servers and a real Chromium for browser tests.

The experiment host listens on 127.0.0.1 and the MTurk simulator on localhost: two different
sites, so the experiment runs as a third-party frame exactly as inside MTurk, with
third-party cookies (and so third-party storage) blocked.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from experiment_host import PROJECT_ROOT
from experiment_host.simulator import RunningServer, create_simulator_app, serve_in_thread
from experiment_host.simulator.state import SimulatorState
from tests.conftest import build_app, dispose

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Block third-party cookies (and with them third-party storage), as Safari does.
    "--test-third-party-cookie-phaseout",
]

pytestmark = pytest.mark.browser


@dataclass
class Servers:
    app: Flask
    host: RunningServer
    simulator: RunningServer
    state: SimulatorState

    @property
    def host_url(self) -> str:
        return f"http://127.0.0.1:{self.host.server.port}"

    @property
    def simulator_url(self) -> str:
        return f"http://localhost:{self.simulator.server.port}"

    def restart_host(self, down_while: Callable[[], None]) -> None:
        """Stop the experiment host, run ``down_while``, then start a new app on the same port."""
        port = self.host.server.port
        self.host.stop()
        self.host.server.server_close()
        down_while()
        self.app = build_app(self.app.config["SQLALCHEMY_DATABASE_URI"], fresh_schema=False,
                             **{k: self.app.config[k] for k in ("EXPERIMENTS_DIR",
                                                                 "MTURK_SUBMIT_ORIGINS")},
                             TESTING=False)
        self.host = serve_in_thread(self.app, "127.0.0.1", port)

    def post_hit(self, slug: str) -> str:
        """Post the experiment as a simulator HIT; return the worker's HIT page URL."""
        hit = self.state.create_hit(f"{self.host_url}/exp/{slug}", title=slug, max_assignments=9)
        return f"{self.simulator_url}/hits/{hit.hit_id}"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    return CHROMIUM


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    state = SimulatorState()
    simulator = serve_in_thread(create_simulator_app(state), "127.0.0.1", 0)
    sim_origin = f"http://localhost:{simulator.server.port}"
    app = build_app(
        f"sqlite:///{tmp_path / 'browser.sqlite3'}",
        EXPERIMENTS_DIR=str(PROJECT_ROOT / "experiments"),
        MTURK_SUBMIT_ORIGINS=("https://www.mturk.com", "https://workersandbox.mturk.com",
                              sim_origin),
        TESTING=False,
    )
    host = serve_in_thread(app, "127.0.0.1", 0)
    servers = Servers(app, host, simulator, state)
    yield servers
    servers.host.stop()
    simulator.stop()
    dispose(app)
    if servers.app is not app:
        dispose(servers.app)


@pytest.fixture(scope="session")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright, chromium_path: str):
    browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
