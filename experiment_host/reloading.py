"""Reload the experiments registry without a restart: a version stamp in the database,
moved on by each reload, that every process (each gunicorn worker) checks at most every
REGISTRY_CHECK_SECONDS and follows by reading the experiments folder again.

A reload first reads the whole folder: a broken experiment.toml is refused with the same
message as at startup, and nothing changes anywhere. A process that cannot read the folder
when it follows a stamp (it broke after the reload) keeps the version it runs and logs why.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import Integer, String, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from .audit import actor, audit
from .database import increment
from .experiments import ExperimentConfigError, Registry, discover
from .extensions import db
from .models import UTCDateTime, utcnow

log = logging.getLogger(__name__)
STAMP_ID = 1


class RegistryStamp(db.Model):
    """One row: the registry's version, moved on by each reload."""

    __tablename__ = "registry_stamp"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    reloaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reloaded_by: Mapped[str | None] = mapped_column(String(80))


def _stored_version() -> int:
    """The stamp, on a connection of its own: the caller's transaction stays untouched."""
    with db.engine.connect() as connection:
        return connection.scalar(select(RegistryStamp.version).where(
            RegistryStamp.id == STAMP_ID)) or 0


class LiveRegistry:
    """The registry a process serves, following the stamp at most every ``check_seconds``."""

    def __init__(self, folder: Path, check_seconds: float, registry: Registry) -> None:
        self.folder, self.check_seconds = folder, check_seconds
        self.registry = registry
        self.version: int | None = None  # unknown until first checked
        self._checked = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> Registry:
        """The registry to serve now (checking the stamp first when the time has come)."""
        if time.monotonic() - self._checked >= self.check_seconds and \
                self._lock.acquire(blocking=False):  # one thread checks; the others go on
            try:
                self._follow()
            finally:
                self._lock.release()
        return self.registry

    def _follow(self) -> None:
        self._checked = time.monotonic()
        try:
            version = _stored_version()
        except SQLAlchemyError:  # the database is away: serve what we have, check later
            return
        if self.version is not None and version != self.version:
            try:
                self.registry = discover(self.folder)
            except ExperimentConfigError as error:
                log.error("registry version %s not loaded, still serving the one before: %s",
                          version, error)
        self.version = version

    def adopt(self, registry: Registry, version: int) -> None:
        """Serve ``registry`` as ``version`` at once (the process that reloaded)."""
        with self._lock:
            self.registry, self.version, self._checked = registry, version, time.monotonic()


def live_registry() -> LiveRegistry:
    """The current app's live registry."""
    return current_app.extensions["live_registry"]


def reload_registry(slug: str | None = None, dry_run: bool = False) -> tuple[Registry, int]:
    """Read the experiments folder again and move the stamp on, so every process follows;
    commit. ExperimentConfigError (nothing changed) if any experiment is broken. A dry run
    only reads the folder (the version returned is the current one)."""
    live = live_registry()
    fresh = discover(live.folder)
    if dry_run:
        return fresh, _stored_version()
    version = increment(RegistryStamp, {"id": STAMP_ID}, "version")
    stamp = db.session.get(RegistryStamp, STAMP_ID)
    if stamp is not None:
        stamp.reloaded_at, stamp.reloaded_by = utcnow(), actor()
    audit("reload", slug, f"version {version}: {len(fresh)} experiment(s)")
    db.session.commit()
    live.adopt(fresh, version)
    return fresh, version


def init_app(app: Flask) -> None:
    """Discover the app's experiments at app creation; a reload makes every process read
    them again."""
    folder = Path(app.config["EXPERIMENTS_DIR"])
    app.extensions["live_registry"] = LiveRegistry(
        folder, app.config["REGISTRY_CHECK_SECONDS"], discover(folder))
