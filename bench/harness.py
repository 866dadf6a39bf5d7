"""Processes the bench starts and talks to: the sandbox process (``bench.launcher``),
``failsync`` commands, the floor; and /proc readings of a process's memory and CPU.

Owns: starting/stopping those processes, the admin calls to the sandbox process, and
``wait_for`` (poll with a deadline). Never does: decide what to measure (``scenarios``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import requests

ROOT = Path(__file__).resolve().parent.parent
FAILSYNC = str(Path(sys.executable).parent / "failsync")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.05, what: str = "") -> object:
    """Poll ``predicate`` until it returns something truthy; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        time.sleep(interval)


def stop_process(process: subprocess.Popen, timeout: float = 30) -> int | None:
    """SIGTERM, then SIGKILL after ``timeout``; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass(frozen=True)
class ProcStat:
    """One reading of /proc/PID: resident memory now and at peak (MiB), CPU seconds used so far."""

    rss_mb: float
    hwm_mb: float
    cpu_seconds: float


def proc_stat(pid: int) -> ProcStat:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = {line.split(":")[0]: line.split(":")[1].split() for line in status.splitlines() if ":" in line}
    stat = Path(f"/proc/{pid}/stat").read_text()
    after_name = stat[stat.rindex(")") + 2:].split()  # fields from 3 (state) on
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(after_name[11]) + int(after_name[12])) / ticks  # utime (14), stime (15)
    return ProcStat(int(fields["VmRSS"][0]) / 1024, int(fields["VmHWM"][0]) / 1024, cpu)


class SandboxProcess:
    """The sandbox in its own process (``python -m bench.launcher``) and its admin port. Every
    admin call takes ``cluster`` (default: the first, whose context is the kubeconfig's current one)."""

    def __init__(self, workdir: Path, clusters: Sequence[str] = ("bench",)) -> None:
        self.kubeconfig = workdir / "kubeconfig"
        self.process = subprocess.Popen([sys.executable, "-m", "bench.launcher", "--kubeconfig", str(self.kubeconfig),
                                         "--clusters", ",".join(clusters)],
                                        stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox process exited before it was ready")
        info = json.loads(line)
        self.urls: dict[str, str] = info["urls"]
        self.url, self.admin, self.pid = info["urls"][clusters[0]], info["admin"], info["pid"]
        self.session = requests.Session()

    def stop(self) -> None:
        stop_process(self.process)

    def _get(self, path: str, cluster: str | None = None, **params) -> object:
        response = self.session.get(self.admin + path, params={**params, **({"cluster": cluster} if cluster else {})})
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: object, cluster: str | None = None) -> object:
        response = self.session.post(self.admin + path, data=json.dumps(body),
                                     params={"cluster": cluster} if cluster else None)
        response.raise_for_status()
        return response.json()

    def apply(self, objects: Iterable[dict], batch: int = 3000, cluster: str | None = None) -> None:
        """Create-or-replace objects in-process (no request is logged), ``batch`` per admin call; the
        objects may be a generator, so a 100,000-policy workload is never in memory whole."""
        chunk: list[dict] = []
        for obj in objects:
            chunk.append(obj)
            if len(chunk) == batch:
                self._post("/apply", chunk, cluster)
                chunk = []
        if chunk:
            self._post("/apply", chunk, cluster)

    def scale(self, deployments: Sequence[tuple[str, str, int]], cluster: str | None = None) -> float:
        """Set (namespace, name, replicas) of Deployments in-process, in one go; the server time before the first."""
        return self._post("/scale", [list(d) for d in deployments], cluster)["time"]

    def expect(self, name: str, weights: dict[str, dict[str, int]], cluster: str | None = None) -> None:
        """Remember the weights of a set of objects, for ``mismatched``."""
        self._post("/expect", {"name": name, "weights": weights}, cluster)

    def mismatched(self, name: str, cluster: str | None = None) -> int:
        """How many objects of expectation ``name`` are missing or not at their weights."""
        return self._get("/mismatched", cluster, name=name)["mismatched"]

    def delete_splits(self, namespace_prefix: str, cluster: str | None = None) -> int:
        return self._post("/delete-splits", namespace_prefix, cluster)["deleted"]

    def splits(self, cluster: str | None = None) -> dict[str, dict[str, int]]:
        """Live weights by ``namespace/name``."""
        return self._get("/splits", cluster)

    def requests_after(self, cursor: int, method: str | None = None, cluster: str | None = None
                       ) -> tuple[list[dict], int]:
        """Request-log records from index ``cursor`` on (optionally one HTTP method), and the next cursor."""
        answer = self._get("/requests", cluster, after=cursor, **({"method": method} if method else {}))
        return answer["records"], answer["next"]

    def commits_after(self, cursor: int, cluster: str | None = None) -> tuple[list[dict], int]:
        """EndpointSlice commits (server time) from index ``cursor`` on, and the next cursor."""
        answer = self._get("/commits", cluster, after=cursor)
        return answer["records"], answer["next"]

    def request_cursor(self, cluster: str | None = None) -> int:
        """The request log's current length (a cursor for "from now on")."""
        return self._get("/requests", cluster, after=10 ** 12)["next"]

    def commit_cursor(self, cluster: str | None = None) -> int:
        return self._get("/commits", cluster, after=10 ** 12)["next"]


def failsync_command(*arguments: str, kubeconfig: Path | None = None) -> list[str]:
    """The console script with the global --kubeconfig option."""
    return [FAILSYNC, *(("--kubeconfig", str(kubeconfig)) if kubeconfig else ()), *arguments]


def timed_run(command: Sequence[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds of a whole command (interpreter start included) and its result."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, **kwargs)
    return time.perf_counter() - started, result
