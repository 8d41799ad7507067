#!/usr/bin/env python3
"""Prove that a production install serves: ``pip install .`` without extras, then gunicorn.

Copies the working tree to a temporary folder, installs it into a fresh virtualenv (no test
extras; pip's own cache is reused), imports every module of the package there, then for
SQLite and for each ``--database-url`` given: ``flask db upgrade``, starts
``gunicorn -c gunicorn.conf.py wsgi:app`` on a free loopback port, expects 200 from
``/healthz`` and from a page, and stops it. Exits non-zero, loudly, on any failure; every
wait is bounded and the server is always stopped. Standard library only: it runs with the
interpreter that creates the virtualenv (``make install-check`` uses ``$(PYTHON)``).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Not part of what `pip install .` builds or what a host serves from.
SKIPPED = (
    ".git",
    ".venv",
    "node_modules",
    "instance",
    "build",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    ".ruff_cache",
)
INSTALL_SECONDS = 900
COMMAND_SECONDS = 300
BOOT_SECONDS = 180
STOP_SECONDS = 40
PAGES = ("/healthz", "/researcher/login")
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


class CheckFailed(Exception):
    """A step of the check failed; the message says which and why."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        action="append",
        default=[],
        help="also check on this (empty) database; SQLite is always checked",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _exit_on_signal)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="experiment-host-install-"))
    try:
        src, venv_bin = _install(work)
        for url in [f"sqlite:///{work / 'check.sqlite3'}", *args.database_url]:
            _serve_and_fetch(src, venv_bin, url, work / "gunicorn.log")
    except CheckFailed as failure:
        print(f"\nINSTALL CHECK FAILED: {failure}", file=sys.stderr, flush=True)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"install check passed in {time.monotonic() - started:.0f} s", flush=True)
    return 0


def _exit_on_signal(signum: int, _frame: object) -> None:
    """Turn SIGTERM into an exception so that the server is stopped and the folder removed."""
    raise SystemExit(128 + signum)


def _install(work: Path) -> tuple[Path, Path]:
    """Copy the tree, make a fresh virtualenv, install the package without extras into it."""
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*SKIPPED), symlinks=True)
    _run([sys.executable, "-m", "venv", str(work / "venv")], "create the virtualenv", work)
    venv_bin = work / "venv" / "bin"
    _step("pip install . (no extras) into a fresh virtualenv")
    _run(
        [
            str(venv_bin / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--root-user-action=ignore",
            str(src),
        ],
        "pip install .",
        work,
        timeout=INSTALL_SECONDS,
    )
    _step("import every module of the package")
    _run(
        [
            str(venv_bin / "python"),
            "-c",
            "import importlib, pkgutil, experiment_host as p\n"
            "for m in pkgutil.walk_packages(p.__path__, 'experiment_host.'):\n"
            "    importlib.import_module(m.name)",
        ],
        "import every module",
        src,
    )
    return src, venv_bin


def _serve_and_fetch(src: Path, venv_bin: Path, url: str, log: Path) -> None:
    """Upgrade the schema on ``url``, boot gunicorn with the project's config, fetch pages."""
    env = _clean_env(url)
    shown = url.split("@")[-1]
    _step(f"flask db upgrade on {shown}")
    _run([str(venv_bin / "flask"), "db", "upgrade"], "flask db upgrade", src, env=env)
    _step(f"gunicorn -c gunicorn.conf.py wsgi:app on {shown}")
    with _gunicorn(venv_bin, src, env, log) as port:
        for page in PAGES:
            _expect_200(f"http://127.0.0.1:{port}{page}", log)
            print(f"  GET {page}: 200", flush=True)


def _clean_env(database_url: str) -> dict[str, str]:
    """The caller's environment without anything that could lend the install a package or
    change the project's gunicorn settings, plus production settings and a free port."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTHON", "VIRTUAL_ENV", "GUNICORN_", "FLASK_", "DATABASE_"))
        and name not in ("ENV", "SECRET_KEY")
    }
    env.update(
        PYTHONNOUSERSITE="1",
        ENV="production",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=database_url,
        FLASK_APP="wsgi.py",
        GUNICORN_BIND="127.0.0.1:0",
    )
    return env


@contextmanager
def _gunicorn(venv_bin: Path, src: Path, env: dict[str, str], log: Path) -> Iterator[int]:
    """Run gunicorn in its own process group; yield its port; always stop the whole group."""
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(venv_bin / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=src,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield _wait_for_port(server, log)
    finally:
        _stop(server)


def _wait_for_port(server: subprocess.Popen[bytes], log: Path) -> int:
    """The port gunicorn bound (port 0 in the bind: the kernel picks a free one)."""
    deadline = time.monotonic() + BOOT_SECONDS
    while time.monotonic() < deadline:
        found = LISTENING.search(log.read_text(errors="replace"))
        if found:
            return int(found.group(1))
        if server.poll() is not None:
            raise CheckFailed(f"gunicorn exited with {server.returncode}\n{_tail(log)}")
        time.sleep(0.2)
    raise CheckFailed(f"gunicorn did not listen within {BOOT_SECONDS} s\n{_tail(log)}")


def _expect_200(url: str, log: Path) -> None:
    """GET ``url`` until it answers 200; fail at once on another status, or at the deadline."""
    deadline = time.monotonic() + BOOT_SECONDS
    problem = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=max(1.0, deadline - time.monotonic())):
                return
        except urllib.error.HTTPError as error:
            raise CheckFailed(f"GET {url} answered {error.code}\n{_tail(log)}") from None
        except OSError as error:  # refused, reset or timed out while workers boot
            problem = repr(error)
        time.sleep(0.5)
    raise CheckFailed(f"GET {url}: {problem} within {BOOT_SECONDS} s\n{_tail(log)}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (a graceful stop), then SIGKILL whatever is left."""
    _signal_group(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        print(f"  gunicorn did not stop within {STOP_SECONDS} s: killing it", flush=True)
    _signal_group(server.pid, signal.SIGKILL)  # the master's workers too, if any is left
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"gunicorn (pid {server.pid}) survived SIGKILL") from None


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _run(
    command: list[str],
    what: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: int = COMMAND_SECONDS,
) -> None:
    """Run a command to completion within ``timeout``; its output only when it fails."""
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=env or _clean_env(""),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"{what}: still running after {timeout} s") from None
    if done.returncode != 0:
        raise CheckFailed(f"{what} exited with {done.returncode}\n{done.stdout}{done.stderr}")


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _step(text: str) -> None:
    print(f"install check: {text}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
