"""Decide which assignments to approve, skip or reject, and why, so that money follows
verified data; apply the decisions concurrently, a refused id never stopping the batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select

from ..extensions import db
from ..models import Platform, Run, RunStatus, utcnow
from ..runs import has_complete_data
from .errors import MTurkError
from .gateway import AssignmentInfo, Gateway

APPROVE, SKIP, REJECT = "approve", "skip", "reject"

T = TypeVar("T")
R = TypeVar("R")
#: Something MTurk refused (a HIT id, an assignment id, a worker id) and why.
Failure = tuple[str, MTurkError]


@dataclass(frozen=True)
class Decision:
    assignment: AssignmentInfo
    action: str
    reason: str
    run_id: int | None = None


def runs_for(assignments: Iterable[AssignmentInfo]) -> dict[str, Run]:
    """Our MTurk runs of these assignments, by assignment id."""
    ids = [a.assignment_id for a in assignments]
    found: dict[str, Run] = {}
    for start in range(0, len(ids), 500):
        rows = db.session.scalars(select(Run).where(
            Run.platform == Platform.MTURK, Run.session_key.in_(ids[start:start + 500])))
        found.update({run.session_key: run for run in rows})
    return found


def same_worker(ours: str, reported: str) -> bool:
    """True when our worker id is the one MTurk reports (MTurk's ids are uppercase)."""
    return ours.strip().upper() == reported.strip().upper()


def worker_mismatch(run: Run, assignment: AssignmentInfo) -> str | None:
    """Why the run cannot speak for this assignment (another worker's), or None."""
    if same_worker(run.worker_id, assignment.worker_id):
        return None
    return (f"worker id mismatch: our run {run.id} is worker {run.worker_id}, MTurk reports "
            f"{assignment.worker_id} for this assignment")


def data_problem(assignment: AssignmentInfo, run: Run | None) -> str | None:
    """Why our run does not vouch for this assignment's data (none, another worker's, not
    complete), or None when it does: money follows verified data."""
    if run is None:
        return "no run here for this assignment (no data)"
    mismatch = worker_mismatch(run, assignment)
    if mismatch:
        return mismatch
    if not has_complete_data(run):
        return (f"no data: the run did not complete with records (status "
                f"{run.status.value}, {run.record_count} records)")
    return None


# Approve rule: a Submitted assignment whose run (Run.session_key == AssignmentId) belongs to
# the worker MTurk reports for the assignment (ids compared case-insensitively) and completed
# with all its data (completed_at set, at least one record). Reject rule (``--no-data``): a
# Submitted assignment with no run, or a run without any record.
def decide_approval(assignment: AssignmentInfo, run: Run | None) -> Decision:
    """Approve a submitted assignment with complete data; otherwise skip it, saying why."""
    run_id = run.id if run else None
    if assignment.status != "Submitted":
        return Decision(assignment, SKIP, f"already {assignment.status.lower()}", run_id)
    if run is None:
        return Decision(assignment, SKIP, "no run found for this assignment (no data here)")
    mismatch = worker_mismatch(run, assignment)
    if mismatch:
        return Decision(assignment, SKIP, mismatch, run_id)
    if run.record_count == 0:
        return Decision(assignment, SKIP, "no data: the run saved no records", run_id)
    if not has_complete_data(run):
        return Decision(assignment, SKIP, f"run not completed (status {run.status.value})",
                        run_id)
    return Decision(assignment, APPROVE, f"complete: {run.record_count} records", run_id)


def decide_rejection(assignment: AssignmentInfo, run: Run | None, no_data: bool,
                     explicit: set[str]) -> Decision:
    """Reject explicitly named assignments, or (``no_data``) submitted ones without data."""
    run_id = run.id if run else None
    if assignment.status != "Submitted":
        return Decision(assignment, SKIP, f"already {assignment.status.lower()}", run_id)
    if assignment.assignment_id in explicit:
        return Decision(assignment, REJECT, "named on the command line", run_id)
    if no_data and (run is None or run.record_count == 0):
        return Decision(assignment, REJECT, "submitted with no data", run_id)
    return Decision(assignment, SKIP, "has data" if run else "not named", run_id)


def run_concurrently(items: list[T], work: Callable[[T], R], workers: int
                     ) -> Iterator[tuple[T, R | None, MTurkError | None]]:
    """Apply ``work`` to each item on a bounded thread pool; yield (item, result, error)."""
    if workers <= 1:
        for item in items:
            yield _attempt(item, work)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_attempt, item, work) for item in items]
        for future in as_completed(futures):
            yield future.result()


def _attempt(item: T, work: Callable[[T], R]) -> tuple[T, R | None, MTurkError | None]:
    try:
        return item, work(item), None
    except MTurkError as error:
        return item, None, error


def mark_reviewed(run_id: int | None, status: RunStatus) -> None:
    """Record MTurk's review on our run; the caller commits."""
    run = db.session.get(Run, run_id) if run_id is not None else None
    if run is not None and run.status != status:
        run.status = status
        run.reviewed_at = utcnow()


def assignments_of(gateway: Gateway, hit_ids: list[str], statuses: tuple[str, ...] = ()
                   ) -> tuple[list[AssignmentInfo], list[Failure]]:
    """The assignments of these HITs (only ``statuses``), and the HITs MTurk refused."""
    found: list[AssignmentInfo] = []
    failed: list[Failure] = []
    for hit_id in hit_ids:
        try:
            found.extend(gateway.assignments(hit_id, statuses))
        except MTurkError as error:
            failed.append((hit_id, error))
    return found, failed


def look_up(gateway: Gateway, assignment_ids: Iterable[str]
            ) -> tuple[list[AssignmentInfo], list[Failure]]:
    """These assignments as MTurk reports them, and the ids MTurk refused."""
    found: list[AssignmentInfo] = []
    failed: list[Failure] = []
    for assignment_id in dict.fromkeys(assignment_ids):
        try:
            found.append(gateway.get_assignment(assignment_id))
        except MTurkError as error:
            failed.append((assignment_id, error))
    return found, failed
