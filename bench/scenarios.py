"""What the bench measures, one function per figure group: render, validate by layout, one-shot
sync, and the loop (convergence, footprint, steady state, reaction latency and bursts against
the floor).

Owns: the measurement procedures and the numbers they return (plain dicts, seconds and
MiB). Never does: print or format (``report``), start the sandbox (``run``).
"""

from __future__ import annotations

import bisect
import math
import random
import re
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

from bench import layouts
from bench.fixtures import BenchPolicy
from bench.harness import (ROOT, WRITE_VERBS, SandboxProcess, failsync_command, proc_stat, stop_process, timed_run,
                           wait_for)
from failsync.sandbox.simulator import slice_name


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 values is the 990th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(round(fraction * len(ordered) + 0.5)) - 1))]


def distribution(latencies: list[float]) -> dict:
    """p50 / p95 / p99 / max of latencies in seconds (None when there are none)."""
    if not latencies:
        return {"p50_s": None, "p95_s": None, "p99_s": None, "max_s": None}
    return {"p50_s": statistics.median(latencies), "p95_s": percentile(latencies, 0.95),
            "p99_s": percentile(latencies, 0.99), "max_s": max(latencies)}


# ------------------------------------------------------------------ render and validate

def render_figures(policy_dir: Path, repeats: int = 3) -> dict:
    """``failsync render`` as a subprocess (interpreter start included) and in-process, split by stage."""
    from failsync.core.rendering import Renderer, to_yaml
    from failsync.loading import load_policies

    walls = [_command_wall("render", policy_dir) for _ in range(repeats)]
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


def _command_wall(command: str, policy_dir: Path) -> float:
    wall, result = timed_run(failsync_command(command, str(policy_dir)))
    if result.returncode != 0:
        raise RuntimeError(f"failsync {command} {policy_dir} failed: {result.stderr[-500:]}")
    return wall


def layout_figures(count: int, workdir: Path, repeats: int = 5) -> dict:
    """Wall time of ``failsync render`` and ``failsync validate`` (subprocess) of ``count`` policies
    in each layout of ``bench.layouts``, median of ``repeats``."""
    figures = {}
    for layout in layouts.LAYOUTS:
        directory = layouts.write_layout(layout, count, workdir / f"layout-{layout}")
        files = sum(1 for path in directory.rglob("*") if path.is_file())
        figures[layout] = {"files": files, **{
            f"{command}_s": statistics.median(_command_wall(command, directory) for _ in range(repeats))
            for command in ("render", "validate")}}
    return figures


# ------------------------------------------------------------------ one-shot sync

def _verb_counts(records: list[dict]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for record in records:
        verb = record["verb"] or record["method"].lower()
        if verb == "get" and "/namespaces/" not in record["path"]:
            verb = "discovery"
        counts[verb] += 1
    return dict(sorted(counts.items()))


def converged_at(sandbox: SandboxProcess, name: str, cluster: str | None = None) -> float | None:
    """Server-clock time of the commit that put the last object of expectation ``name`` at its
    weights (None while one is not at them)."""
    return sandbox._get("/converged", cluster, name=name)["time"]  # type: ignore[index]


def _one_shot(sandbox: SandboxProcess, command: list[str], expectation: str | None = None) -> dict:
    cursor = sandbox.request_cursor()
    launched = time.time()  # the sandbox's clock: the same machine's wall clock
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # (children waited for: this command only)
    wall, result = timed_run(command)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    records, _ = sandbox.requests_after(cursor)
    if result.returncode not in (0,):
        slowest = sorted(records, key=lambda r: r["started"] - r["finished"])[:3]
        served = "; ".join(f"{r['method']} {r['path']} {r['status']} in {r['finished'] - r['started']:.2f}s"
                           for r in slowest)
        raise RuntimeError(f"{command[:3]} exited {result.returncode} after {len(records)} requests "
                           f"(slowest: {served or 'none'}): {result.stderr[-800:]}")
    figures = {"wall_s": wall, "cpu_s": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
               "requests": _verb_counts(records), "total_requests": len(records),
               "lists": sorted({r["path"] for r in records if r["verb"] == "list"})}
    if expectation is not None:  # from launch to the write that made the last object right, as for ``run``
        at = converged_at(sandbox, expectation)
        figures["converged_s"] = None if at is None else at - launched
    return figures


def floor_command(sandbox: SandboxProcess, table: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bench.floor", "--url", sandbox.url, "--table", str(table), *extra]


#: Launches of each tool's converged one-shot per run; the median one is its figure.
CONVERGED_SAMPLES = 5


def sync_figures(sandbox: SandboxProcess, policies: list[BenchPolicy], policy_dir: Path, floor_table: Path,
                 prefix: str) -> dict:
    """failsync sync and the floor's --once, each from scratch (no TrafficSplits) and converged
    (the median of ``CONVERGED_SAMPLES`` launches)."""
    expectation = f"sync-{prefix}"
    sandbox.expect(expectation, {p.key: p.initial_weights for p in policies})
    tools = {"failsync": failsync_command("sync", str(policy_dir), kubeconfig=sandbox.kubeconfig),
             "floor": floor_command(sandbox, floor_table, "--once")}
    figures = {}
    for tool, command in tools.items():
        sandbox.delete_splits(prefix)
        scratch = _one_shot(sandbox, command, expectation)
        scratch["correct"] = sandbox.mismatched(expectation) == 0
        converged = sorted((_one_shot(sandbox, command) for _ in range(CONVERGED_SAMPLES)),
                           key=lambda sample: sample["wall_s"])
        # The median sample: one launch of a ~0.2 s process varied by up to 2x on a shared machine.
        figures[tool] = {"scratch": scratch, "converged": {**converged[len(converged) // 2],
                                                          "samples_s": [c["wall_s"] for c in converged]}}
    return figures


# ------------------------------------------------------------------ the loop

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


def baseline_rss(sandbox: SandboxProcess, workdir: Path, starts: int = 3) -> float:
    """RSS (MiB) of ``failsync run`` with no policies once settled: the interpreter's own, with
    failsync's imports and an idle loop (the base the per-policy figure is taken above). The
    median of ``starts`` idle runs: one reading varied by up to 13 MB from start to start."""
    empty = workdir / "baseline-policies"
    empty.mkdir(exist_ok=True)
    return statistics.median(_idle_rss(sandbox, empty) for _ in range(starts))


def _idle_rss(sandbox: SandboxProcess, empty: Path) -> float:
    process = subprocess.Popen(failsync_command("run", str(empty), "--metrics-port", "0",
                                                kubeconfig=sandbox.kubeconfig),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        readings = [0.0]

        def settled() -> bool:
            readings.append(proc_stat(process.pid).rss_mb)
            return len(readings) > 8 and readings[-1] == readings[-5]  # unchanged for 1 s

        wait_for(settled, 60, interval=0.25, what="an idle failsync run to settle")
        return readings[-1]
    finally:
        stop_process(process)


class Loop:
    """``failsync run`` on one set of policies and the floor on another, both against one sandbox."""

    def __init__(self, sandbox: SandboxProcess, workdir: Path, policy_dir: Path, floor_table: Path,
                 extra_run_args: tuple[str, ...] = (), log_name: str = "failsync-run.log",
                 floor_args: tuple[str, ...] = ()) -> None:
        self.sandbox = sandbox
        self.log_path = workdir / log_name
        self.log = self.log_path.open("w")
        self.metrics_url: str | None = None
        # The floor starts first and is idle by the time failsync launches: its own start-up
        # would otherwise compete for the CPU during failsync's start-to-converged.
        self.floor = subprocess.Popen(floor_command(sandbox, floor_table, *floor_args),
                                      stdout=subprocess.PIPE, text=True, cwd=ROOT)
        if self.floor.stdout.readline().strip() != "ready":
            raise RuntimeError("the floor did not start")
        self.started = time.perf_counter()
        self.launched = time.time()  # the sandbox's clock (same machine) for ``converged_at``
        self.failsync = subprocess.Popen(
            failsync_command("run", str(policy_dir), "--metrics-port", "0", *extra_run_args,
                             kubeconfig=sandbox.kubeconfig), stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)

    def stop(self) -> dict:
        codes = {"failsync_exit": stop_process(self.failsync), "floor_exit": stop_process(self.floor)}
        self.log.close()
        return codes

    def converge(self, policies: list[BenchPolicy], timeout: float, name: str = "loop") -> dict:
        """Wait for every object at its initial weights and then for quiet; the footprint then.

        ``converge_s`` runs from launching the process to the server-side commit of the write that
        put the last object at its weights (``converged_at``), so the poll's interval adds nothing;
        ``polled_s`` is when the poll saw it."""
        self.sandbox.expect(name, {p.key: p.initial_weights for p in policies})
        # The check walks every expected object in the sandbox process, holding its GIL, while failsync's
        # writes wait on it (at 10,000 policies a poll every 0.5 s added ~2 s to start-to-converged: ~20%
        # of the sandbox's GIL samples; one-shot sync is never polled): the interval grows with the count.
        # ``converge_s`` comes from the server's commit time, so a slower poll only delays ``polled_s``.
        wait_for(lambda: self.failsync.poll() is not None or self.sandbox.mismatched(name) == 0, timeout,
                 interval=min(10.0, max(0.5, len(policies) / 5_000)), what="failsync run to converge")
        if self.failsync.poll() is not None:
            raise RuntimeError(f"failsync run exited {self.failsync.returncode}; see its log")
        polled = time.perf_counter() - self.started
        at = converged_at(self.sandbox, name)
        _quiet(self.sandbox, 2.0, timeout)
        # Start-up work goes on after the last write: the Services LIST (deferred until the start-up
        # pass is over) and a target watch's re-list when its LIST's resourceVersion left the server's
        # history during the creates (at 100,000 policies some 20 s of a core). Steady state and
        # reactions are measured once every cache is in step; how long that took is reported.
        wait_for(lambda: self.failsync.poll() is not None or self.watches_unsynced() == 0, timeout,
                 interval=0.5, what="failsync's caches to be in step")
        settled = time.perf_counter() - self.started
        stat = proc_stat(self.failsync.pid)
        return {"converge_s": polled if at is None else at - self.launched, "polled_s": polled,
                "settled_s": settled, "rss_mb": stat.rss_mb, "hwm_mb": stat.hwm_mb, "cpu_s": stat.cpu_seconds}

    def watches_unsynced(self) -> float:
        """failsync's ``failsync_watches_unsynced`` gauge, from its /metrics (inf until it serves them,
        and while a scrape goes unanswered)."""
        if self.metrics_url is None:
            served = re.search(r"serving /metrics\S* .*? on ([\d.]+):(\d+)", self.log_path.read_text())
            if served is None:
                return math.inf
            # One family, not the whole page: that walks every policy's series (seconds at 100,000
            # policies, and polled every 0.5 s it held back the very re-list being waited for).
            self.metrics_url = f"http://{served.group(1)}:{served.group(2)}/metrics?name[]=failsync_watches_unsynced"
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=5) as answer:
                found = re.search(rb"^failsync_watches_unsynced (\S+)$", answer.read(), re.MULTILINE)
        except OSError:  # URLError and timeouts included: asked again at the next poll, until the deadline
            return math.inf
        return math.inf if found is None else float(found.group(1))

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


# ------------------------------------------------------------------ reaction and bursts

class Reactor:
    """Kills or restores primaries (in-process scales of their Deployments, in the cluster their
    health is read in) and, afterwards, matches each change on the sandbox clock: from the commit
    of the flipped service's EndpointSlice to the first 2xx PATCH of the policy's object after it
    (in the written cluster). Events are fired without waiting for their writes and matched from
    the logs at the end, so polling never competes with the tools being measured."""

    def __init__(self, sandbox: SandboxProcess, flip_cluster: str | None = None, write_cluster: str | None = None,
                 seed: int = 7, down: set[str] | None = None) -> None:
        """``down``: the keys of policies whose flipped service is down now (shared between runs)."""
        self.sandbox, self.flip_cluster, self.write_cluster = sandbox, flip_cluster, write_cluster
        self.random = random.Random(seed)
        self.down = down if down is not None else set()
        self.commit_cursor = sandbox.commit_cursor(flip_cluster)
        self.request_cursor = sandbox.request_cursor(write_cluster)
        self.fired: list[tuple[str, list[BenchPolicy], float]] = []  # (tool, policies, server time)

    def fire(self, tool: str, group: Sequence[BenchPolicy], kill: bool | None = None) -> None:
        """Flip every policy of ``group`` at once (kill when up, restore when down, or as ``kill`` says)."""
        changes = []
        for policy in group:
            down = policy.key in self.down if kill is None else not kill
            changes.append((policy.namespace, policy.flip_service, 1 if down else 0))
            (self.down.discard if down else self.down.add)(policy.key)
        at = self.sandbox.scale(changes, self.flip_cluster)
        self.fired.append((tool, list(group), at))

    def collect(self, timeout: float = 15.0) -> list[tuple[str, list[tuple[float, float] | None]]]:
        """Per fired group: its tool and, per policy, (slice commit, write landed) or None if missed."""
        commits: dict[tuple[str, str], list[float]] = defaultdict(list)
        patches: dict[str, list[float]] = defaultdict(list)
        deadline = time.monotonic() + timeout
        while True:
            records, self.commit_cursor = self.sandbox.commits_after(self.commit_cursor, self.flip_cluster)
            for record in records:
                if record["kind"] == "endpointslices":
                    commits[(record["namespace"], record["name"])].append(record["time"])
            records, self.request_cursor = self.sandbox.requests_after(self.request_cursor, "PATCH",
                                                                       self.write_cluster)
            for record in records:
                if 200 <= record["status"] < 300:
                    patches[record["path"]].append(record["finished"])
            matched = [(tool, [self._match(policy, at, commits, patches) for policy in group])
                       for tool, group, at in self.fired]
            if all(m is not None for _, group in matched for m in group) or time.monotonic() > deadline:
                self.fired = []
                return matched
            time.sleep(0.2)

    @staticmethod
    def _match(policy: BenchPolicy, at: float, commits: dict, patches: dict) -> tuple[float, float] | None:
        times = commits.get((policy.namespace, slice_name(policy.flip_service)), [])
        index = bisect.bisect_left(times, at)
        if index == len(times):
            return None
        landed = patches.get(policy.target_path, [])
        after = bisect.bisect_left(landed, times[index])
        return (times[index], landed[after]) if after < len(landed) else None


def reaction_figures(sandbox: SandboxProcess, tools: dict[str, list[BenchPolicy]], events: int,
                     flip_cluster: str | None = None, write_cluster: str | None = None,
                     down: set[str] | None = None, seed: int = 7) -> dict:
    """``events`` isolated flips per tool, alternating, 20-50 ms apart: p50 / p95 / p99 per tool."""
    reactor = Reactor(sandbox, flip_cluster, write_cluster, seed, down)
    collected: dict[str, list[tuple[float, float] | None]] = {tool: [] for tool in tools}
    # A policy is not flipped again while its last change may be in flight (two quick flips of one
    # primary can fold into one reconcile, and then neither has its own write): the last 12 a tool
    # flipped, or all but one of a smaller pool, are left out of the draw.
    recent: dict[str, list[str]] = {tool: [] for tool in tools}
    for index in range(events * len(tools)):
        tool = list(tools)[index % len(tools)]
        window = min(12, len(tools[tool]) - 1)
        policy = reactor.random.choice(tools[tool])
        while window > 0 and policy.key in recent[tool][-window:]:
            policy = reactor.random.choice(tools[tool])
        recent[tool] = (recent[tool] + [policy.key])[-12:]
        reactor.fire(tool, [policy])
        time.sleep(0.02 + reactor.random.random() * 0.03)  # the gap between events, not a wait for a condition
        if index % 200 == 199 or index == events * len(tools) - 1:  # match as we go: bounded log transfers
            for fired_tool, matches in reactor.collect():
                collected[fired_tool] += matches
    figures = {}
    for tool, matches in collected.items():
        latencies = [landed - commit for commit, landed in filter(None, matches)]
        figures[tool] = {"events": len(matches), "missed": matches.count(None), **distribution(latencies)}
    return figures


def _all_up(sandbox: SandboxProcess, group: list[BenchPolicy], flip_cluster: str | None,
            write_cluster: str | None, name: str, down: set[str]) -> None:
    """Scale every flipped Deployment of ``group`` to 1 and wait for their objects at the initial weights."""
    down.difference_update(p.key for p in group)
    sandbox.expect(name, {p.key: p.initial_weights for p in group}, write_cluster)
    sandbox.scale([(p.namespace, p.flip_service, 1) for p in group], flip_cluster)
    wait_for(lambda: sandbox.mismatched(name, write_cluster) == 0, 60, interval=0.2,
             what="every burst policy back at its initial weights")


def burst_figures(sandbox: SandboxProcess, tools: dict[str, list[BenchPolicy]], size: int = 100,
                  flip_cluster: str | None = None, write_cluster: str | None = None,
                  down: set[str] | None = None) -> dict:
    """Per tool, one after the other: every primary of ``size`` policies up, then all of them
    killed at once (one in-process pass over their Deployments); the time from the first
    EndpointSlice commit to the last PATCH landing; then all restored."""
    figures, down = {}, (down if down is not None else set())
    for tool, policies in tools.items():
        group = policies[:size]
        _all_up(sandbox, group, flip_cluster, write_cluster, f"burst-{tool}", down)
        reactor = Reactor(sandbox, flip_cluster, write_cluster, down=down)
        reactor.fire(tool, group, kill=True)
        ((_, matches),) = reactor.collect(timeout=60.0)
        landed = [m for m in matches if m is not None]
        figures[tool] = {"size": len(group), "missed": len(group) - len(landed),
                         "burst_s": (max(m[1] for m in landed) - min(m[0] for m in landed)) if landed else None}
        _all_up(sandbox, group, flip_cluster, write_cluster, f"burst-{tool}", down)
    return figures
