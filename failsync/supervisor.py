"""Running the loop's long-lived threads so that none of them dies silently (kopf's
``throttled``, small).

Owns: starting a named daemon thread for a task; when the task raises, logging the
error once per distinct cause with the thread's name, counting it, waiting a delay
from the retry policy and starting the task again; and saying which threads cannot
recover (they failed again and again without running well in between), which turns
``/healthz`` to 503 so that the kubelet restarts the pod.
Never does: decide what a task does, or retry a task that returned (returning means
its work is over, e.g. at shutdown).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from failsync.backoff import DEFAULT_RETRY, RetryPolicy

log = logging.getLogger(__name__)

#: ``spawn(name, task)``: how the watchers, the lease and the event sender start their thread.
Spawn = Callable[[str, Callable[[], None]], object]

#: Failures in a row (each soon after the previous start) after which a thread counts as unrecoverable.
FAILURES_TO_GIVE_UP = 5
#: A task that ran this long before failing was healthy meanwhile: its backoff starts again.
HEALTHY_AFTER = 30.0


def plain_thread(name: str, task: Callable[[], None]) -> threading.Thread:
    """Start ``task`` in a daemon thread, unsupervised (one-shot commands and unit tests)."""
    thread = threading.Thread(target=task, name=name, daemon=True)
    thread.start()
    return thread


class Supervisor:
    """Starts and restarts the threads of one loop; ``failing`` names those that cannot recover."""

    def __init__(self, *, retry: RetryPolicy = DEFAULT_RETRY, on_error: Callable[[str], None] = lambda name: None,
                 failures_to_give_up: int = FAILURES_TO_GIVE_UP, healthy_after: float = HEALTHY_AFTER,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.retry = retry
        self.on_error = on_error
        self.failures_to_give_up = failures_to_give_up
        self.healthy_after = healthy_after
        self._clock = clock
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # name -> (failures in a row, when it last restarted)
        self.threads: list[threading.Thread] = []  # the live ones, and those ended since the last spawn

    def spawn(self, name: str, task: Callable[[], None]) -> threading.Thread:
        """Run ``task`` in a daemon thread named ``name``, restarting it after each unexpected error."""
        thread = threading.Thread(target=self._supervise, args=(name, task), name=name, daemon=True)
        with self._lock:
            # Short-lived tasks (a rescope burst, a per-namespace watch) come and go for the
            # life of the loop: keep only the threads still running, or the list grows forever.
            # (a thread another spawn listed but has not started yet is not alive: keep it too)
            self.threads = [started for started in self.threads if started.is_alive() or started.ident is None]
            self.threads.append(thread)
        thread.start()
        return thread

    def stop(self) -> None:
        """No more restarts: a task that fails from now on ends its thread."""
        self._stopping.set()

    @property
    def failing(self) -> tuple[str, ...]:
        """Threads that failed ``failures_to_give_up`` times in a row and have not run well since."""
        now = self._clock()
        with self._lock:
            return tuple(sorted(name for name, (count, restarted) in self._failures.items()
                                if count >= self.failures_to_give_up and now - restarted < self.healthy_after))

    def _supervise(self, name: str, task: Callable[[], None]) -> None:
        backoff = self.retry.backoff()
        reported: set[tuple[type, str]] = set()
        failures = 0
        while True:
            started = self._clock()
            try:
                task()
                return
            except Exception as error:  # the point of this module: report, wait, start again
                if self._stopping.is_set():
                    return
                if self._clock() - started >= self.healthy_after:
                    backoff.reset()
                    failures = 0
                failures += 1
                delay = backoff.next_delay()
                cause = (type(error), str(error))
                if cause not in reported:  # once per distinct cause: a thread failing in a loop is one line
                    if len(reported) > 100:
                        reported.clear()
                    reported.add(cause)
                    log.error("thread %s failed unexpectedly (%s: %s); restarting it in %.2fs",
                              name, type(error).__name__, error, delay, exc_info=True)
                else:
                    log.debug("thread %s failed again (%s); restarting it in %.2fs", name, error, delay)
                self.on_error(name)
                with self._lock:
                    self._failures[name] = (failures, self._clock() + delay)
                if failures == self.failures_to_give_up:
                    log.error("thread %s keeps failing (%d times in a row): /healthz reports it", name, failures)
                if self._stopping.wait(delay):
                    return
