"""Compression of pages and assets, never of the data API's small JSON answers: those are
the most frequent requests and would never be compressed, so they skip the hook entirely."""

from __future__ import annotations

import threading
from collections import OrderedDict

from flask import Flask, Request, request
from werkzeug.wrappers import Response

from .extensions import compress
from .security_headers import ASSET_ENDPOINTS

#: Compressed asset versions a process keeps (least recently used ones go first).
ASSET_CACHE_ENTRIES = 256
#: Where the hook leaves an asset's cache key for :func:`_cache_key`.
_ASSET_KEY = "experiment_host.compressed_asset"
#: How an asset's key starts; Flask-Compress puts the algorithm before it ("gzip;asset:...").
_ASSET_PREFIX = "asset:"


# Assets (static files, experiment files, jsPsych) are compressed once per process and
# version: every arriving worker's browser fetches the same scripts, and compressing one
# costs more than serving it. The compressed body is kept under the asset's path and ETag,
# which changes when the file does. Pages are compressed afresh every time, because each
# one carries its own run's token.
class CompressedAssets:
    """Flask-Compress's cache: it keeps only assets' bodies (keyed by this module), so a
    page's key (empty) is never stored and never found."""

    def __init__(self, entries: int = ASSET_CACHE_ENTRIES) -> None:
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._limit = entries
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            body = self._entries.get(key)
            if body is not None:
                self._entries.move_to_end(key)
            return body

    def set(self, key: str, body: bytes) -> None:
        if f";{_ASSET_PREFIX}" not in key:
            return
        with self._lock:
            self._entries[key] = body
            self._entries.move_to_end(key)
            while len(self._entries) > self._limit:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _cache_key(current: Request) -> str:
    return current.environ.get(_ASSET_KEY, "")


def _compress_unless_api(response: Response) -> Response:
    if request.blueprint == "api":
        return response
    if request.endpoint in ASSET_ENDPOINTS and response.status_code == 200:
        etag, weak = response.get_etag()
        if etag and not weak:
            request.environ[_ASSET_KEY] = f"{_ASSET_PREFIX}{request.path}|{etag}"
    return compress.after_request(response)


def init_app(app: Flask) -> None:
    """Bind Flask-Compress and compress every answer but the data API's."""
    app.config["COMPRESS_REGISTER"] = False  # the hook is this module's
    app.config["COMPRESS_CACHE_BACKEND"] = CompressedAssets
    app.config["COMPRESS_CACHE_KEY"] = _cache_key
    compress.init_app(app)
    app.after_request(_compress_unless_api)
