"""gunicorn settings for experiment_host: ``gunicorn -c gunicorn.conf.py wsgi:app``.

The workload is many slow clients inside iframes sending small JSON requests, each waiting
on the database for part of its time, so each worker process serves its clients from
greenlets (``gevent``): a waiting client costs a greenlet, not a thread, and nothing is
spent on threads taking turns at the interpreter lock. The app is stateless between requests
(everything lives in the database), and the saves that a process's clients make at the same
moment go to PostgreSQL together (experiment_host/saving/group_commit.py). Every setting can be
overridden with an environment variable of the same name in upper case with a ``GUNICORN_``
prefix, e.g. ``GUNICORN_WORKERS=8`` or ``GUNICORN_WORKER_CLASS=gthread``.
"""

import gc
import multiprocessing
import os


def _env(name: str, default: str) -> str:
    return os.environ.get(f"GUNICORN_{name.upper()}", default)


bind = _env("bind", "127.0.0.1:8000")
worker_class = _env("worker_class", "gevent")
_SQLITE = os.environ.get("DATABASE_URL", "").startswith("sqlite") or not os.environ.get(
    "DATABASE_URL"
)
#: Processes: one per core for PostgreSQL (each runs Python on one core at a time); one for
#: SQLite, which takes a single writer at a time anyway (more processes would only queue on
#: its lock, and SQLite's wait for a lock held elsewhere stalls a whole gevent process).
workers = int(_env("workers", "1" if _SQLITE else str(max(2, multiprocessing.cpu_count()))))
#: Clients one process serves at once (gevent): a burst of arrivals beyond this waits to be
#: accepted.
worker_connections = int(_env("worker_connections", "1000"))
#: Threads per process, for ``GUNICORN_WORKER_CLASS=gthread`` only.
threads = int(_env("threads", "8"))
#: A request that takes longer than this is killed (the client retries; nothing is half-saved
#: because every request is one transaction).
timeout = int(_env("timeout", "30"))
#: On SIGHUP / SIGTERM, workers finish their in-flight requests for up to this long.
graceful_timeout = int(_env("graceful_timeout", "30"))
#: Browsers in iframes reuse connections between saves and heartbeats.
keepalive = int(_env("keepalive", "5"))
#: Recycle workers now and then, with jitter so they do not all restart together.
max_requests = int(_env("max_requests", "20000"))
max_requests_jitter = int(_env("max_requests_jitter", "2000"))
accesslog = _env("accesslog", "-") or None  # GUNICORN_ACCESSLOG="" turns it off
errorlog = _env("errorlog", "-")
#: Method, path and protocol, never the query string (%(r)s or %(q)s): run tokens travel in
#: the query strings of GET /api/records and the done page, and worker ids in the entry
#: URL's, and neither belongs in a log file. The referrer (%(f)s) would carry them too.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
#: Behind a TLS-terminating proxy on the same host, trust its X-Forwarded-* headers.
forwarded_allow_ips = _env("forwarded_allow_ips", "127.0.0.1")
#: Never preload: each worker builds its own app and database pool after the fork.
preload_app = False

# The app sizes its connection pool from this: one connection per thread (gthread), or 10
# per process (gevent: the clients' greenlets take turns on them; a save takes one only for
# its process's next group of saves). Every process may open the pool plus half as many
# again, and 3 for the autocommitted saves: keep workers x (1.5 x DATABASE_POOL_SIZE + 3)
# within PostgreSQL's max_connections.
os.environ.setdefault("DATABASE_POOL_SIZE", str(threads if worker_class == "gthread" else 10))


def post_worker_init(worker: object) -> None:
    """Leave the objects of the loaded app (modules, SQLAlchemy's metadata, templates) out of
    the garbage collector's full collections. Each full collection walked them all, and a
    gevent process's clients all wait while it runs (bench/RESULTS-archive.md has the pauses)."""
    gc.freeze()
