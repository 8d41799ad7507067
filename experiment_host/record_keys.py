"""What the save engine and the export both know about a record's keys: how they flatten to
trials.csv column names, which records are checkpoints or run properties, and the reserved
names; below both, so storage never imports the researcher package."""

from __future__ import annotations

from typing import Any

#: The run columns that open every trials.csv row; a record key with one of these names
#: gets ``data.`` in front (:func:`data_column`).
TRIAL_RUN_COLUMNS = (
    "run_id", "experiment", "platform", "worker_id", "session_key", "study_key", "condition",
    "run_status", "seq", "received_at",
)
#: trial_type of the resume bookkeeping records written by our jsPsych adapter.
CHECKPOINT_TYPE = "experiment-host-checkpoint"
#: trial_type of the run properties records written by our jsPsych adapter (what
#: ``jsPsych.data.addProperties`` added, under ``properties``).
PROPERTIES_TYPE = "experiment-host-properties"
#: The trials.csv column holding a record's keys that have no column of their own (as one
#: JSON object); no record key is ever given this column name.
OVERFLOW_COLUMN = "data.overflow"
#: The registry name that says an experiment has properties records (flagged neither as a
#: trial nor as a checkpoint column, so never in a header); no record key is given it.
PROPERTIES_COLUMN = "data.properties"


def flatten(data: dict[str, Any]) -> dict[str, Any]:
    """Nested objects to dotted keys; lists and empty objects stay as values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            _flatten_nested(flat, value, f"{key}.")
        else:
            flat[key] = value
    return flat


def _flatten_nested(flat: dict[str, Any], data: dict[str, Any], prefix: str) -> None:
    # Depth first with an explicit stack: any nesting depth the JSON parser accepted works.
    stack = [(prefix, iter(data.items()))]
    while stack:
        prefix, items = stack[-1]
        for key, value in items:
            if isinstance(value, dict) and value:
                stack.append((f"{prefix}{key}.", iter(value.items())))
                break
            flat[f"{prefix}{key}"] = value
        else:
            stack.pop()


def data_column(key: str) -> str:
    """The CSV column of a flattened record key: ``data.`` in front if a run column has it."""
    return "data." + key if key in TRIAL_RUN_COLUMNS else key


def is_checkpoint(data: dict[str, Any]) -> bool:
    """True for the jsPsych adapter's resume bookkeeping records."""
    return data.get("trial_type") == CHECKPOINT_TYPE


def run_properties(data: dict[str, Any]) -> dict[str, Any] | None:
    """The properties of a run properties record; None for any other record."""
    properties = data.get("properties") if data.get("trial_type") == PROPERTIES_TYPE else None
    return properties if isinstance(properties, dict) else None
