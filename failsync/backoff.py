"""Exponential backoff with jitter: the one place that decides how long to wait
before trying again (watch reconnects, lease retries, requeued reconciles).

Owns: the delay sequence. Never sleeps, never does I/O; callers wait.
"""

from __future__ import annotations

import random
from typing import Callable


class Backoff:
    """Delays growing ``initial * factor**n`` up to ``maximum``, each shortened by up to
    ``jitter`` (a fraction) so many clients do not retry in step; ``reset()`` after a success.

    A server's Retry-After is honoured: the delay is never shorter than it.
    """

    def __init__(self, initial: float = 0.2, maximum: float = 10.0, *, factor: float = 2.0,
                 jitter: float = 0.5, rng: Callable[[], float] = random.random) -> None:
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
        return max(delay, retry_after) if retry_after else delay

    def reset(self) -> None:
        """Forget past failures: the next delay starts from ``initial`` again."""
        self.failures = 0


def jittered(seconds: float, fraction: float = 0.2, rng: Callable[[], float] = random.random) -> float:
    """``seconds`` stretched by up to ``fraction`` at random (periodic work that should not align)."""
    return seconds * (1 + fraction * rng())
