"""WSGI entry point: ``gunicorn wsgi:app``; also how ``flask`` finds the app."""

from experiment_host import create_app

app = create_app()
