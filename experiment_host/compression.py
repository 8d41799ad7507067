"""Compression of pages and assets (Flask-Compress), never of the data API's answers.

The data API answers small JSON, which is not among ``COMPRESS_MIMETYPES``, hundreds of
times a second; Flask-Compress would read each answer's request and headers only to leave
it as it is (~15 µs of the app's CPU per save, in process). Its hook is registered here
instead of by Flask-Compress, and skips those answers.
"""

from __future__ import annotations

from flask import Flask, request
from werkzeug.wrappers import Response

from .extensions import compress


def _compress_unless_api(response: Response) -> Response:
    if request.blueprint == "api":
        return response
    return compress.after_request(response)


def init_app(app: Flask) -> None:
    """Bind Flask-Compress and compress every answer but the data API's."""
    app.config["COMPRESS_REGISTER"] = False  # the hook is this module's
    compress.init_app(app)
    app.after_request(_compress_unless_api)
