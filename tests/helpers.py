"""Small test helpers shared by every test package: polling with a deadline,
reading a blocking line stream (a watch, a `kubectl -w` process) with a deadline,
stopping a long-running process with SIGTERM (never leaving it behind), running the loop's
controller in a thread for the length of a block, a kubeconfig nobody answers, a path the
policy loader may not read, and the
Linkerd guide's TrafficSplit (one fixture file, verbatim from the guide), and the smallest
valid policy.

Never sleeps waiting for something to happen: every wait is a poll that ends at a
deadline with a clear AssertionError.
"""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml

T = TypeVar("T")


class _Loop(Protocol):
    """What ``running_loop`` needs of a controller (``Controller``, ``ClusterController``)."""

    synced: bool

    def run(self) -> object: ...

    def stop(self) -> object: ...


L = TypeVar("L", bound=_Loop)

_END = object()

#: The guide's TrafficSplit as the guide applies it, then as the guide shows it after failover.
GUIDE_TRAFFIC_SPLIT_FILE = Path(__file__).parent / "fixtures" / "guide-trafficsplit.yaml"
#: The first document alone, as text: what a user pipes into `kubectl apply -f -`.
GUIDE_TRAFFIC_SPLIT = GUIDE_TRAFFIC_SPLIT_FILE.read_text().split("\n---\n")[0]


#: The smallest valid policy (web-svc failing over to web-svc-east); ``.format(name=...)`` names it.
MINIMAL_POLICY = """\
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: {name}
  namespace: emojivoto
spec:
  service: web-svc
  fallbacks:
    - service: web-svc-east
"""


def guide_traffic_split(*, name: str | None = None, namespace: str | None = None,
                        labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The guide's TrafficSplit as an object, with its name, namespace or labels replaced."""
    split = yaml.safe_load(GUIDE_TRAFFIC_SPLIT)
    metadata = split["metadata"]
    metadata["name"] = name or metadata["name"]
    metadata["namespace"] = namespace or metadata["namespace"]
    if labels is not None:
        metadata["labels"] = labels
    return split


def wait_for(predicate: Callable[[], T], timeout: float = 5, interval: float = 0.02,
             message: str = "") -> T:
    """Call `predicate` until it returns something truthy and return that; fail at `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", "condition")
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {value!r}")
        time.sleep(interval)  # poll interval, not a wait for an event


@contextmanager
def reaped(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Run the block with ``process``; whatever happens in it, the process is not left running."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def unreachable_kubeconfig(directory: Path) -> Path:
    """A kubeconfig (written in ``directory``) whose server nobody answers: any request fails with "cannot reach"."""
    path = directory / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\ncurrent-context: x\n"
                    "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
                    "users: [{name: u, user: {token: t}}]\n"
                    "contexts: [{name: x, context: {cluster: c, user: u}}]\n")
    return path


def deny_to_the_loader(monkeypatch: Any, path: Path, call: str) -> None:
    """Make ``os.<call>`` (``open`` or ``scandir``, as failsync's policy loader calls them) fail with
    EACCES on ``path``: as root every file and directory is readable, so the failure is made there."""
    import failsync.loading as loading

    real = getattr(os, call)

    def guarded(target: Any, *args: Any) -> Any:
        if Path(target) == path:
            raise PermissionError(13, "Permission denied", str(target))
        return real(target, *args)

    monkeypatch.setattr(loading.os, call, guarded)


@contextmanager
def running_loop(controller: L, *, sync_timeout: float = 15, stop_timeout: float = 30) -> Iterator[L]:
    """``controller.run()`` in a thread: yields once its caches have synced, then stops it gracefully
    and fails if it has not shut down within ``stop_timeout`` seconds."""
    thread = threading.Thread(target=controller.run, name="failsync-run", daemon=True)
    thread.start()
    try:
        wait_for(lambda: controller.synced, timeout=sync_timeout,
                 message="the loop's caches to sync")
        yield controller
    finally:
        controller.stop()
        thread.join(stop_timeout)
        assert not thread.is_alive(), "the loop did not shut down"


def exit_code_after_sigterm(process: subprocess.Popen, timeout: float) -> int:
    """Send SIGTERM (what Kubernetes sends a pod) and wait up to ``timeout`` seconds for the exit code."""
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


class LineStream:
    """Consumes a blocking iterable of lines in a daemon thread; tests take lines with deadlines."""

    def __init__(self, lines: Iterable[str | bytes]) -> None:
        self._queue: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        self.ended = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._pump, args=(lines,), daemon=True)
        self._thread.start()

    def _pump(self, lines: Iterable[str | bytes]) -> None:
        try:
            for line in lines:
                self._queue.put(line.decode() if isinstance(line, bytes) else line)
        except BaseException as exc:  # a closed socket ends the stream; keep why
            self.error = exc
        finally:
            self._queue.put(_END)

    def next(self, timeout: float = 5) -> str | None:
        """The next line, or None when the stream has ended; fail if nothing comes within `timeout`."""
        if self.ended:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout}s; lines so far: {self.seen!r}") from None
        if item is _END:
            self.ended = True
            return None
        self.seen.append(item)
        return item

    def until(self, predicate: Callable[[str], bool], timeout: float = 5) -> str:
        """Skip lines until one satisfies `predicate` and return it; fail at the deadline or at the end."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"stream ended before a matching line; lines: {self.seen!r}")
            if predicate(line):
                return line

    def wait_end(self, timeout: float = 5) -> list[str]:
        """Read until the stream ends (within `timeout`) and return the lines read on the way."""
        deadline = time.monotonic() + timeout
        rest: list[str] = []
        while True:
            line = self.next(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                return rest
            rest.append(line)
