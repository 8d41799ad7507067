"""The run vocabulary (platforms, run statuses and their named groups), in a module of its
own below ``models`` and ``tallies`` so both read one definition without importing each
other; every list of statuses in the code is one of the groups here."""

from __future__ import annotations

import enum
from typing import ClassVar


class Platform(enum.StrEnum):
    MTURK = "mturk"
    PROLIFIC = "prolific"
    LINK = "link"


class RunStatus(enum.StrEnum):
    """Where a run stands; the groups after the members are the only lists of statuses."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURNED = "returned"
    ABANDONED = "abandoned"
    DECLINED = "declined"

    #: Hold a condition place for good (the tallies' ``held``): the data is complete and
    #: kept. In progress holds one only while seen lately (a time rule, not a status).
    COUNTED: ClassVar[tuple[RunStatus, ...]]
    #: The worker answered for good on the platform: they may not start the experiment again.
    FINAL_FOR_WORKER: ClassVar[tuple[RunStatus, ...]]
    #: Stopped without finishing: a returning worker's run comes back to life from these.
    REVIVABLE: ClassVar[tuple[RunStatus, ...]]
    #: Completed the task, whatever the platform decided since.
    REACHED_COMPLETION: ClassVar[tuple[RunStatus, ...]]
    #: The task page may still set a bonus (the run is not yet handed to the platform).
    BONUSABLE: ClassVar[tuple[RunStatus, ...]]


# Tuples, not sets: the trigger DDL renders COUNTED, and its text must not vary by process.
RunStatus.COUNTED = (RunStatus.COMPLETED, RunStatus.SUBMITTED, RunStatus.APPROVED)
RunStatus.FINAL_FOR_WORKER = (RunStatus.SUBMITTED, RunStatus.APPROVED, RunStatus.REJECTED)
RunStatus.REVIVABLE = (RunStatus.RETURNED, RunStatus.ABANDONED, RunStatus.DECLINED)
RunStatus.REACHED_COMPLETION = (RunStatus.COMPLETED, *RunStatus.FINAL_FOR_WORKER)
RunStatus.BONUSABLE = (RunStatus.IN_PROGRESS, RunStatus.COMPLETED)
