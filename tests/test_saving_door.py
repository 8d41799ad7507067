"""The save engine's door and the invariants its docstring lists (experiment_host/saving)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from sqlalchemy import event

from experiment_host import runs
from experiment_host.extensions import db
from experiment_host.models import Run
from tests.helpers import records

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "experiment_host"
SAVING = PACKAGE / "saving"
SUBMODULES = {path.stem for path in SAVING.glob("*.py") if path.stem != "__init__"}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, as an absolute name (``from X import Y`` gives X and
    X.Y, since Y may be a module)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    package = parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def outside_files() -> list[Path]:
    files = [path for path in PACKAGE.rglob("*.py") if SAVING not in path.parents]
    files += [*(ROOT / "migrations").rglob("*.py"), ROOT / "wsgi.py", ROOT / "gunicorn.conf.py"]
    return files


def test_nothing_outside_imports_a_submodule_of_saving():
    reaching_in = {
        str(path.relative_to(ROOT)): sorted(
            module for module in imported_modules(path)
            if module.split(".")[:2] == ["experiment_host", "saving"]
            and len(module.split(".")) > 2 and module.split(".")[2] in SUBMODULES)
        for path in outside_files()}
    assert {path: modules for path, modules in reaching_in.items() if modules} == {}
    assert "experiment_host.saving" in imported_modules(PACKAGE / "api.py")


def test_storage_imports_nothing_of_the_researcher_package():
    storage = [*SAVING.glob("*.py"), PACKAGE / "record_keys.py"]
    climbing = {str(path.relative_to(ROOT)): sorted(
        module for module in imported_modules(path)
        if module.startswith("experiment_host.researcher")) for path in storage}
    assert {path: modules for path, modules in climbing.items() if modules} == {}


def statements_of(app) -> list[str]:
    """Every statement the app's engine runs from now on, the driver-level ones included."""
    seen: list[str] = []
    engine = db.engine
    if engine.dialect.name == "sqlite":  # the save's SQLite statements bypass SQLAlchemy
        @event.listens_for(engine, "checkout")
        def trace(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            dbapi_connection.set_trace_callback(seen.append)
    else:
        @event.listens_for(engine, "before_cursor_execute")
        def note(_connection, _cursor, statement: str, *_args: Any) -> None:
            seen.append(statement)
    return seen


def test_a_save_locks_the_experiment_before_the_run(app, client, start_run):
    """A save whose keys are new registers them under the experiment's row lock before it
    updates the run's row: the app's lock order (experiment, then run), which an arrival
    keeps too (tests/test_conditions.py)."""
    run = start_run()
    with app.app_context():
        seen = statements_of(app)
        dialect = db.engine.dialect.name
    response = client.post("/api/records", json={"token": run["token"],
                                                 "records": records(0, 2, fresh_key=1)})
    assert response.status_code == 200, response.data
    normal = [" ".join(statement.split()).upper() for statement in seen]
    experiment = next(i for i, s in enumerate(normal) if "FROM EXPERIMENTS" in s)
    run_row = next(i for i, s in enumerate(normal) if "UPDATE RUNS" in s)
    assert experiment < run_row, normal
    if dialect == "postgresql":
        assert "FOR NO KEY UPDATE" in normal[experiment]


def run_row(app, run_id: int) -> dict[str, Any]:
    with app.app_context():
        run = db.session.get(Run, run_id)
        row = {column.key: getattr(run, column.key) for column in Run.__table__.columns}
        db.session.remove()
        return row


def indexed_columns() -> set[str]:
    table = Run.__table__
    columns = {column.name for index in table.indexes for column in index.columns}
    columns |= {column.name for constraint in table.constraints
                for column in getattr(constraint, "columns", ()) if column.name != "id"}
    return columns


def test_no_index_on_a_column_saves_change(app, client, start_run):
    """Saves (plain and transactional) and heartbeats change no indexed column of the run
    (last_seen_at moves on at most every SEEN_RESOLUTION: not within this test)."""
    run = start_run()
    token, run_id = run["token"], run["run"]["id"]
    assert client.post("/api/records", json={"token": token, "records": records(0, 1)}
                       ).status_code == 200
    before = run_row(app, run_id)
    for body in ({"records": records(1, 3)}, {"records": records(3, 5, new_key=1)},
                 {"records": records(0, 1)}):
        assert client.post("/api/records", json={"token": token, **body}).status_code == 200
    assert client.post("/api/heartbeat", json={"token": token}).status_code == 200
    after = run_row(app, run_id)
    changed = {key for key in before if before[key] != after[key]}
    assert {"record_count", "next_seq", "stored_bytes", "rate_count"} <= changed
    assert changed & indexed_columns() == set()


def test_every_run_column_is_set_on_insert(app, client, start_run, monkeypatch):
    """The run's insert names every column but id and condition (its own statement picks
    the condition): a column added to Run must be given a value by runs._create, or every
    arrival fails."""
    given: list[set[str]] = []
    create = runs.create_run

    def spy(experiment: Any, run: dict[str, Any], *args: Any) -> Any:
        given.append(set(run))
        return create(experiment, run, *args)

    monkeypatch.setattr(runs, "create_run", spy)
    start_run()
    expected = {column.key for column in Run.__table__.columns} - {"id", "condition"}
    assert given == [expected]
