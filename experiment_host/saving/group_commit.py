"""Group commit: the writes of concurrent requests in one process, done together.

While one thread writes, the threads that arrive meanwhile queue their items; when it is
done, the first of them writes everything queued, in one go, and the others wait for its
answer. A thread that finds nobody writing writes its own item at once (after an optional
``gather`` step, which may also come before every write), so a quiet server adds no wait.
Under load one database statement (one round trip, one commit) then carries the saves of
several workers instead of one each: the per-statement cost is what the app and the
database spend most on (bench/RESULTS.md).

Every waiting thread is answered: with its item's result, or with the exception the write
raised (each waiter raises it as its own request's error). Nothing is acknowledged before
the write that holds it has returned. :class:`WrittenAlone` is the same interface with group
commit switched off (``SPEEDUP_GROUP_COMMIT``), for measuring what it earns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Waiter(Generic[Item, Result]):
    __slots__ = ("batch", "error", "item", "result", "wake")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.wake = threading.Lock()
        self.wake.acquire()  # released once: with the result, or to lead ``batch``
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.batch: list[_Waiter[Item, Result]] | None = None


class GroupCommit(Generic[Item, Result]):
    """Calls ``write(items)`` for the items of concurrent :meth:`submit` calls, at most
    ``max_items`` at a time and one call at a time; ``write`` returns one result per item."""

    def __init__(self, write: Callable[[Sequence[Item]], Sequence[Result]],
                 max_items: int = 64, gather: Callable[[], None] | None = None,
                 gather_every_write: bool = False) -> None:
        self._write = write
        self._max_items = max_items
        #: Called by a caller that finds nobody writing, before it writes, and with
        #: ``gather_every_write`` also by the caller a batch is handed over to: a moment for
        #: the requests already in to join the write. What queues meanwhile joins the batch.
        self._gather = gather
        self._gather_handed_over = gather if gather_every_write else None
        self._lock = threading.Lock()
        self._queue: list[_Waiter[Item, Result]] = []
        self._writing = False

    def submit(self, item: Item) -> Result:
        """Write ``item``, alone or with others, and return its result (or raise)."""
        waiter: _Waiter[Item, Result] = _Waiter(item)
        with self._lock:
            leading = not self._writing
            if leading:
                self._writing = True
            else:
                self._queue.append(waiter)
        if leading:
            self._lead([waiter], self._gather)
        else:
            waiter.wake.acquire()
            if waiter.batch is not None:
                self._lead(waiter.batch, self._gather_handed_over)
        if waiter.error is not None:
            raise waiter.error
        return waiter.result  # type: ignore[return-value]

    def _take_queued(self, batch: list[_Waiter[Item, Result]]) -> None:
        """Add what queued meanwhile (up to ``max_items`` in all) to the batch of a leader."""
        with self._lock:
            room = self._max_items - len(batch)
            batch.extend(self._queue[:room])
            del self._queue[:room]

    def _lead(self, batch: list[_Waiter[Item, Result]],
              gather: Callable[[], None] | None = None) -> None:
        """Write ``batch`` (led by its first waiter, this thread), answer it, hand over;
        ``gather`` first, if given, and what queued meanwhile joins the batch."""
        try:
            if gather is not None:
                try:
                    gather()
                finally:
                    self._take_queued(batch)
            results = self._write([waiter.item for waiter in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"write answered {len(results)} results for {len(batch)}")
            for waiter, result in zip(batch, results, strict=True):
                waiter.result = result
        except BaseException as error:  # every waiter must hear of it, then it is re-raised
            for waiter in batch:
                waiter.error = error
        finally:
            self._hand_over()
            for waiter in batch[1:]:
                waiter.wake.release()

    def _hand_over(self) -> None:
        """Let the first queued waiter lead everything queued (up to ``max_items``)."""
        with self._lock:
            batch = self._queue[:self._max_items]
            del self._queue[:self._max_items]
            if not batch:
                self._writing = False
                return
        batch[0].batch = batch
        batch[0].wake.release()


class WrittenAlone(Generic[Item, Result]):
    """Group commit switched off: each caller writes its own item at once, by itself."""

    def __init__(self, write: Callable[[Sequence[Item]], Sequence[Result]]) -> None:
        self._write = write

    def submit(self, item: Item) -> Result:
        """Write ``item`` alone and return its result (or raise)."""
        return self._write([item])[0]


#: What writes an item: with others (:class:`GroupCommit`) or alone.
Writer = GroupCommit[Item, Result] | WrittenAlone[Item, Result]
