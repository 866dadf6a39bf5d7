"""``python -m bench.profile``: where ``failsync run`` spends CPU and memory at N policies.

Samples the running process with py-spy (``pip install -e '.[bench]'``) in three phases —
start-up to converged, reaction (failsync-only flips), steady state — and measures what
the converged loop's memory holds with tracemalloc (the same Controller, run in-process).
Writes ``bench/results/profile-notes.md`` (top functions by own and inclusive samples,
per thread) and the raw py-spy files next to it.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import fixtures, scenarios
from bench.harness import ROOT, SandboxProcess, proc_stat, wait_for

PY_SPY = str(Path(sys.executable).parent / "py-spy")
#: Leaves where a thread blocks (py-spy's idle detection misses them in containers): counted as waiting.
WAITING = ("Condition.wait", "SocketIO.readinto", "_PollLikeSelector.select", "do_poll", "Event.wait",
           "Condition.__enter__", "Thread.join", "select (", "sleep (")
RESULTS = ROOT / "bench" / "results"


@dataclass
class Profile:
    """py-spy raw (collapsed) stacks summarised: own and inclusive samples per function, per thread."""

    samples: int = 0
    waiting: int = 0
    waiting_on: Counter = field(default_factory=Counter)
    own: Counter = field(default_factory=Counter)
    inclusive: Counter = field(default_factory=Counter)
    threads: Counter = field(default_factory=Counter)
    innermost: Counter = field(default_factory=Counter)  # own time charged to the innermost failsync frame


def _function(frame: str) -> str:
    """``name (path/file.py:12)`` -> ``name (file.py)`` with the package path kept short."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def summarise(raw: str) -> Profile:
    profile = Profile()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        thread, _, frames_text = stack.partition(";")
        frames = [_function(f) for f in frames_text.split(";") if f]
        if frames and any(marker in frames[-1] for marker in WAITING):
            profile.waiting += count
            ours = [f for f in frames if "(failsync/" in f]
            profile.waiting_on[f"{ours[-1] if ours else frames[0]} → {frames[-1]}"] += count
            continue
        profile.samples += count
        profile.threads[thread.split(": ", 1)[-1].rstrip("0123456789-") or thread] += count
        if frames:
            profile.own[frames[-1]] += count
            ours = [f for f in frames if "(failsync/" in f]
            if ours:
                profile.innermost[f"{ours[-1]} → {frames[-1]}" if ours[-1] != frames[-1] else ours[-1]] += count
            for function in set(frames):
                profile.inclusive[function] += count
    return profile


def markdown(title: str, profile: Profile, top: int = 15) -> str:
    def table(counter: Counter, label: str, total: int | None = None) -> list[str]:
        rows = [f"| {label} | samples | share |", "|---|---|---|"]
        for function, count in counter.most_common(top):
            rows.append(f"| `{function}` | {count} | {100 * count / max(total or profile.samples, 1):.1f}% |")
        return rows

    return "\n".join([f"### {title}", "",
                      f"{profile.samples} samples running, {profile.waiting} more blocked (on a lock, the "
                      f"network or a timer). Below: blocked samples (share of all), then running samples only.", "",
                      *table(profile.waiting_on, "blocked: innermost failsync frame → wait",
                             profile.samples + profile.waiting), "",
                      *table(profile.threads, "thread"), "", *table(profile.own, "own time (leaf)"), "",
                      *table(profile.innermost, "innermost failsync frame → leaf"), "",
                      *table(profile.inclusive, "inclusive"), ""])


class Recorder:
    """``py-spy record`` attached to a pid until ``stop()`` (SIGINT makes it write the file)."""

    def __init__(self, pid: int, output: Path, rate: int = 250) -> None:
        if not Path(PY_SPY).exists():
            raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
        self.output = output
        self.process = subprocess.Popen([PY_SPY, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate),
                                         "--threads", "--output", str(output)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # py-spy needs a moment to attach; there is nothing to poll for

    def stop(self) -> Profile:
        self.process.send_signal(signal.SIGINT)
        _, errors = self.process.communicate(timeout=60)
        if not self.output.exists():
            raise RuntimeError(f"py-spy wrote nothing: {errors[-500:]}")
        return summarise(self.output.read_text())


def _by_failsync_frame(stats: list) -> list[tuple[str, tuple[int, int]]]:
    """Live allocations charged to the innermost failsync frame of their traceback, with its caller:
    a cache's helpers (``_interned`` recursing) show under the cache, not under ``json``."""
    totals: dict[str, list[int]] = {}
    for stat in stats:
        frames = [f for f in stat.traceback if "/failsync/" in f.filename]  # oldest first
        where = " ← ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames[-2:])) or "(outside failsync)"
        entry = totals.setdefault(where, [0, 0])
        entry[0] += stat.size_diff
        entry[1] += stat.count_diff
    return sorted(((k, (v[0], v[1])) for k, v in totals.items()), key=lambda item: -item[1][0])


def memory_breakdown(sandbox: SandboxProcess, policy_dir: Path, policies: list, top: int = 15) -> str:
    """tracemalloc of the same Controller run in this process until converged: what holds memory."""
    from failsync.controller import Controller, LoopOptions
    from failsync.kube import KubeClient

    tracemalloc.start(12)
    baseline = tracemalloc.take_snapshot()
    controller = Controller(KubeClient.from_kubeconfig(str(sandbox.kubeconfig), None),
                            LoopOptions(paths=[str(policy_dir)], metrics_port=None))
    thread = threading.Thread(target=controller.run, daemon=True)
    thread.start()
    # Every TrafficSplit created (not at its initial weights: the reaction pass left some primaries down).
    keys = {p.key for p in policies}
    wait_for(lambda: controller.synced and keys <= sandbox.splits().keys(), 900, 0.5, "in-process converge")
    scenarios._quiet(sandbox, 2.0, 300)
    snapshot = tracemalloc.take_snapshot()
    peak = tracemalloc.get_traced_memory()[1]
    controller.stop()
    thread.join(60)
    tracemalloc.stop()
    total = sum(s.size_diff for s in snapshot.compare_to(baseline, "filename"))
    lines = [f"### Memory held by the converged loop (tracemalloc, in-process, {len(policies):,} policies)", "",
             f"Python allocations live after converging: {total / 2**20:.1f} MiB "
             f"({total / 1024 / max(len(policies), 1):.2f} KB per policy); at their peak while "
             f"converging: {peak / 2**20:.1f} MiB. RSS follows the peak: CPython gives little of it back.", "",
             "| allocated at | MiB | blocks |", "|---|---|---|"]
    for stat in snapshot.compare_to(baseline, "lineno")[:top]:
        frame = stat.traceback[0]
        lines.append(f"| `{_function(f'x ({frame.filename}:{frame.lineno})')[3:-1]}:{frame.lineno}` | "
                     f"{stat.size_diff / 2**20:.1f} | {stat.count_diff} |")
    lines += ["", "| innermost failsync frame (and its caller) | MiB | blocks |", "|---|---|---|"]
    for where, (size, count) in _by_failsync_frame(snapshot.compare_to(baseline, "traceback"))[:top]:
        lines.append(f"| `{where}` | {size / 2**20:.2f} | {count} |")
    lines += ["", "| grouped by file | MiB |", "|---|---|"]
    for stat in snapshot.compare_to(baseline, "filename")[:10]:
        lines.append(f"| `{_function(f'x ({stat.traceback[0].filename}:0)')[3:-1]}` | {stat.size_diff / 2**20:.1f} |")
    return "\n".join(lines + [""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100, help="failsync-only flips sampled (default 100)")
    parser.add_argument("--steady", type=float, default=20.0)
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    parser.add_argument("--top", type=int, default=15, help="rows of each memory table (default 15)")
    parser.add_argument("--memory-only", action="store_true", help="only the tracemalloc pass (no py-spy phases)")
    parser.add_argument("--kind", choices=sorted(fixtures.PLURALS), default="TrafficSplit",
                        help="the target kind the policies render (default TrafficSplit)")
    parser.add_argument("--output", type=Path, default=RESULTS / "profile-notes.md")
    options = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="failsync-profile-"))
    sandbox = SandboxProcess(workdir)
    sections = [f"# Profile of `failsync run` at {options.policies:,} policies", "",
                f"Command: `python -m bench.profile --policies {options.policies} --events {options.events}`", ""]
    try:
        policies = fixtures.make_policies(options.policies, "fs", options.kind)
        floor_policies = fixtures.make_policies(2, "fl", options.kind)
        sandbox.apply([obj for p in policies + floor_policies for obj in fixtures.cluster_objects(p)])
        sandbox.apply([fixtures.split_object(p) for p in floor_policies])
        policy_dir = fixtures.write_policy_files(policies, workdir / "policies")
        floor_table = fixtures.write_floor_table(floor_policies, workdir / "floor.json")
        if options.memory_only:
            sections.append(memory_breakdown(sandbox, policy_dir, policies, options.top))
            return _write(sections, options.output)
        loop = scenarios.Loop(sandbox, workdir, policy_dir, floor_table)
        try:
            recorder = Recorder(loop.failsync.pid, RESULTS / "profile-converge.raw")
            converged = loop.converge(policies, 900)
            sections.append(markdown(f"Start-up to converged ({converged['converge_s']:.1f} s, creates every "
                                     f"TrafficSplit; RSS {converged['rss_mb']:.0f} MB)", recorder.stop()))
            recorder = Recorder(loop.failsync.pid, RESULTS / "profile-steady.raw")
            time.sleep(options.steady)  # the sampled window itself
            sections.append(markdown(f"Steady state ({options.steady:.0f} s)", recorder.stop()))
            recorder = Recorder(loop.failsync.pid, RESULTS / "profile-reaction.raw")
            reaction = scenarios.reaction_figures(sandbox, {"failsync": policies}, options.events)["failsync"]
            stat = proc_stat(loop.failsync.pid)
            sections.append(markdown(
                f"Reaction path ({options.events} flips, median {1000 * (reaction['p50_s'] or 0):.1f} ms "
                f"under the profiler; RSS {stat.rss_mb:.0f} MB)", recorder.stop()))
        finally:
            loop.stop()
        if not options.no_memory:
            sandbox.delete_splits("fs-")
            sections.append(memory_breakdown(sandbox, policy_dir, policies, options.top))
    finally:
        sandbox.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return _write(sections, options.output)


def _write(sections: list[str], output: Path) -> int:
    output.write_text("\n".join(sections))
    print("\n".join(sections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
