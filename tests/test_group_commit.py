"""group_commit: concurrent callers' items are written together, and every caller hears the
outcome of the write that carried its item (no database here: the write is a function)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import sqlalchemy

from experiment_host.saving.group_commit import GroupCommit
from experiment_host.saving.plain_saves import PostgresPlainSaves
from tests.helpers import HANG_SECONDS, wait_until

ROOT = Path(__file__).resolve().parent.parent


class Writes:
    """A write function that records its batches and can be held until released."""

    def __init__(self, fail: Callable[[Sequence[int]], bool] = lambda _items: False) -> None:
        self.batches: list[list[int]] = []
        self.started = threading.Semaphore(0)
        self.hold = threading.Event()
        self.hold.set()
        self.fail = fail

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        self.started.release()
        assert self.hold.wait(HANG_SECONDS)
        if self.fail(items):
            raise ConnectionError(f"lost while writing {list(items)}")
        return [item * 10 for item in items]


def submit_in_thread(group: GroupCommit[int, int], item: int,
                     outcomes: dict[int, object]) -> threading.Thread:
    def submit() -> None:
        try:
            outcomes[item] = group.submit(item)
        except Exception as error:  # recorded for the test to look at
            outcomes[item] = error

    thread = threading.Thread(target=submit)
    thread.start()
    return thread


def wait_until_queued(group: GroupCommit[int, int], count: int) -> None:
    def queued() -> bool:
        with group._lock:
            return len(group._queue) == count

    wait_until(queued, f"{count} queued items")


def first_writes_while_others_queue(group: GroupCommit[int, int], writes: Writes, first: int,
                                    others: Sequence[int], outcomes: dict[int, object]) -> None:
    """Hold the write of ``first`` until ``others`` have all queued behind it, then let the
    writes go; returns when every caller has its answer (in ``outcomes``)."""
    writes.hold.clear()
    threads = [submit_in_thread(group, first, outcomes)]
    assert writes.started.acquire(timeout=HANG_SECONDS)  # ``first`` is being written
    threads += [submit_in_thread(group, item, outcomes) for item in others]
    wait_until_queued(group, len(others))
    writes.hold.set()
    for thread in threads:
        thread.join(HANG_SECONDS)


def test_a_lone_item_is_written_at_once_on_its_own():
    writes = Writes()
    group = GroupCommit(writes)
    assert group.submit(4) == 40
    assert group.submit(5) == 50
    assert writes.batches == [[4], [5]]


def test_items_that_arrive_during_a_write_go_together_in_the_next():
    writes = Writes()
    group = GroupCommit(writes)
    outcomes: dict[int, object] = {}
    first_writes_while_others_queue(group, writes, 1, (2, 3, 4), outcomes)
    assert writes.batches[0] == [1]
    assert sorted(writes.batches[1]) == [2, 3, 4]
    assert outcomes == {1: 10, 2: 20, 3: 30, 4: 40}
    assert group.submit(5) == 50  # nobody is writing any more: at once, alone
    assert writes.batches[-1] == [5]


def test_a_write_takes_at_most_max_items():
    writes = Writes()
    group = GroupCommit(writes, max_items=2)
    outcomes: dict[int, object] = {}
    first_writes_while_others_queue(group, writes, 0, (1, 2, 3, 4, 5), outcomes)
    assert [len(batch) for batch in writes.batches] == [1, 2, 2, 1]
    assert sorted(item for batch in writes.batches for item in batch) == [0, 1, 2, 3, 4, 5]
    assert outcomes == {item: item * 10 for item in range(6)}


def test_a_failed_write_reaches_each_of_its_callers_and_the_next_write_goes_on():
    writes = Writes(fail=lambda items: 2 in items)
    group = GroupCommit(writes)
    outcomes: dict[int, object] = {}
    first_writes_while_others_queue(group, writes, 1, (2, 3), outcomes)
    assert outcomes[1] == 10
    assert all(isinstance(outcomes[item], ConnectionError) for item in (2, 3))
    assert group.submit(4) == 40  # the group is not stuck


def test_gather_lets_the_items_queued_meanwhile_join_the_first_write():
    writes = Writes()
    outcomes: dict[int, object] = {}
    others: list[threading.Thread] = []

    def gather() -> None:  # two more callers arrive while the first gathers
        others.extend(submit_in_thread(group, item, outcomes) for item in (2, 3))
        wait_until_queued(group, 2)

    group = GroupCommit(writes, gather=gather)
    assert group.submit(1) == 10
    for thread in others:
        thread.join(HANG_SECONDS)
    assert writes.batches == [[1, 2, 3]]
    assert outcomes == {2: 20, 3: 30}


def test_with_gather_every_write_a_handed_over_batch_gathers_before_its_write_too():
    writes = Writes()
    outcomes: dict[int, object] = {}
    gathered: list[list[int]] = []
    late: list[threading.Thread] = []

    def gather() -> None:  # item 4 arrives while the batch handed over gathers
        gathered.append(sorted(waiter.item for waiter in group._queue))
        if len(gathered) == 2:
            late.append(submit_in_thread(group, 4, outcomes))
            wait_until_queued(group, 1)

    group = GroupCommit(writes, gather=gather, gather_every_write=True)
    first_writes_while_others_queue(group, writes, 1, (2, 3), outcomes)
    for thread in late:
        thread.join(HANG_SECONDS)
    assert len(gathered) == 2  # before the first write, and before the one handed over
    assert writes.batches[0] == [1]
    assert sorted(writes.batches[1]) == [2, 3, 4]
    assert outcomes == {1: 10, 2: 20, 3: 30, 4: 40}


def test_without_gather_every_write_a_handed_over_batch_is_written_at_once():
    writes = Writes()
    calls: list[int] = []
    group = GroupCommit(writes, gather=lambda: calls.append(1))
    outcomes: dict[int, object] = {}
    first_writes_while_others_queue(group, writes, 1, (2,), outcomes)
    assert writes.batches == [[1], [2]]
    assert calls == [1]  # only the caller that found nobody writing gathered


def test_a_failed_gather_fails_its_batch_and_the_group_goes_on():
    writes = Writes()
    calls: list[int] = []

    def gather() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise TimeoutError("interrupted while gathering")

    group = GroupCommit(writes, gather=gather)
    with pytest.raises(TimeoutError):
        group.submit(1)
    assert group.submit(2) == 20
    assert writes.batches == [[2]]  # nothing of the failed batch was written


def test_a_write_that_answers_the_wrong_number_of_results_fails_its_callers():
    group: GroupCommit[int, int] = GroupCommit(lambda items: [])
    with pytest.raises(RuntimeError, match="0 results for 1"):
        group.submit(1)


def run_under_gevent(script: str) -> str:
    """Run ``script`` in a Python process patched by gevent, as gunicorn's gevent workers
    are; its standard output."""
    done = subprocess.run([sys.executable, "-c", GEVENT_PROCESS + script], cwd=ROOT,
                          capture_output=True, text=True, timeout=HANG_SECONDS)
    assert done.returncode == 0, done.stderr
    return done.stdout


GEVENT_PROCESS = "from gevent import monkey; monkey.patch_all()\n"


def test_greenlets_of_a_gevent_process_are_grouped_too():
    """Under gunicorn's gevent workers the locks are gevent's: waiting yields to others."""
    script = """
import gevent
from experiment_host.saving.group_commit import GroupCommit
batches = []
def write(items):
    batches.append(list(items))
    gevent.sleep(0.01)  # like a database round trip: the other greenlets run meanwhile
    return [item + 100 for item in items]
group = GroupCommit(write)
jobs = [gevent.spawn(group.submit, item) for item in range(20)]
gevent.joinall(jobs)
assert [job.value for job in jobs] == [item + 100 for item in range(20)], jobs
assert batches[0] == [0] and len(batches) < 20, batches
print(len(batches))
"""
    assert int(run_under_gevent(script)) == 2  # the first alone, the 19 queued meanwhile


# PostgreSQL's plain saves gather under gevent: each write first lets the process handle
# what it has received (plain_saves._handle_received_requests).
GATHERING_GROUP = """
import gevent
from experiment_host.saving.group_commit import GroupCommit
from experiment_host.saving.plain_saves import _handle_received_requests
events = []
def write(items):
    events.append(("write", list(items)))
    gevent.sleep(0.01)  # like a database round trip: the other greenlets run meanwhile
    return [item + 100 for item in items]
group = GroupCommit(write, gather=_handle_received_requests, gather_every_write=True)
"""
#: An engine's URL that is never connected to (building the plain saves connects nothing).
UNUSED_POSTGRES = "postgresql+psycopg://nobody@127.0.0.1/x"


def test_under_gevent_postgresql_saves_gather_before_every_write():
    script = f"""
import sqlalchemy
from experiment_host.saving.plain_saves import PostgresPlainSaves, _handle_received_requests
saves = PostgresPlainSaves(sqlalchemy.create_engine({UNUSED_POSTGRES!r}))
print(saves.group._gather is _handle_received_requests, saves.group._gather_handed_over
      is _handle_received_requests)
"""
    assert run_under_gevent(script).split() == ["True", "True"]


def test_outside_gevent_postgresql_saves_write_at_once():
    saves = PostgresPlainSaves(sqlalchemy.create_engine(UNUSED_POSTGRES))
    assert saves.group._gather is None
    assert saves.group._gather_handed_over is None


def test_requests_a_gevent_process_has_received_join_the_first_write():
    """Without the gather the first of these goes alone (the test above); with it, the
    greenlets that are ready to run when it writes reach their save first and join it."""
    script = """
jobs = [gevent.spawn(group.submit, item) for item in range(20)]
gevent.joinall(jobs)
assert [job.value for job in jobs] == [item + 100 for item in range(20)], jobs
print(sorted(events[0][1]) == list(range(20)), len(events))
"""
    assert run_under_gevent(GATHERING_GROUP + script).split() == ["True", "1"]


def test_a_quiet_gevent_process_writes_a_save_at_once():
    """Nothing else pending: the gather ends when the event loop is idle, not at its limit
    (set to an hour here, which a gather waiting for it would never reach in this test)."""
    script = """
import experiment_host.saving.plain_saves as plain_saves
plain_saves.GATHER_AT_MOST = 3600.0
assert group.submit(1) == 101
print(events)
"""
    assert run_under_gevent(GATHERING_GROUP + script).strip() == "[('write', [1])]"


def test_a_gevent_process_that_is_never_idle_still_writes():
    """A greenlet that always has more to do keeps the loop from ever being idle: the
    gather gives up after its limit and the save is written."""
    script = """
busy = True
def spin():
    while busy:
        gevent.sleep(0)
spinner = gevent.spawn(spin)
gevent.sleep(0)
saver = gevent.spawn(group.submit, 1)
saver.join()
busy = False
spinner.join()
print(saver.value, events)
"""
    assert run_under_gevent(GATHERING_GROUP + script).strip() == "101 [('write', [1])]"
