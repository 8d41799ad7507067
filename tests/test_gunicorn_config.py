"""gunicorn.conf.py: the serving defaults for each database, and its worker hook."""

from __future__ import annotations

import gc
import multiprocessing
import os
import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


@pytest.fixture
def load(monkeypatch):
    """Read gunicorn.conf.py under the given environment (restored afterwards)."""
    for name in ("DATABASE_URL", "DATABASE_POOL_SIZE", "GUNICORN_WORKERS",
                 "GUNICORN_WORKER_CLASS", "GUNICORN_THREADS"):
        monkeypatch.delenv(name, raising=False)

    def read(**environ: str) -> dict:
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(CONF))

    return read


def test_postgresql_gets_a_gevent_process_per_core_with_a_pool_of_ten(load):
    settings = load(DATABASE_URL="postgresql+psycopg://db/experiments")
    assert settings["worker_class"] == "gevent"
    assert settings["workers"] == max(2, multiprocessing.cpu_count())
    assert settings["worker_connections"] == 1000
    assert os.environ["DATABASE_POOL_SIZE"] == "10"


def test_sqlite_gets_one_process(load):
    assert load()["workers"] == 1
    assert load(DATABASE_URL="sqlite:////tmp/x.sqlite3")["workers"] == 1


def test_threads_size_the_pool_when_gthread_is_chosen(load):
    settings = load(DATABASE_URL="postgresql+psycopg://db/x", GUNICORN_WORKER_CLASS="gthread",
                    GUNICORN_THREADS="6")
    assert (settings["worker_class"], settings["threads"]) == ("gthread", 6)
    assert os.environ["DATABASE_POOL_SIZE"] == "6"


def test_a_worker_freezes_the_loaded_app_out_of_garbage_collection(load):
    settings = load()
    assert gc.get_freeze_count() == 0
    try:
        settings["post_worker_init"](None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_access_log_holds_no_tokens_nor_worker_ids(load):
    """Run tokens travel in query strings (GET /api/records, the done page), worker ids in
    the entry URL's; the access line has the path only."""
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    config = Config()
    config.set("access_log_format", load()["access_log_format"])
    logger = Logger(config)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/exp/basic",
               "RAW_URI": "/exp/basic?workerId=AWORKER77&assignmentId=A1&token=SECRET.TOKEN",
               "QUERY_STRING": "workerId=AWORKER77&assignmentId=A1&token=SECRET.TOKEN",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.1",
               "HTTP_REFERER": "https://worker.mturk.com/?workerId=AWORKER77",
               "HTTP_USER_AGENT": "Mozilla/5.0"}
    response = SimpleNamespace(status="200 OK", sent=512, headers=[])
    atoms = logger.atoms(response, [], environ, timedelta(milliseconds=7))
    line = config.access_log_format % logger.atoms_wrapper_class(atoms)
    assert line == '10.0.0.1 "GET /exp/basic HTTP/1.1" 200 512 7ms "Mozilla/5.0"'
    assert "AWORKER77" not in line and "SECRET" not in line
