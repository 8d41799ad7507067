"""Validate requester API input against botocore's MTurk service model, as the service does:
botocore's client-side validation skips patterns, enums and maxima, which the real service
enforces with a ``ValidationException`` listing each problem."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

MAX_REPORTED = 10


@cache
def service_model() -> ServiceModel:
    """botocore's MTurk model (2017-01-17), loaded once."""
    return botocore.session.get_session().get_service_model("mturk")


def operation(name: str) -> OperationModel | None:
    """The operation called ``name``, or None if the service has no such operation."""
    if name not in service_model().operation_names:
        return None
    return service_model().operation_model(name)


def validation_errors(op: OperationModel, params: Any) -> list[str]:
    """Every constraint of the operation's input that ``params`` breaks, AWS-worded."""
    errors: list[str] = []
    if op.input_shape is not None:
        _check(op.input_shape, params, "", errors)
    return errors


def describe(errors: list[str]) -> str:
    """The ValidationException message for ``errors``."""
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: " + "; ".join(errors[:MAX_REPORTED])


def _member_path(parent: str, name: str) -> str:
    key = name[:1].lower() + name[1:]
    return f"{parent}.{key}" if parent else key


def _fail(errors: list[str], value: Any, path: str, constraint: str) -> None:
    shown = "null" if value is None else f"'{value}'"
    errors.append(f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}")


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    checker = _CHECKERS.get(shape.type_name)
    if checker is not None:
        checker(shape, value, path, errors)


def _check_structure(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        _fail(errors, value, path or "input", "Member must be a structure")
        return
    members = shape.members  # type: ignore[attr-defined]
    for name in shape.required_members:  # type: ignore[attr-defined]
        if value.get(name) is None:
            _fail(errors, None, _member_path(path, name), "Member must not be null")
    for name, item in value.items():
        if name in members and item is not None:
            _check(members[name], item, _member_path(path, name), errors)


def _check_list(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, list):
        _fail(errors, value, path, "Member must be a list")
        return
    _check_size(shape, len(value), value, path, errors, "length")
    for index, item in enumerate(value, start=1):
        _check(shape.member, item, f"{path}.{index}.member", errors)  # type: ignore[attr-defined]


def _check_size(shape: Shape, size: int, value: Any, path: str, errors: list[str],
                what: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        _fail(errors, value, path, f"Member must have {what} greater than or equal to {low}")
    if high is not None and size > high:
        _fail(errors, value, path, f"Member must have {what} less than or equal to {high}")


def _check_string(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, str):
        _fail(errors, value, path, "Member must be a string")
        return
    _check_size(shape, len(value), value, path, errors, "length")
    pattern = shape.metadata.get("pattern")
    if pattern and re.search(pattern, value) is None:
        _fail(errors, value, path, f"Member must satisfy regular expression pattern: {pattern}")
    enum = shape.enum  # type: ignore[attr-defined]
    if enum and value not in enum:
        _fail(errors, value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")


def _check_integer(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if type(value) is not int:
        _fail(errors, value, path, "Member must be an integer")
        return
    _check_size(shape, value, value, path, errors, "value")


def _check_boolean(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, bool):
        _fail(errors, value, path, "Member must be a boolean")


def _check_timestamp(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(errors, value, path, "Member must be a timestamp (seconds since the epoch)")


_CHECKERS = {
    "structure": _check_structure,
    "list": _check_list,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
}
