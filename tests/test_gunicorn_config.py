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
