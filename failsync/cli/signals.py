"""Signals that end a long-running command (``run``, ``sandbox``) without deadlocking.

Owns: counting SIGTERM/SIGINT from a handler that takes no lock, waking the main thread
through the wakeup pipe, and a third signal exiting at once (``FORCED_EXIT``).
"""

from __future__ import annotations

import os
import select
import signal
from typing import Any

#: Exit code when shutdown was cut short (a third signal, or the shutdown deadline passed).
FORCED_EXIT = 1


class ShutdownSignals:
    """Counts SIGTERM/SIGINT without taking a lock in the handler (a handler that set a
    ``threading.Event`` could deadlock on a second signal arriving inside ``Event.set``).

    A signal may be delivered to any thread, so the main thread never blocks where only a
    signal to itself would wake it: it waits on the wakeup pipe the C-level handler writes to.
    """

    def __init__(self) -> None:
        self.count = 0
        self.last = 0
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._previous: dict[int, Any] = {}
        self._previous_fd = -1

    def install(self) -> None:
        """Handle SIGTERM and SIGINT from now on (``restore`` puts the previous handlers back)."""
        self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore(self) -> None:
        """Put back the handlers ``install`` replaced."""
        signal.set_wakeup_fd(self._previous_fd)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, _frame: object) -> None:
        self.count += 1
        self.last = signum
        if self.count >= 3:
            os.write(2, b"failsync: third signal: exiting now\n")
            os._exit(FORCED_EXIT)

    def notify(self) -> None:
        """Wake ``wait`` without a signal (the loop ended by itself)."""
        try:
            os.write(self._write, b"\0")
        except BlockingIOError:  # the pipe is full: ``wait`` wakes anyway
            pass

    def wait(self, timeout: float) -> None:
        """Block until a signal, ``notify`` or ``timeout`` seconds (handlers run on return)."""
        readable, _, _ = select.select([self._read], [], [], max(0.0, timeout))
        if readable:
            try:
                os.read(self._read, 512)
            except BlockingIOError:
                pass
