"""group_commit: concurrent callers' items are written together, and every caller hears the
outcome of the write that carried its item (no database here: the write is a function)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from experiment_host.group_commit import GroupCommit

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
        assert self.hold.wait(10)
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
    for _ in range(1000):
        with group._lock:
            if len(group._queue) == count:
                return
        threading.Event().wait(0.005)
    raise AssertionError(f"never saw {count} queued items")


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
    writes.hold.clear()
    first = submit_in_thread(group, 1, outcomes)
    assert writes.started.acquire(timeout=10)  # item 1 is being written
    others = [submit_in_thread(group, item, outcomes) for item in (2, 3, 4)]
    wait_until_queued(group, 3)
    writes.hold.set()
    for thread in (first, *others):
        thread.join(10)
    assert writes.batches[0] == [1]
    assert sorted(writes.batches[1]) == [2, 3, 4]
    assert outcomes == {1: 10, 2: 20, 3: 30, 4: 40}
    assert group.submit(5) == 50  # nobody is writing any more: at once, alone
    assert writes.batches[-1] == [5]


def test_a_write_takes_at_most_max_items():
    writes = Writes()
    group = GroupCommit(writes, max_items=2)
    outcomes: dict[int, object] = {}
    writes.hold.clear()
    threads = [submit_in_thread(group, 0, outcomes)]
    assert writes.started.acquire(timeout=10)
    threads += [submit_in_thread(group, item, outcomes) for item in (1, 2, 3, 4, 5)]
    wait_until_queued(group, 5)
    writes.hold.set()
    for thread in threads:
        thread.join(10)
    assert [len(batch) for batch in writes.batches] == [1, 2, 2, 1]
    assert sorted(item for batch in writes.batches for item in batch) == [0, 1, 2, 3, 4, 5]
    assert outcomes == {item: item * 10 for item in range(6)}


def test_a_failed_write_reaches_each_of_its_callers_and_the_next_write_goes_on():
    writes = Writes(fail=lambda items: 2 in items)
    group = GroupCommit(writes)
    outcomes: dict[int, object] = {}
    writes.hold.clear()
    first = submit_in_thread(group, 1, outcomes)
    assert writes.started.acquire(timeout=10)
    failing = [submit_in_thread(group, item, outcomes) for item in (2, 3)]
    wait_until_queued(group, 2)
    writes.hold.set()
    for thread in (first, *failing):
        thread.join(10)
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
        thread.join(10)
    assert writes.batches == [[1, 2, 3]]
    assert outcomes == {2: 20, 3: 30}


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


def test_greenlets_of_a_gevent_process_are_grouped_too():
    """Under gunicorn's gevent workers the locks are gevent's: waiting yields to others."""
    script = """
from gevent import monkey; monkey.patch_all()
import gevent
from experiment_host.group_commit import GroupCommit
batches = []
def write(items):
    batches.append(list(items))
    gevent.sleep(0.01)  # like a database round trip: the other greenlets run meanwhile
    return [item + 100 for item in items]
group = GroupCommit(write)
jobs = [gevent.spawn(group.submit, item) for item in range(20)]
gevent.joinall(jobs, timeout=10)
assert [job.value for job in jobs] == [item + 100 for item in range(20)], jobs
assert batches[0] == [0] and len(batches) < 20, batches
print(len(batches))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 2  # the first alone, the 19 that queued meanwhile together
