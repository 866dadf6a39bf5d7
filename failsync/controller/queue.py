"""The work queue of the loop: keys (``namespace/name`` of a policy) waiting for a reconcile.

Owns: de-duplication (a key queued twice is reconciled once), at most one
reconcile in flight per key (a key added while it is being processed is queued
again when ``done``), delayed re-adds, and per-key retry backoff. Remembers when
a key was first queued so the loop can measure its reaction time.
Never does: reconcile anything itself.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from typing import Callable

from failsync.backoff import Backoff


class WorkQueue:
    """A thread-safe de-duplicating queue with delays and retry backoff (client-go's workqueue, small)."""

    def __init__(self, *, backoff: Callable[[], Backoff] = lambda: Backoff(0.05, 30.0),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._new_backoff = backoff
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()
        self._dirty: dict[str, float] = {}       # queued (or to be re-queued), with first-added time
        self._processing: set[str] = set()
        self._delayed: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()
        self._failures: dict[str, Backoff] = {}
        self._shutting_down = False

    def add(self, key: str) -> None:
        """Queue ``key`` unless it is already waiting; a key in flight is re-queued when done."""
        with self._cond:
            self._add_locked(key)

    def _add_locked(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty[key] = self._clock()
        if key not in self._processing:
            self._queue.append(key)
            self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` once ``delay`` seconds have passed."""
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if not self._shutting_down:
                heapq.heappush(self._delayed, (self._clock() + delay, next(self._sequence), key))
                self._cond.notify()

    def retry(self, key: str) -> float:
        """Queue ``key`` again after its next backoff delay; returns the delay."""
        with self._cond:
            backoff = self._failures.setdefault(key, self._new_backoff())
        delay = backoff.next_delay()
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """Reset the retry backoff of ``key`` (after a success)."""
        with self._cond:
            self._failures.pop(key, None)

    def get(self, timeout: float | None = None) -> tuple[str, float] | None:
        """The next key and when it was first queued (monotonic); None on shutdown or timeout."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                if self._shutting_down:
                    return None
                self._promote_due_locked()
                if self._queue:
                    key = self._queue.popleft()
                    since = self._dirty.pop(key)
                    self._processing.add(key)
                    return key, since
                waits = [w for w in (self._delayed[0][0] - self._clock() if self._delayed else None,
                                     None if deadline is None else deadline - self._clock()) if w is not None]
                if deadline is not None and deadline - self._clock() <= 0:
                    return None
                self._cond.wait(max(0.0, min(waits)) if waits else None)

    def _promote_due_locked(self) -> None:
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            self._add_locked(key)

    def done(self, key: str) -> None:
        """Mark ``key`` processed; if it was added meanwhile, it is queued again now."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty and not self._shutting_down:
                self._queue.append(key)
                self._cond.notify()
            self._cond.notify_all()

    def shutdown(self) -> None:
        """Stop handing out keys; ``get`` returns None from now on."""
        with self._cond:
            self._shutting_down = True
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no key is in flight (for a graceful shutdown); False at the timeout."""
        deadline = self._clock() + timeout
        with self._cond:
            while self._processing:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    @property
    def in_flight(self) -> int:
        """How many keys are being processed now."""
        with self._cond:
            return len(self._processing)
