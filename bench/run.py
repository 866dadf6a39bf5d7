"""``python -m bench``: the SPEC §6 figures of failsync against a floor, on the sandbox.

For each policy count: start the sandbox in its own process, create the policies' namespaces,
Services and Deployments, then measure ``failsync render``, one-shot ``failsync sync`` (from
scratch and converged) against the floor's ``--once``, and ``failsync run`` (time to converge,
RSS/CPU, writes over a steady window, reaction latency alternating with the floor); drop-in
mode (``run --adopt``); and the same workload with HTTPRoute targets on a fresh sandbox. Prints
a markdown table and writes JSON. Asserts nothing: figures, not tests.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import fixtures, report, scenarios
from bench.harness import ROOT, SandboxProcess

PARTS = ("render", "sync", "loop", "dropin", "routes")


def _counts(values: list[str]) -> list[int]:
    return [int(part.replace("_", "").replace(",", "")) for value in values for part in value.split(",") if part]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--policies", action="append", default=[], metavar="N",
                        help="policy counts to measure (repeatable or comma-separated; default 1000 and 10000)")
    parser.add_argument("--events", type=int, default=200, help="reaction events per tool (default 200)")
    parser.add_argument("--floor-policies", type=int, default=200, help="policies the floor manages (default 200)")
    parser.add_argument("--steady", type=float, default=60.0, help="steady-state window in seconds (default 60)")
    parser.add_argument("--skip", action="append", default=[], choices=PARTS,
                        help="leave a part out (repeatable); 'routes' is the whole HTTPRoute run")
    parser.add_argument("--quick", action="store_true", help="smoke run: 50 policies, 10 events, 3 s steady window")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "latest.json", metavar="FILE")
    parser.add_argument("--markdown", type=Path, default=ROOT / "bench" / "results" / "latest.md", metavar="FILE")
    parser.add_argument("--converge-timeout", type=float, default=900.0)
    options = parser.parse_args(argv)
    options.counts = _counts(options.policies) or ([50] if options.quick else [1000, 10000])
    if options.quick:
        options.events, options.steady = min(options.events, 10), min(options.steady, 3.0)
        options.floor_policies = min(options.floor_policies, 20)
    return options


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure(count: int, options: argparse.Namespace) -> dict:
    """Every figure for one policy count, on a fresh sandbox process."""
    workdir = Path(tempfile.mkdtemp(prefix=f"failsync-bench-{count}-"))
    sandbox = SandboxProcess(workdir)
    figures: dict = {"policies": count, "floor_policies": options.floor_policies}
    try:
        policies = fixtures.make_policies(count, "fs")
        floor_policies = fixtures.make_policies(options.floor_policies, "fl")
        started = time.perf_counter()
        sandbox.apply([obj for p in policies + floor_policies for obj in fixtures.cluster_objects(p)])
        sandbox.apply([fixtures.split_object(p) for p in floor_policies])
        policy_dir = fixtures.write_policy_files(policies, workdir / "policies")
        table = fixtures.write_floor_table(policies, workdir / "failsync-table.json")
        floor_table = fixtures.write_floor_table(floor_policies, workdir / "floor-table.json")
        figures["setup_s"] = time.perf_counter() - started
        _log(f"{count} policies: sandbox ready in {figures['setup_s']:.1f}s ({workdir})")
        if "render" not in options.skip:
            figures["render"] = scenarios.render_figures(policy_dir, repeats=1 if options.quick else 3)
            _log(f"render: {figures['render']['subprocess_wall_s']:.2f}s")
        if "sync" not in options.skip:
            figures["sync"] = scenarios.sync_figures(sandbox, policies, policy_dir, table, "fs-")
            _log(f"sync: {figures['sync']['failsync']['scratch']['wall_s']:.2f}s from scratch")
        if "loop" not in options.skip:
            sandbox.delete_splits("fs-")
            loop = scenarios.Loop(sandbox, workdir, policy_dir, floor_table)
            try:
                figures["loop"] = loop.converge(policies, options.converge_timeout)
                _log(f"run converged in {figures['loop']['converge_s']:.1f}s, RSS {figures['loop']['rss_mb']:.0f} MB")
                figures["steady"] = loop.steady(options.steady)
                _log(f"steady: {figures['steady']['writes']} writes")
                figures["reaction"] = scenarios.reaction_figures(sandbox, policies, floor_policies, options.events)
                figures["after_reaction"] = scenarios.proc_stat(loop.failsync.pid).__dict__
            finally:
                figures["exits"] = loop.stop()
        if "dropin" not in options.skip:
            figures["dropin"] = dropin_figures(sandbox, workdir, policies, floor_policies, floor_table, options)
    finally:
        sandbox.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if "routes" not in options.skip:
        figures["routes"] = route_figures(count, options)
    report.add_derived(figures)
    return figures


def route_figures(count: int, options: argparse.Namespace) -> dict:
    """The same workload with HTTPRoute targets (SPEC §10), on a fresh sandbox: one-shot sync requests,
    ``run`` to converged and its RSS, reaction against a floor that patches the same routes."""
    workdir = Path(tempfile.mkdtemp(prefix=f"failsync-bench-routes-{count}-"))
    sandbox = SandboxProcess(workdir)
    figures: dict = {}
    try:
        policies = fixtures.make_policies(count, "rt", kind="HTTPRoute")
        floor_policies = fixtures.make_policies(options.floor_policies, "rf", kind="HTTPRoute")
        sandbox.apply([obj for p in policies + floor_policies for obj in fixtures.cluster_objects(p)])
        sandbox.apply([fixtures.split_object(p) for p in floor_policies])
        policy_dir = fixtures.write_policy_files(policies, workdir / "policies")
        table = fixtures.write_floor_table(policies, workdir / "failsync-table.json")
        floor_table = fixtures.write_floor_table(floor_policies, workdir / "floor-table.json")
        figures["sync"] = scenarios.sync_figures(sandbox, policies, policy_dir, table, "rt-")
        _log(f"routes: sync {figures['sync']['failsync']['scratch']['wall_s']:.2f}s from scratch")
        sandbox.delete_splits("rt-")
        loop = scenarios.Loop(sandbox, workdir, policy_dir, floor_table, log_name="failsync-routes.log")
        try:
            figures["loop"] = loop.converge(policies, options.converge_timeout)
            _log(f"routes: run converged in {figures['loop']['converge_s']:.1f}s, RSS {figures['loop']['rss_mb']:.0f} MB")
            figures["steady"] = loop.steady(min(options.steady, 10.0))
            figures["reaction"] = scenarios.reaction_figures(sandbox, policies, floor_policies, options.events)
        finally:
            figures["exits"] = loop.stop()
    finally:
        sandbox.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


def dropin_figures(sandbox: SandboxProcess, workdir: Path, policies: list, floor_policies: list,
                   floor_table: Path, options: argparse.Namespace) -> dict:
    """``run --adopt`` over hand-written TrafficSplits (no policy files): start to converged,
    footprint and reaction against the floor, on the same workload as the policy-file loop."""
    sandbox.delete_splits("fs-")
    # Every primary up again and the floor's splits at their initial weights (earlier parts flipped them).
    sandbox.apply([obj for p in policies + floor_policies for obj in fixtures.cluster_objects(p)])
    sandbox.apply([fixtures.split_object(p) for p in floor_policies])
    sandbox.apply([fixtures.adopted_split_object(p) for p in policies])
    empty = workdir / "no-policies"
    empty.mkdir(exist_ok=True)
    loop = scenarios.Loop(sandbox, workdir, empty, floor_table, extra_run_args=("--adopt",),
                          log_name="failsync-dropin.log")
    figures: dict = {}
    try:
        figures["loop"] = loop.converge(policies, options.converge_timeout)
        _log(f"drop-in run converged in {figures['loop']['converge_s']:.1f}s, RSS {figures['loop']['rss_mb']:.0f} MB")
        if "loop" not in options.skip:
            figures["reaction"] = scenarios.reaction_figures(sandbox, policies, floor_policies, options.events)
    finally:
        figures["exits"] = loop.stop()
    return figures


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
    results = {}
    for count in options.counts:
        results[count] = measure(count, options)
        report.write_json(results, options.json, command)  # keep what is done if a later count fails
    text = report.markdown(results, command.strip())
    print(text)
    options.markdown.parent.mkdir(parents=True, exist_ok=True)
    options.markdown.write_text(text)
    return 0
