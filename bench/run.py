"""``python -m bench``: every performance figure of failsync against the lean floor, on the sandbox.

For each policy count: start the sandbox in its own process, create the policies' namespaces,
Services and Deployments, then measure ``failsync render``, one-shot ``failsync sync`` (from
scratch and converged) against the floor's ``--once``, and ``failsync run`` (time to converge,
RSS/CPU above an idle ``run``'s, writes over a steady window, reaction latency alternating with
the floor, a burst of 100 primaries dying at once); drop-in mode (``run --adopt``); the same
workload with HTTPRoute targets on a fresh sandbox; and remote health on a two-cluster sandbox
(an EndpointSlice change in ``east``, the PATCH in ``west``). Once per invocation: ``render``
and ``validate`` of 10,000 policies in each layout people write. ``--runs N`` repeats the
reaction, burst and sync measurements and states each ratio's spread. Prints one markdown
table and writes JSON. Asserts nothing: figures, not tests.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import fixtures, report, scenarios
from bench.harness import ROOT, SandboxProcess

PARTS = ("render", "layouts", "sync", "loop", "burst", "dropin", "routes", "remote")
RESULTS = ROOT / "bench" / "results"


def _counts(values: list[str]) -> list[int]:
    return [int(part.replace("_", "").replace(",", "")) for value in values for part in value.split(",") if part]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--policies", action="append", default=[], metavar="N",
                        help="policy counts to measure (repeatable or comma-separated; default 1000 and 10000)")
    parser.add_argument("--events", type=int, default=1000, help="reaction events per tool and run (default 1000)")
    parser.add_argument("--runs", type=int, default=1,
                        help="repeat the reaction, burst and sync measurements; the table states each ratio's "
                             "spread (min-max)")
    parser.add_argument("--burst", type=int, default=100, help="primaries killed at once in the burst (default 100)")
    parser.add_argument("--floor-policies", type=int, default=200, help="policies the floor manages (default 200)")
    parser.add_argument("--layout-policies", type=int, default=10000,
                        help="policies per layout for render/validate (default 10000)")
    parser.add_argument("--remote-policies", action="append", default=[], metavar="N",
                        help="policy counts of the remote part (default 1000)")
    parser.add_argument("--steady", type=float, default=60.0, help="steady-state window in seconds (default 60)")
    parser.add_argument("--skip", action="append", default=[], choices=PARTS,
                        help="leave a part out (repeatable); 'routes' and 'remote' are whole runs on their own sandbox")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 50 policies, 10 events, 3 s steady window, small layouts and bursts")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="default bench/results/latest.json")
    parser.add_argument("--markdown", type=Path, default=None, metavar="FILE",
                        help="default bench/results/README-figures.md (latest.md with --quick)")
    parser.add_argument("--converge-timeout", type=float, default=1800.0)
    options = parser.parse_args(argv)
    options.counts = _counts(options.policies) or ([50] if options.quick else [1000, 10000])
    if options.quick:
        options.events, options.steady = min(options.events, 10), min(options.steady, 3.0)
        options.floor_policies = min(options.floor_policies, 20)
        options.layout_policies = min(options.layout_policies, max(options.counts))
    options.remote_counts = _counts(options.remote_policies) or ([min(options.counts)] if options.quick else [1000])
    options.burst = min(options.burst, options.floor_policies, min(options.counts))
    options.json = options.json or RESULTS / "latest.json"
    options.markdown = options.markdown or RESULTS / ("latest.md" if options.quick else "README-figures.md")
    options.repeats = 1 if options.quick else 5
    return options


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Workload:
    """One sandbox process and the bench's objects on it: failsync's policies (their files and
    table) and the floor's (their objects created up front), of one target kind."""

    def __init__(self, count: int, options: argparse.Namespace, prefix: str, floor_prefix: str,
                 kind: str = "TrafficSplit", remote: str | None = None) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"failsync-bench-{prefix}-{count}-"))
        clusters = ("west", remote) if remote else ("bench",)
        self.sandbox = SandboxProcess(self.workdir, clusters)
        self.prefix, self.remote = prefix, remote
        self.down: set[str] = set()  # policies whose flipped service is down now (across reaction runs)
        started = time.perf_counter()
        self.policies = fixtures.make_policies(count, prefix, kind, remote)
        self.floor_policies = fixtures.make_policies(options.floor_policies, floor_prefix, kind, remote)
        everyone = self.policies + self.floor_policies
        # The files are written while the sandbox process creates the objects (this process mostly
        # waits on it then): at 100,000 policies that takes the files' seconds off the set-up.
        with ThreadPoolExecutor(1) as writer:
            files = writer.submit(self._write_files)
            self.sandbox.apply(obj for p in everyone for obj in fixtures.cluster_objects(p))
            if remote:
                self.sandbox.apply((obj for p in everyone for obj in fixtures.remote_objects(p)), cluster=remote)
            self.sandbox.apply(fixtures.split_object(p) for p in self.floor_policies)
            self.policy_dir, self.table, self.floor_table = files.result()
        self.setup_s = time.perf_counter() - started
        _log(f"{count} {kind} policies{' (remote)' if remote else ''}: sandbox ready in {self.setup_s:.1f}s")

    def _write_files(self) -> tuple[Path, Path, Path]:
        """The policy files, failsync's table and the floor's."""
        return (fixtures.write_policy_files(self.policies, self.workdir / "policies"),
                fixtures.write_floor_table(self.policies, self.workdir / "failsync-table.json"),
                fixtures.write_floor_table(self.floor_policies, self.workdir / "floor-table.json"))

    @property
    def tools(self) -> dict[str, list]:
        return {"failsync": self.policies, "floor": self.floor_policies}

    def reactions(self, options: argparse.Namespace) -> list[dict]:
        """``--runs`` reaction measurements (both tools, alternating)."""
        flip = self.remote
        return [scenarios.reaction_figures(self.sandbox, self.tools, options.events, flip_cluster=flip,
                                           down=self.down, seed=7 + run) for run in range(options.runs)]

    def loop(self, policy_dir: Path | None = None, run_args: tuple[str, ...] = (), log_name: str = "run.log"
             ) -> scenarios.Loop:
        floor_args = ("--remote", f"{self.remote}={self.sandbox.urls[self.remote]}", "--watch", self.remote) \
            if self.remote else ()
        cluster_args = ("--cluster", f"{self.remote}={self.remote}") if self.remote else ()
        return scenarios.Loop(self.sandbox, self.workdir, policy_dir or self.policy_dir, self.floor_table,
                              extra_run_args=(*run_args, *cluster_args), log_name=log_name, floor_args=floor_args)

    def start_ups(self, runs: int, reset, policy_dir: Path | None = None, run_args: tuple[str, ...] = (),
                  name: str = "loop") -> list[float]:
        """Start-to-converged of ``runs`` extra ``failsync run`` processes, each after ``reset()``
        (which puts the objects back as they were before the first start), then stopped."""
        seconds = []
        for run in range(runs):
            reset()
            loop = self.loop(policy_dir, run_args, f"{name}-start-{run}.log")
            try:
                seconds.append(loop.converge(self.policies, 1800.0, name=name)["converge_s"])
            finally:
                loop.stop()
        reset()
        return seconds

    def close(self) -> None:
        self.sandbox.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


#: The parts measured on the TrafficSplit workload of ``measure`` (the others bring their own sandbox).
LOCAL_PARTS = ("render", "sync", "loop", "dropin")


def measure(count: int, options: argparse.Namespace, shared: dict, figures: dict) -> dict:
    """Every per-count figure of the TrafficSplit workload, on a fresh sandbox process (not set up
    when every part that reads it is skipped: at 100,000 policies that set-up takes minutes), into
    ``figures`` as each part ends, so a later part that fails leaves the earlier ones' figures."""
    figures.update({"policies": count, "floor_policies": options.floor_policies})
    if any(part not in options.skip for part in LOCAL_PARTS):
        _local_figures(count, options, shared, figures)
    if "routes" not in options.skip:
        figures["routes"] = loop_figures(Workload(count, options, "rt", "rf", kind="HTTPRoute"), options, "routes")
    return figures


def _local_figures(count: int, options: argparse.Namespace, shared: dict, figures: dict) -> dict:
    """The parts of ``LOCAL_PARTS`` that are not skipped, on one TrafficSplit workload, into ``figures``."""
    work = Workload(count, options, "fs", "fl")
    figures["setup_s"] = work.setup_s
    try:
        if "render" not in options.skip:
            figures["render"] = scenarios.render_figures(work.policy_dir, repeats=1 if options.quick else 3)
            _log(f"render: {figures['render']['subprocess_wall_s']:.2f}s")
        if "sync" not in options.skip:
            figures["sync"] = [scenarios.sync_figures(work.sandbox, work.policies, work.policy_dir, work.table, "fs-")
                               for _ in range(options.runs)]
            _log(f"sync: {figures['sync'][0]['failsync']['scratch']['wall_s']:.2f}s from scratch")
        if "loop" not in options.skip:
            if "baseline_rss_mb" not in shared:
                shared["baseline_rss_mb"] = scenarios.baseline_rss(work.sandbox, work.workdir)
                _log(f"idle failsync run: {shared['baseline_rss_mb']:.0f} MB")
            figures["baseline_rss_mb"] = shared["baseline_rss_mb"]
            # --runs: the earlier starts only converge; the last one goes on to steady state and reactions.
            starts = work.start_ups(options.runs - 1, lambda: work.sandbox.delete_splits("fs-"))
            loop = work.loop()
            try:
                figures["loop"] = loop.converge(work.policies, options.converge_timeout)
                figures["loop_starts"] = starts + [figures["loop"]["converge_s"]]
                _log(f"run converged in {figures['loop']['converge_s']:.1f}s, RSS {figures['loop']['rss_mb']:.0f} MB")
                figures["steady"] = loop.steady(options.steady)
                _log(f"steady: {figures['steady']['writes']} writes")
                figures["reaction"] = work.reactions(options)
                _log(f"reaction: {_p99s(figures['reaction'])}")
                if "burst" not in options.skip:
                    figures["burst"] = [scenarios.burst_figures(work.sandbox, work.tools, options.burst, down=work.down)
                                        for _ in range(options.runs)]
                    _log("burst: " + ", ".join(f"{t} {f['burst_s']}" for t, f in figures["burst"][0].items()))
                figures["after_reaction"] = scenarios.proc_stat(loop.failsync.pid).__dict__
            finally:
                figures["exits"] = loop.stop()
        if "dropin" not in options.skip:
            figures["dropin"] = dropin_figures(work, options)
    finally:
        work.close()
    return figures


def _p99s(runs: list[dict]) -> str:
    return "; ".join(f"p99 {tool} {_ms(f['p99_s'])}" for run in runs for tool, f in run.items())


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def loop_figures(work: Workload, options: argparse.Namespace, label: str) -> dict:
    """The loop on a workload of its own (routes, remote): one-shot sync requests (not for remote,
    nor with ``--skip sync``), ``run`` to converged and its RSS, steady writes, reaction against the floor."""
    figures: dict = {"policies": len(work.policies), "setup_s": work.setup_s}
    try:
        if not work.remote and "sync" not in options.skip:
            figures["sync"] = [scenarios.sync_figures(work.sandbox, work.policies, work.policy_dir, work.table,
                                                      f"{work.prefix}-")]
            work.sandbox.delete_splits(f"{work.prefix}-")
        loop = work.loop(log_name=f"{label}.log")
        try:
            figures["loop"] = loop.converge(work.policies, options.converge_timeout)
            _log(f"{label}: run converged in {figures['loop']['converge_s']:.1f}s, "
                 f"RSS {figures['loop']['rss_mb']:.0f} MB")
            figures["steady"] = loop.steady(min(options.steady, 10.0))
            figures["reaction"] = work.reactions(options)
            _log(f"{label} reaction: {_p99s(figures['reaction'])}")
        finally:
            figures["exits"] = loop.stop()
    finally:
        work.close()
    return figures


def dropin_figures(work: Workload, options: argparse.Namespace) -> dict:
    """``run --adopt`` over hand-written TrafficSplits (no policy files): start to converged,
    footprint and reaction against the floor, on the same workload as the policy-file loop."""
    sandbox = work.sandbox
    # Every primary up again and the floor's objects at their initial weights (earlier parts flipped
    # them). Only the flipped Deployments are scaled back: re-applying every policy's objects costs
    # the sandbox 30 s of CPU at 100,000 policies to change the few hundred the reactions left down.
    everyone = work.policies + work.floor_policies
    sandbox.scale([(p.namespace, p.flip_service, 1) for p in everyone if p.key in work.down])
    sandbox.apply(fixtures.split_object(p) for p in work.floor_policies)
    work.down.clear()

    def adopted() -> None:  # failsync's objects as hand-written, each needing its one patch
        sandbox.delete_splits("fs-")
        sandbox.apply(fixtures.adopted_split_object(p) for p in work.policies)

    empty = work.workdir / "no-policies"
    empty.mkdir(exist_ok=True)
    starts = work.start_ups(options.runs - 1, adopted, empty, ("--adopt",), "dropin")
    loop = work.loop(empty, ("--adopt",), "dropin.log")
    figures: dict = {}
    try:
        figures["loop"] = loop.converge(work.policies, options.converge_timeout, name="dropin")
        figures["loop_starts"] = starts + [figures["loop"]["converge_s"]]
        _log(f"drop-in run converged in {figures['loop']['converge_s']:.1f}s, RSS {figures['loop']['rss_mb']:.0f} MB")
        figures["reaction"] = work.reactions(options)
        _log(f"drop-in reaction: {_p99s(figures['reaction'])}")
    finally:
        figures["exits"] = loop.stop()
    return figures


def _compile_bytecode() -> None:
    """Write failsync's and the floor's bytecode once, as an installed package has it.

    Without it, an editable install under ``PYTHONDONTWRITEBYTECODE`` compiles every module
    again in each ``failsync`` process (0.15-0.5 s), which no installed failsync pays.
    """
    import compileall

    import failsync

    for package in (Path(failsync.__file__).parent, Path(__file__).parent):
        compileall.compile_dir(str(package), quiet=1)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    _compile_bytecode()
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    results: dict[int, dict] = {}
    shared: dict = {}
    for count in options.counts:
        try:
            measure(count, options, shared, results.setdefault(count, {}))
        finally:  # keep what is done if a later part or count fails
            report.write_json(results, options.json, command)
    if "remote" not in options.skip:
        for count in options.remote_counts:
            work = Workload(count, options, "rm", "rn", remote="east")
            results.setdefault(count, {"policies": count})["remote"] = loop_figures(work, options, "remote")
            report.write_json(results, options.json, command)
    if "layouts" not in options.skip:
        workdir = Path(tempfile.mkdtemp(prefix="failsync-bench-layouts-"))
        try:
            figures = scenarios.layout_figures(options.layout_policies, workdir, options.repeats)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        results.setdefault(options.layout_policies, {"policies": options.layout_policies})["layouts"] = figures
        _log("layouts: " + ", ".join(f"{k} {v['render_s']:.2f}/{v['validate_s']:.2f}s" for k, v in figures.items()))
    for figures in results.values():
        report.add_derived(figures)
    report.write_json(results, options.json, command)
    text = report.markdown(results, command.strip())
    print(text)
    options.markdown.parent.mkdir(parents=True, exist_ok=True)
    options.markdown.write_text(text)
    return 0
