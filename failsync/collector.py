"""Pausing Python's cyclic garbage collector while a batch builds long-lived objects.

Loading, rendering, a sync pass and the loop's start-up build hundreds of thousands of objects
that live until the command exits (or as long as the loop) and almost no cycles: every automatic
collection re-scanned them all (~1 s of a converged ``sync`` at 10,000 policies, 1.2-1.5 s of CPU
of a ``run`` start-up's 7). The pause is process-wide, so it is counted: two loops in one process
(as in tests) resume it only when both are done, and only if it ran before. When the last pause
ends, what was built is moved out of the collector's reach (``gc.freeze``): a full collection no
longer walks it all (0.15-0.5 s pauses at 10,000 policies, one inside a burst of failovers).
Refcounting still frees it; a cycle among these objects dropped later is kept, once, bounded by
what the batch held.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_paused = 0
_was_enabled = False


def pause() -> None:
    """Pause the collector until the matching ``resume``."""
    global _paused, _was_enabled
    with _lock:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1


def resume() -> None:
    """End one ``pause``; the last one freezes what was built and lets the collector run again."""
    global _paused
    with _lock:
        _paused -= 1
        if _paused == 0:
            gc.freeze()
            if _was_enabled:
                gc.enable()


@contextmanager
def paused() -> Iterator[None]:
    """The collector paused for a one-shot command's batch of work."""
    pause()
    try:
        yield
    finally:
        resume()
