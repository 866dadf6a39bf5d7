"""``failsync demo``: replay the guide's emojivoto failover on the sandbox (SPEC §5).

Thin: the scenario is ``failsync.demo``; this module parses options, wires ``--step``
(Enter between steps) and ``--keep-running`` (serve until Ctrl-C/SIGTERM, then stop
cleanly) and turns a failed step into exit code 1.
"""

from __future__ import annotations

import signal
import sys
import threading

import click

from failsync.cli.options import global_options, settings
from failsync.demo import Console, Demo, DemoOptions, DemoResult, StepFailed, run_demo
from failsync.demo.emojivoto import NAMESPACE, POLICY_NAME
from failsync.demo.scenario import CLUSTER_OPTION


def _wait_for_enter(prompt: str) -> None:
    click.echo(prompt, nl=False)
    sys.stdin.readline()  # EOF (no terminal) just continues


def _serve_until_signal(console: Console, demo: Demo, result: DemoResult) -> None:
    """``--keep-running``: show how to look around, then block until SIGINT/SIGTERM."""
    kubeconfig = demo.sandbox.kubeconfig
    kubectl = f"kubectl --kubeconfig {kubeconfig} --context west -n {NAMESPACE}"
    console.echo()
    console.title("The sandboxes and the loop keep running. Try:")
    for line in (f"{kubectl} get {demo.short}/{POLICY_NAME} -o yaml",
                 f"{kubectl} get {demo.short} -w                      # in a second terminal",
                 f"{kubectl} scale deploy/web --replicas=1",
                 f"{kubectl} get events --field-selector involvedObject.kind={demo.kind}",
                 f"kubectl --kubeconfig {kubeconfig} --context east -n {NAMESPACE} scale deploy/web --replicas=1",
                 f"kubectl --kubeconfig {kubeconfig} --context east -n linkerd-multicluster "
                 f"scale deploy/linkerd-gateway --replicas=1",
                 f"failsync --kubeconfig {kubeconfig} --context west status {demo.policy.path} "
                 f"--cluster {CLUSTER_OPTION}"):
        console.command(line)
    console.echo(f"kubeconfig: {kubeconfig}")
    console.note("Ctrl-C or SIGTERM stops everything.")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_args: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.echo("stopping the loop and the sandboxes")


@click.command("demo")
@click.option("--keep-running", is_flag=True,
              help="Leave the sandboxes and the loop up afterwards; print the kubeconfig and kubectl "
                   "commands to try; stop on Ctrl-C or SIGTERM.")
@click.option("--step", "step_by_step", is_flag=True, help="Pause for Enter between steps.")
@click.option("--target", type=click.Choice(["trafficsplit", "httproute"]), default="trafficsplit",
              show_default=True,
              help="What the guide's policy renders: the guide's SMI TrafficSplit, or a Gateway API HTTPRoute "
                   "(a GAMMA route with web-svc as parent) with the same failover.")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds each step may wait for the cluster before it counts as failed.")
@global_options
def demo_command(keep_running: bool, step_by_step: bool, target: str, timeout: float) -> None:
    """Replay the Linkerd multicluster failover guide on a local sandbox: no cluster needed.

    Starts clusters west and east in-process, installs emojivoto in both, exports
    web-svc from east (web-svc-east appears in west), runs the loop with
    policies/emojivoto/web-svc-failover.yaml (a built-in copy when the working directory
    has none), then scales web to 0 and back, showing the TrafficSplit, vote-bot traffic
    per backend and the measured reaction time; last, web at 0 in both clusters: the
    gateway mirror still looks ready, but the loop reads east (as --cluster east=east) and
    does not fail over into it; then east's gateway stops. Exit 0 when every step behaved
    as the guide says, 1 naming the step that did not.

    \b
    Example:
      failsync demo
      failsync demo --step --keep-running
      failsync demo --target httproute
    """
    console = Console(pause=_wait_for_enter if step_by_step else None)
    options = DemoOptions(timeout=timeout, templates=settings().templates, target=target)
    after = (lambda demo, result: _serve_until_signal(console, demo, result)) if keep_running else None
    result = run_demo(console, options, after=after)
    console.echo()
    if not result.passed:
        raise StepFailed(f"step {result.failed_step}/{result.steps} ({result.failed_title}) did not behave as "
                         f"the guide says: {result.message}")
    reactions = ", ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in result.reactions.items())
    console.title(f"All {result.steps} steps behaved as the guide says ({reactions}).")


COMMANDS: list[click.Command] = [demo_command]
