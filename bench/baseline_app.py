"""The baseline for bench/save_path.py: a bare Flask app that parses the same JSON and
answers 200, with the same URLs, served by the same gunicorn config. Its static files are
the project's own, served by Flask's static route as they are (no compression, Flask's
default caching headers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask, request

PAGE = ('<html><head><script id="experiment-host-config" type="application/json">'
        '{"token": "baseline", "run": {"id": 0}}</script></head><body>task</body></html>')


def create_app() -> Flask:
    """Entry page, records, complete and health, each doing only the JSON work."""
    app = Flask(__name__, static_folder=Path(__file__).resolve().parent.parent / "static")

    @app.get("/exp/<slug>")
    def entry(slug: str) -> str:
        return PAGE

    @app.post("/api/records")
    def records() -> Any:
        body = json.loads(request.get_data())
        return {"stored": len(body["records"]), "duplicates": 0}

    @app.post("/api/complete")
    def complete() -> Any:
        json.loads(request.get_data())
        return {"status": "completed"}

    @app.get("/healthz")
    def healthz() -> Any:
        return {"status": "ok"}

    return app


app = create_app()
