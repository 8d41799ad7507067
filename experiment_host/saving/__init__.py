"""The save engine, behind this one door: trials in, runs completed, bonuses set.

Nothing outside imports a submodule (tests/test_saving_door.py). The invariants a change here
must keep, each with the test that guards it:

- Lock order experiment row, then run row (a save registering new keys, as an arrival):
  test_saving_door.py::test_a_save_locks_the_experiment_before_the_run.
- No index on a column that saves change (their run update stays HOT on PostgreSQL):
  test_saving_door.py::test_no_index_on_a_column_saves_change, test_plain_saves.py::
  test_saves_and_heartbeats_rewrite_the_run_within_its_page.
- The guard's SQL text and its SQLAlchemy form agree (the text is rendered from run_guard):
  test_run_guard.py::test_the_sql_text_and_the_expression_answer_alike.
- A migration keeps its own copy of trigger DDL: test_migrations.py::
  test_migrations_keep_their_own_trigger_ddl.
- A new Run column must be set on insert (runs._create names every column):
  test_saving_door.py::test_every_run_column_is_set_on_insert.
"""

from __future__ import annotations

from flask import Flask

from . import column_registry, plain_saves
from .column_registry import backfill_columns, has_properties, header_keys, register_columns
from .columns import ColumnSet
from .completion import Completed, complete_run, set_bonus
from .records import RecordError, RecordIn, SaveResult, count_request, save_records, touch
from .run_guard import SEEN_RESOLUTION

__all__ = [
    "SEEN_RESOLUTION", "ColumnSet", "Completed", "RecordError", "RecordIn", "SaveResult",
    "backfill_columns", "complete_run", "count_request", "has_properties", "header_keys",
    "init_app", "register_columns", "save_records", "set_bonus", "touch",
]


def init_app(app: Flask) -> None:
    """Give the app its cache of committed columns and its plain saves."""
    column_registry.init_app(app)
    plain_saves.init_app(app)
