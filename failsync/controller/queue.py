"""The work queue of the loop: keys (``namespace/name`` of a policy) waiting for a reconcile.

Owns: de-duplication (a key queued twice is reconciled once), at most one
reconcile in flight per key (a key added while it is being processed is queued
again when ``done``), three lanes (keys from health and policy changes and retries
first, then keys from changes of the policies' own objects, then keys of a periodic
resync: an endpoint change never waits behind a resync of every policy, nor behind
the echoes of a start-up's 100,000 writes and the status others write on them),
delayed re-adds, and per-key retry backoff. Remembers
when a key was first queued so the loop can measure its reaction time, and tells
(``when_drained``) when no urgent key is left waiting or in flight.
Never does: reconcile anything itself.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from typing import Callable, Iterable

from failsync.backoff import Backoff, RetryPolicy, clamped


#: The lanes, most urgent first: health, policy and retry keys; keys from changes of the
#: policies' own objects (mostly echoes of failsync's writes); keys of a periodic resync.
URGENT, OBJECT, RESYNC = 0, 1, 2


class WorkQueue:
    """A thread-safe de-duplicating queue with three lanes, delays and retry backoff (client-go's workqueue, small).

    A key waiting in a lane that is added again in a more urgent one moves there, and its
    reaction time counts from then (a health event overtakes the resync or the echo it
    arrived during, and is timed from itself).
    """

    def __init__(self, *, retry: RetryPolicy = RetryPolicy(0.05, 30.0),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._retry = retry
        lock = threading.RLock()
        self._cond = threading.Condition(lock)  # workers wait on it for keys
        # ``wait_idle`` waits on its own condition (same lock): notifying the workers' one woke each
        # idle worker at the end of a burst's reconciles to find nothing (py-spy --gil: a fifth of
        # the samples holding the GIL in a 100-policy burst were Condition.notify).
        self._idle = threading.Condition(lock)
        # Lane deques may hold stale entries (a key moved to the urgent lane, or handed out from
        # another entry); ``_lane`` is the truth: the lane of every queued key.
        self._lanes: tuple[deque[str], ...] = (deque(), deque(), deque())
        self._lane: dict[str, int] = {}
        self._dirty: dict[str, float] = {}       # queued (or to be re-queued), with first-added time
        self._processing: set[str] = set()
        self._delayed: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()
        self._failures: dict[str, Backoff] = {}
        self._shutting_down = False
        self._urgent = 0  # keys waiting in the urgent lane (its deque may also hold stale entries)
        self._urgent_flight: set[str] = set()  # keys in flight that were handed out from the urgent lane
        self._on_drained: list[Callable[[], None]] = []

    def add(self, key: str, *, lane: int = URGENT) -> None:
        """Queue ``key`` in ``lane`` unless it is already waiting there or in a more urgent one;
        a key in flight is re-queued when done."""
        with self._cond:
            self._add_locked(key, lane)

    def add_all(self, keys: Iterable[str], *, lane: int = URGENT) -> None:
        """``add`` every key under one lock acquisition."""
        with self._cond:
            for key in keys:
                self._add_locked(key, lane)

    def _add_locked(self, key: str, lane: int) -> None:
        if self._shutting_down:
            return
        if key in self._dirty:
            if lane < self._lane[key]:  # promote: the stale entry in the other lane is skipped later
                self._lane[key] = lane
                self._dirty[key] = self._clock()  # what it waits for now happened now
                self._urgent += lane == URGENT
                if key not in self._processing:
                    self._lanes[lane].append(key)
                    self._cond.notify()
            return
        self._dirty[key] = self._clock()
        self._lane[key] = lane
        self._urgent += lane == URGENT
        if key not in self._processing:
            self._lanes[lane].append(key)
            self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` once ``delay`` seconds have passed (clamped to ``backoff.MAX_DELAY``, so any
        delay a policy can produce, even 10^10 s or NaN, is safe for the workers)."""
        delay = clamped(delay)
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
            backoff = self._failures.setdefault(key, self._retry.backoff())
        delay = backoff.next_delay()
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """Reset the retry backoff of ``key`` (after a success)."""
        if key not in self._failures:  # the common case needs no lock: nothing to reset
            return
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
                key = self._pop_locked()
                if key is not None:
                    since = self._dirty.pop(key)
                    if self._lane.pop(key) == URGENT:
                        self._urgent -= 1
                        self._urgent_flight.add(key)
                    self._processing.add(key)
                    return key, since
                waits = [w for w in (self._delayed[0][0] - self._clock() if self._delayed else None,
                                     None if deadline is None else deadline - self._clock()) if w is not None]
                if deadline is not None and deadline - self._clock() <= 0:
                    return None
                self._cond.wait(clamped(min(waits)) if waits else None)

    def _pop_locked(self) -> str | None:
        for lane, entries in enumerate(self._lanes):
            while entries:
                key = entries.popleft()
                if self._lane.get(key) == lane and key not in self._processing:
                    return key
        return None

    def _promote_due_locked(self) -> None:
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            self._add_locked(key, URGENT)

    def done(self, key: str) -> None:
        """Mark ``key`` processed; if it was added meanwhile, it is queued again now. When no urgent
        key waits and none is in flight, the ``when_drained`` callbacks run (on this thread)."""
        with self._cond:
            self._processing.discard(key)
            self._urgent_flight.discard(key)
            if key in self._dirty and not self._shutting_down:
                self._lanes[self._lane[key]].append(key)
                self._cond.notify()
            if not self._processing:  # only ``wait_idle`` waits for this; workers need no wake-up
                self._idle.notify_all()
            drained = not self._urgent_flight and (not self._urgent or self._shutting_down)
        if drained:
            for callback in self._on_drained:
                callback()

    def when_drained(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after each ``done`` that leaves no urgent key waiting or in flight
        (the end of a burst of health events; object and resync keys may still wait or be in flight)."""
        self._on_drained.append(callback)

    @property
    def urgent(self) -> int:
        """How many keys wait in the urgent lane (watch events, retries), not counting those in flight."""
        return self._urgent

    @property
    def urgent_in_flight(self) -> int:
        """How many keys handed out from the urgent lane are being processed now."""
        return len(self._urgent_flight)

    def shutdown(self) -> None:
        """Stop handing out keys; ``get`` returns None from now on (the ``when_drained`` callbacks run
        now, or after the last ``done`` of the keys in flight)."""
        with self._cond:
            self._shutting_down = True
            self._cond.notify_all()
            self._idle.notify_all()
            drained = not self._urgent_flight
        if drained:  # nothing will be done any more: whatever waits for the queue to drain goes now
            for callback in self._on_drained:
                callback()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no key is in flight (for a graceful shutdown); False at the timeout."""
        deadline = self._clock() + timeout
        with self._cond:
            while self._processing:
                remaining = deadline - self._clock()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    def __len__(self) -> int:
        """How many keys wait to be handed out (a key in flight that was added again counts once done)."""
        with self._cond:
            return len(self._dirty) - sum(1 for key in self._processing if key in self._dirty)

    @property
    def in_flight(self) -> int:
        """How many keys are being processed now."""
        with self._cond:
            return len(self._processing)
