"""Exponential backoff with jitter: the one place that decides how long to wait
before trying again (watch reconnects, lease retries, requeued reconciles).

Owns: the delay sequence. Never sleeps, never does I/O; callers wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


def uniform() -> float:
    """A random float in [0, 1): the default jitter source."""
    import random  # here: a one-shot command that never retries does not pay for it (~2 ms of start-up)

    return random.random()


class Backoff:
    """Delays growing ``initial * factor**n`` up to ``maximum``, each shortened by up to
    ``jitter`` (a fraction) so many clients do not retry in step; ``reset()`` after a success.

    A server's Retry-After is honoured: the delay is never shorter than it.
    """

    def __init__(self, initial: float = 0.2, maximum: float = 10.0, *, factor: float = 2.0,
                 jitter: float = 0.5, rng: Callable[[], float] = uniform) -> None:
        if initial <= 0 or maximum < initial or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("backoff needs 0 < initial <= maximum, factor >= 1, 0 <= jitter < 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._rng = rng
        self.failures = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        """The delay before the next attempt; counts one more failure."""
        base = min(self.maximum, self.initial * self.factor ** min(self.failures, 64))
        self.failures += 1
        delay = base * (1 - self.jitter * self._rng())
        return clamped(max(delay, retry_after) if retry_after else delay)

    def reset(self) -> None:
        """Forget past failures: the next delay starts from ``initial`` again."""
        self.failures = 0


def jittered(seconds: float, fraction: float = 0.2, rng: Callable[[], float] = uniform) -> float:
    """``seconds`` stretched by up to ``fraction`` at random (periodic work that should not align)."""
    return seconds * (1 + fraction * rng())


#: No computed wait is longer than this (a day): a policy's holdSeconds of 10^10 must not
#: reach ``Condition.wait``, which raises OverflowError past ``threading.TIMEOUT_MAX``.
MAX_DELAY = 86400.0


def clamped(seconds: float, maximum: float = MAX_DELAY) -> float:
    """``seconds`` within [0, ``maximum``] (NaN counts as ``maximum``): safe for any wait or timer."""
    if seconds != seconds:  # NaN
        return maximum
    return min(max(seconds, 0.0), maximum)


@dataclass(frozen=True)
class RetryPolicy:
    """How the loop waits before trying again, as one value handed to the watchers, the work
    queue, the sync engine and the lease (lightkube's error handler, as data).

    ``backoff()`` gives a fresh per-task sequence; ``delay(attempt)`` the stateless n-th delay.
    Whether an error is worth retrying at all is decided by its class
    (``failsync.kube.errors.is_temporary``), never here.
    """

    initial: float = 0.05
    maximum: float = 5.0
    factor: float = 2.0
    jitter: float = 0.5

    def backoff(self, rng: Callable[[], float] = uniform) -> Backoff:
        """A new delay sequence following this policy."""
        return Backoff(self.initial, self.maximum, factor=self.factor, jitter=self.jitter, rng=rng)

    def delay(self, attempt: int, retry_after: float | None = None,
              rng: Callable[[], float] = uniform) -> float:
        """The delay before attempt ``attempt + 1`` (``attempt`` counts failures so far, from 1)."""
        backoff = self.backoff(rng)
        backoff.failures = max(0, attempt - 1)
        return clamped(backoff.next_delay(retry_after))


#: The loop's one retry policy: 50 ms doubling to 5 s, jittered by up to half.
DEFAULT_RETRY = RetryPolicy()
