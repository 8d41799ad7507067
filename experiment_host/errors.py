"""App-wide error answers: JSON under /api, friendly pages elsewhere, 503 when the
database is unreachable (retryable), never a bare 500 page. :class:`ClientError` is the one
base of the errors a client is told about, so one handler answers them all."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from .extensions import db


class ClientError(Exception):
    """A request refused for a reason the client is told: ``code`` and ``message`` go in the
    answer with ``status`` (the class's, unless given), and ``extra`` as further fields."""

    status = 400

    def __init__(self, code: str, message: str, status: int | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status
        self.extra = extra


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.blueprint == "api"


def _answer(status: int, code: str, title: str, message: str, **extra: Any) -> Any:
    if _wants_json():
        return jsonify(error=code, message=message, **extra), status
    return render_template("worker/message.html", title=title, message=message), status


def _client_error(error: ClientError) -> Any:
    db.session.rollback()  # a refused request changes nothing
    return _answer(error.status, error.code, "This cannot be done", error.message,
                   **error.extra)


def _http_error(error: HTTPException) -> Any:
    db.session.rollback()
    status = error.code or 500
    title = error.name or "Error"
    return _answer(status, title.lower().replace(" ", "_"), title, error.description or title)


def _database_unavailable(error: Exception) -> Any:
    current_app.logger.warning("database unavailable: %s", error)
    try:
        db.session.rollback()
    except OperationalError:
        db.session.close()
    return _answer(
        503,
        "database_unavailable",
        "Please try again in a moment",
        "The server cannot reach its database right now. Nothing was saved; please try "
        "again in a moment.",
    )


def _unexpected(error: Exception) -> Any:
    db.session.rollback()
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return _answer(
        500,
        "internal_error",
        "Something went wrong",
        "Something went wrong on our side. Nothing was lost: please try again in a moment.",
    )


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(ClientError, _client_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(InterfaceError, _database_unavailable)
    # Every pooled connection stayed busy for the pool's timeout: retryable too.
    app.register_error_handler(PoolTimeout, _database_unavailable)
    if not app.testing:
        app.register_error_handler(Exception, _unexpected)
