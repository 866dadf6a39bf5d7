"""What the bench measures, one function per figure group: render, one-shot sync, and the
loop (convergence, footprint, steady state, reaction latency against the floor).

Owns: the measurement procedures and the numbers they return (plain dicts, seconds and
MiB). Never does: print or format (``report``), start the sandbox (``run``).
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import requests

from bench.fixtures import BenchPolicy
from failsync.sandbox.simulator import slice_name
from bench.harness import (ROOT, WRITE_VERBS, SandboxProcess, failsync_command, proc_stat, stop_process, timed_run,
                           wait_for)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 200 values is the 198th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))]


# ------------------------------------------------------------------ render

def render_figures(policy_dir: Path, repeats: int = 3) -> dict:
    """``failsync render`` as a subprocess (interpreter start included) and in-process, split by stage."""
    from failsync.core.rendering import Renderer, to_yaml
    from failsync.loading import load_policies

    walls = []
    for _ in range(repeats):
        wall, result = timed_run(failsync_command("render", str(policy_dir)))
        if result.returncode != 0:
            raise RuntimeError(f"failsync render failed: {result.stderr[-500:]}")
        walls.append(wall)
    startup, _ = timed_run([sys.executable, "-c", "import failsync.cli"])
    started = time.perf_counter()
    policy_set = load_policies([policy_dir])
    loaded = time.perf_counter()
    renderer = Renderer()
    objects = [renderer.render(policy) for policy in policy_set.policies]
    rendered = time.perf_counter()
    text = "".join(f"---\n{to_yaml(obj)}" for obj in objects)
    emitted = time.perf_counter()
    return {"subprocess_wall_s": statistics.median(walls), "import_wall_s": startup,
            "load_s": loaded - started, "render_s": rendered - loaded, "emit_s": emitted - rendered,
            "in_process_s": emitted - started, "objects": len(objects), "bytes": len(text)}


# ------------------------------------------------------------------ one-shot sync

def _verb_counts(records: list[dict]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for record in records:
        verb = record["verb"] or record["method"].lower()
        if verb == "get" and "/namespaces/" not in record["path"]:
            verb = "discovery"
        counts[verb] += 1
    return dict(sorted(counts.items()))


def _one_shot(sandbox: SandboxProcess, command: list[str]) -> dict:
    cursor = sandbox.request_cursor()
    wall, result = timed_run(command)
    if result.returncode not in (0,):
        raise RuntimeError(f"{command[:3]} exited {result.returncode}: {result.stderr[-800:]}")
    records, _ = sandbox.requests_after(cursor)
    return {"wall_s": wall, "requests": _verb_counts(records), "total_requests": len(records),
            "lists": sorted({r["path"] for r in records if r["verb"] == "list"})}


def sync_figures(sandbox: SandboxProcess, policies: list[BenchPolicy], policy_dir: Path, floor_table: Path,
                 prefix: str) -> dict:
    """failsync sync and the floor's --once, each from scratch (no TrafficSplits) and converged."""
    expected = {p.key: p.initial_weights for p in policies}
    tools = {"failsync": failsync_command("sync", str(policy_dir), kubeconfig=sandbox.kubeconfig),
             "floor": [sys.executable, "-m", "bench.floor", "--once", "--url", sandbox.url, "--table", str(floor_table)]}
    figures = {}
    for tool, command in tools.items():
        sandbox.delete_splits(prefix)
        scratch = _one_shot(sandbox, command)
        live = sandbox.splits()
        scratch["correct"] = all(live.get(key) == weights for key, weights in expected.items())
        figures[tool] = {"scratch": scratch, "converged": _one_shot(sandbox, command)}
    return figures


# ------------------------------------------------------------------ the loop

def _converged(sandbox: SandboxProcess, expected: dict[str, dict[str, int]]) -> bool:
    live = sandbox.splits()
    return all(live.get(key) == weights for key, weights in expected.items())


def _quiet(sandbox: SandboxProcess, seconds: float, timeout: float) -> None:
    """Wait until no write request has been logged for ``seconds``."""
    cursor = sandbox.request_cursor()
    deadline = time.monotonic() + timeout
    last_write = time.monotonic()
    while time.monotonic() - last_write < seconds:
        if time.monotonic() > deadline:
            raise TimeoutError("failsync kept writing after convergence")
        time.sleep(0.25)
        records, cursor = sandbox.requests_after(cursor)
        if any(r["verb"] in WRITE_VERBS for r in records):
            last_write = time.monotonic()


class Loop:
    """``failsync run`` on one set of policies and the floor on another, both against one sandbox."""

    def __init__(self, sandbox: SandboxProcess, workdir: Path, policy_dir: Path, floor_table: Path,
                 extra_run_args: tuple[str, ...] = (), log_name: str = "failsync-run.log") -> None:
        self.sandbox = sandbox
        self.log = (workdir / log_name).open("w")
        self.started = time.perf_counter()
        self.failsync = subprocess.Popen(
            failsync_command("run", str(policy_dir), "--metrics-port", "0", *extra_run_args,
                             kubeconfig=sandbox.kubeconfig), stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.floor = subprocess.Popen([sys.executable, "-m", "bench.floor", "--url", sandbox.url,
                                       "--table", str(floor_table)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
        if self.floor.stdout.readline().strip() != "ready":
            raise RuntimeError("the floor did not start")

    def stop(self) -> dict:
        codes = {"failsync_exit": stop_process(self.failsync), "floor_exit": stop_process(self.floor)}
        self.log.close()
        return codes

    def converge(self, policies: list[BenchPolicy], timeout: float) -> dict:
        """Wait for every TrafficSplit at its initial weights and then for quiet; the footprint then."""
        expected = {p.key: p.initial_weights for p in policies}
        wait_for(lambda: self.failsync.poll() is not None or _converged(self.sandbox, expected), timeout,
                 interval=0.5, what="failsync run to converge")
        if self.failsync.poll() is not None:
            raise RuntimeError(f"failsync run exited {self.failsync.returncode}; see its log")
        converged = time.perf_counter() - self.started
        _quiet(self.sandbox, 2.0, timeout)
        stat = proc_stat(self.failsync.pid)
        return {"converge_s": converged, "rss_mb": stat.rss_mb, "hwm_mb": stat.hwm_mb, "cpu_s": stat.cpu_seconds}

    def steady(self, seconds: float) -> dict:
        """Writes (any client) and failsync's CPU over ``seconds`` of steady state."""
        cursor = self.sandbox.request_cursor()
        before = proc_stat(self.failsync.pid)
        time.sleep(seconds)  # the measurement window itself, not a wait for a condition
        after = proc_stat(self.failsync.pid)
        records, _ = self.sandbox.requests_after(cursor)
        writes = [r for r in records if r["verb"] in WRITE_VERBS]
        return {"window_s": seconds, "writes": len(writes), "requests": _verb_counts(records),
                "cpu_s": after.cpu_seconds - before.cpu_seconds, "rss_mb": after.rss_mb, "hwm_mb": after.hwm_mb,
                "write_paths": sorted({r["path"] for r in writes})[:10]}


class Flipper:
    """Kills or restores a random primary and measures, on the sandbox clock, from the
    EndpointSlice commit to the TrafficSplit PATCH landing (its logged finish time)."""

    def __init__(self, sandbox: SandboxProcess, seed: int = 7) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.random = random.Random(seed)
        self.down: set[str] = set()

    def flip(self, policy: BenchPolicy, timeout: float = 15.0) -> dict:
        kill = policy.key not in self.down
        commit_cursor = self.sandbox.commit_cursor()
        request_cursor = self.sandbox.request_cursor()
        response = self.session.patch(
            f"{self.sandbox.url}/apis/apps/v1/namespaces/{policy.namespace}/deployments/{policy.primary}/scale",
            json={"spec": {"replicas": 0 if kill else 1}}, headers={"Content-Type": "application/merge-patch+json"})
        response.raise_for_status()
        (self.down.add if kill else self.down.discard)(policy.key)
        found: dict = {}
        primary_slice = slice_name(policy.primary)

        def landed() -> bool:
            nonlocal commit_cursor, request_cursor
            commits, commit_cursor = self.sandbox.commits_after(commit_cursor)
            for commit in commits:
                if commit["namespace"] == policy.namespace and commit["name"] == primary_slice \
                        and commit["kind"] == "endpointslices":
                    found.setdefault("slice", commit["time"])
                elif commit["namespace"] == policy.namespace and commit["name"] == policy.primary:
                    found.setdefault("endpoints", commit["time"])
            patches, request_cursor = self.sandbox.requests_after(request_cursor, "PATCH")
            for record in patches:
                if record["path"] == policy.target_path and 200 <= record["status"] < 300:
                    found.setdefault("landed", record["finished"])
            return "slice" in found and "landed" in found

        try:
            wait_for(landed, timeout, interval=0.02, what=f"the {policy.kind} write for {policy.key}")
        except TimeoutError:
            return {"policy": policy.key, "kill": kill, "missed": True}
        return {"policy": policy.key, "kill": kill, "missed": False,
                "latency_s": found["landed"] - found["slice"],
                "from_endpoints_s": found["landed"] - found.get("endpoints", found["slice"])}


def reaction_figures(sandbox: SandboxProcess, failsync_policies: list[BenchPolicy],
                     floor_policies: list[BenchPolicy], events: int) -> dict:
    """``events`` flips for failsync and as many for the floor, alternating, with a short settle between."""
    flipper = Flipper(sandbox)
    samples: dict[str, list[dict]] = {"failsync": [], "floor": []}
    for index in range(2 * events):
        tool = "failsync" if index % 2 == 0 else "floor"
        policies = failsync_policies if tool == "failsync" else floor_policies
        samples[tool].append(flipper.flip(flipper.random.choice(policies)))
        time.sleep(0.05 + flipper.random.random() * 0.1)  # let the writer finish its follow-up work
    figures = {}
    for tool, results in samples.items():
        latencies = [r["latency_s"] for r in results if not r["missed"]]
        figures[tool] = {"events": len(results), "missed": sum(r["missed"] for r in results),
                         "median_s": statistics.median(latencies) if latencies else None,
                         "p99_s": percentile(latencies, 0.99) if latencies else None,
                         "max_s": max(latencies) if latencies else None,
                         "median_from_endpoints_s": statistics.median(
                             [r["from_endpoints_s"] for r in results if not r["missed"]]) if latencies else None}
    figures["samples"] = samples
    return figures
