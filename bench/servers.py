"""Start gunicorn with the project's gunicorn.conf.py on a free port (bench/, fault tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_EXPERIMENTS = ROOT / "bench" / "experiments"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """A gunicorn master serving ``app`` (``wsgi:app`` by default) from the repository root."""

    def __init__(self, env: dict[str, str], app: str = "wsgi:app", workers: int | None = None,
                 threads: int | None = None, port: int | None = None, root: Path = ROOT) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Workers and threads default to gunicorn.conf.py's own choice.
        sizes = {"GUNICORN_WORKERS": workers, "GUNICORN_THREADS": threads}
        self.env = {**os.environ, **env, "GUNICORN_BIND": f"127.0.0.1:{self.port}",
                    "GUNICORN_ACCESSLOG": "", "GUNICORN_MAX_REQUESTS": "0",
                    **{name: str(value) for name, value in sizes.items() if value}}
        self.app = app
        #: The checkout whose code and gunicorn.conf.py are served (another commit's, to
        #: compare two in the same run).
        self.root = root
        self.process: subprocess.Popen[bytes] | None = None
        #: Seconds from starting the master to the first 200 from the health path.
        self.boot_seconds = 0.0
        #: gunicorn's own log (errors, worker boots and deaths), kept for inspection.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()

    def start(self, health_path: str = "/healthz", timeout: float = 300) -> Gunicorn:
        """Start the master and wait until ``health_path`` answers 200 (``boot_seconds``
        says how long that took); fail at once if the master exits. ``timeout`` only
        bounds a hang: a loaded machine boots slowly."""
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(self.root / "gunicorn.conf.py"), self.app],
            cwd=self.root, env={**self.env, "PYTHONPATH": str(self.root)},
            stdout=subprocess.DEVNULL, stderr=self.log,
        )
        deadline = started + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(self.url + health_path,
                                            timeout=max(deadline - time.monotonic(), 1)
                                            ) as response:
                    if response.status == 200:
                        self.boot_seconds = time.monotonic() - started
                        return self
            except OSError:
                time.sleep(0.2)
        log = self.read_log()
        self.stop()
        raise RuntimeError(f"gunicorn did not answer {health_path} within {timeout}s:\n"
                           + log[-3000:])

    def read_log(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def worker_pids(self) -> list[int]:
        """The master's current worker processes."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

