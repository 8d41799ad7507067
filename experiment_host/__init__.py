"""experiment_host: host online behavioural experiments for crowd workers.

The app factory: one short recipe of named steps, so nothing is configured at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from . import config as config_module
from .config import PROJECT_ROOT


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app: configure, bind extensions, load experiments, register parts."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    _configure(app, test_config)
    _trust_proxies(app)
    _init_extensions(app)
    _register_blueprints(app)
    _register_commands(app)
    return app


def _configure(app: Flask, test_config: dict[str, Any] | None) -> None:
    app.config.from_object(config_module.Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config_module.environment_overrides())
    if test_config:
        app.config.update(test_config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    for key in ("EXPERIMENTS_DIR", "NODE_MODULES_DIR"):
        folder = Path(app.config[key])
        app.config[key] = str(folder if folder.is_absolute() else PROJECT_ROOT / folder)
    app.config["SESSION_COOKIE_SECURE"] = config_module.cookie_secure(
        app.config["SESSION_COOKIE_SECURE"], app.config["PUBLIC_URL"]
    )
    app.config["SECRET_KEY"] = config_module.secret_key(
        app.config["SECRET_KEY"], app.config["ENV"], app.instance_path
    )
    uri = app.config.get("SQLALCHEMY_DATABASE_URI") or config_module.database_uri(
        app.config["DATABASE_URL"], app.instance_path
    )
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    from .database import engine_options

    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(uri, app.config["DATABASE_POOL_SIZE"])
    )


def _trust_proxies(app: Flask) -> None:
    """Behind TRUSTED_PROXIES reverse proxies, take the client address and scheme from them."""
    hops = app.config["TRUSTED_PROXIES"]
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]


def _init_extensions(app: Flask) -> None:
    from . import compression, database, reloading, saving, sessions
    from .extensions import csrf, db, migrate

    sessions.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    compression.init_app(app)
    reloading.init_app(app)
    saving.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from . import api, errors, health, researcher, security_headers, worker
    from .extensions import csrf
    from .links import web as links_web
    from .prolific import hooks_bp

    app.register_blueprint(worker.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    csrf.exempt(worker.bp)  # the signed run token authenticates worker requests
    csrf.exempt(api.bp)
    app.register_blueprint(hooks_bp)
    csrf.exempt(hooks_bp)  # Prolific's signature authenticates its hook requests
    researcher.init_app(app)  # session login, CSRF-protected, never framed
    links_web.init_app(app)  # study links and codes; their dashboard pages
    security_headers.init_app(app)
    errors.init_app(app)


def _register_commands(app: Flask) -> None:
    from . import cli

    cli.init_app(app)
