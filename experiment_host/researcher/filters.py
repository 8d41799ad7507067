"""Run filters shared by the dashboard, the exports and the CLI: parsed once, applied once,
so a download and the page it came from always mean the same runs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Select, false, or_

from ..completion_codes import COMPLETED
from ..links import in_batches
from ..models import Platform, Run, RunStatus, TrialRecord

E = TypeVar("E", Platform, RunStatus)
_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


class FilterError(ValueError):
    """A filter value that cannot be understood; the message says what is expected."""


@dataclass(frozen=True)
class RunFilter:
    """Which runs (and records) to show: empty tuples mean "any"."""

    statuses: tuple[RunStatus, ...] = ()
    conditions: tuple[str, ...] = ()
    platforms: tuple[Platform, ...] = ()
    #: Runs active since (runs) or records received since (trials), UTC.
    since: datetime | None = None
    #: How the task ended the run (``Run.outcome``: "completed", "screened_out", ...).
    outcomes: tuple[str, ...] = ()
    #: Runs that came through a study link of one of these batches.
    batches: tuple[str, ...] = ()
    #: Test runs too (pilots, sandbox, simulators); they are left out otherwise.
    include_tests: bool = False

    def query_args(self) -> dict[str, list[str]]:
        """The filter as query-string values (for links that keep it)."""
        args = {"status": [s.value for s in self.statuses], "condition": list(self.conditions),
                "platform": [p.value for p in self.platforms], "outcome": list(self.outcomes),
                "batch": list(self.batches)}
        if self.since is not None:
            args["since"] = [self.since.isoformat()]
        if self.include_tests:
            args["include_tests"] = ["1"]
        return {name: values for name, values in args.items() if values}


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _members(kind: type[E], label: str, values: Iterable[str]) -> tuple[E, ...]:
    found = []
    for value in _split(values):
        try:
            found.append(kind(value))
        except ValueError as exc:
            allowed = ", ".join(member.value for member in kind)
            raise FilterError(f"Unknown {label} {value!r}; use one of: {allowed}.") from exc
    return tuple(dict.fromkeys(found))


def parse_since(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp (a date, or date and time; no zone means UTC)."""
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "T"))
        # A zone offset can push a moment at either end of the calendar out of it.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise FilterError(
            f"'since' must be an ISO 8601 timestamp such as 2026-05-01T12:00:00Z (years 1 "
            f"to 9999 in UTC), not {value!r}."
        ) from exc


#: ``preset=completed``: the runs that finished the task as intended (not screened out
#: or ended with another outcome), whatever the platform decided since.
COMPLETED_PRESET = {"status": [s.value for s in RunStatus.REACHED_COMPLETION],
                    "outcome": [COMPLETED]}
PRESETS = {"completed": COMPLETED_PRESET}


def _with_preset(getlist: Any) -> Any:
    """``getlist`` with a ``preset``'s status and outcome values (given alone)."""
    names = _split(getlist("preset"))
    if not names:
        return getlist
    if len(names) > 1 or names[0] not in PRESETS:
        raise FilterError(f"Unknown preset {','.join(names)!r}; use one of: "
                          f"{', '.join(PRESETS)}.")
    preset = PRESETS[names[0]]
    if any(_split(getlist(name)) for name in preset):
        raise FilterError(f"The preset {names[0]!r} sets {' and '.join(preset)}; do not give "
                          "them as well.")
    return lambda name: preset.get(name) or getlist(name)


def parse_filter(getlist: Any, conditions: Iterable[str] | None = None) -> RunFilter:
    """Build a RunFilter from ``getlist(name)`` (e.g. ``request.args.getlist``).

    Values may repeat (``status=a&status=b``) or be comma-separated. ``conditions``, when
    given, are the experiment's known condition names. ``preset`` names a set of values.
    """
    getlist = _with_preset(getlist)
    chosen = tuple(dict.fromkeys(_split(getlist("condition"))))
    if conditions is not None:
        unknown = [name for name in chosen if name not in set(conditions)]
        if unknown:
            raise FilterError(f"Unknown condition {unknown[0]!r}; this experiment has: "
                              f"{', '.join(conditions)}.")
    since_values = getlist("since")
    if len(since_values) > 1:
        raise FilterError("Give 'since' at most once.")
    include_tests = _split(getlist("include_tests"))
    if len(include_tests) > 1 or not set(include_tests) <= _FLAGS.keys():
        raise FilterError("'include_tests' must be given once, as 1 or 0.")
    return RunFilter(
        statuses=_members(RunStatus, "status", getlist("status")),
        conditions=chosen,
        platforms=_members(Platform, "platform", getlist("platform")),
        since=parse_since(since_values[0] if since_values else None),
        outcomes=tuple(dict.fromkeys(_split(getlist("outcome")))),
        batches=tuple(dict.fromkeys(name[:64] for name in _split(getlist("batch")))),
        include_tests=bool(include_tests) and _FLAGS[include_tests[0]],
    )


def where_runs(statement: Select[Any], run_filter: RunFilter, slug: str) -> Select[Any]:
    """Restrict a statement over Run to the experiment and the filter's statuses etc."""
    statement = statement.where(Run.experiment_slug == slug)
    if not run_filter.include_tests:
        statement = statement.where(Run.is_test.is_(false()))
    if run_filter.statuses:
        statement = statement.where(Run.status.in_(run_filter.statuses))
    if run_filter.conditions:
        statement = statement.where(Run.condition.in_(run_filter.conditions))
    if run_filter.platforms:
        statement = statement.where(Run.platform.in_(run_filter.platforms))
    if run_filter.outcomes:
        statement = statement.where(Run.outcome.in_(run_filter.outcomes))
    if run_filter.batches:
        statement = statement.where(in_batches(run_filter.batches))
    return statement


def since_runs(statement: Select[Any], since: datetime | None) -> Select[Any]:
    """Runs with any activity (seen, completed, submitted, reviewed) at or after ``since``."""
    if since is None:
        return statement
    return statement.where(or_(Run.last_seen_at >= since, Run.completed_at >= since,
                               Run.submitted_at >= since, Run.reviewed_at >= since,
                               Run.created_at >= since))


def since_records(statement: Select[Any], since: datetime | None) -> Select[Any]:
    """Records received at or after ``since``."""
    return statement if since is None else statement.where(TrialRecord.received_at >= since)
