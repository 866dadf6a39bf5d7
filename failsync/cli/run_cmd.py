"""``failsync run``: the watch-driven loop (SPEC §7).

Thin: the loop is ``failsync.controller.Controller``; this module turns options
into ``LoopOptions``, connects to the cluster of the global options, installs
SIGTERM/SIGINT handlers for a graceful shutdown and exits 0 after it.
"""

from __future__ import annotations

import logging
import signal
from typing import Sequence

import click

from failsync.cli.options import global_options, settings
from failsync.cli.output import EXIT_ERROR, report_errors
from failsync.controller import Controller, LoopOptions
from failsync.core.model import DEFAULT_ADOPT_SELECTOR
from failsync.core.rendering import Renderer
from failsync.kube import KubeClient
from failsync.kube.lease import default_identity
from failsync.loading import missing_policy_paths, policy_paths

log = logging.getLogger(__name__)


def _positive(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if value is not None and value <= 0:
        raise click.BadParameter("must be greater than 0")
    return value


@click.command("run")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--resync", default=60.0, show_default=True, type=float, callback=_positive,
              help="Seconds between full resyncs (a safety net under the watches).")
@click.option("--metrics-port", default=9095, show_default=True, type=click.IntRange(0, 65535),
              help="Port of /metrics, /healthz and /readyz (0: any free port, logged).")
@click.option("--metrics-address", default="0.0.0.0", show_default=True, help="Address to serve them on.")
@click.option("--leader-elect", is_flag=True, help="Elect a leader with a Lease; only the leader writes.")
@click.option("--lease-name", default="failsync", show_default=True, help="Name of the Lease.")
@click.option("--lease-namespace", default="default", show_default=True, help="Namespace of the Lease.")
@click.option("--lease-duration", default=15.0, show_default=True, type=float, callback=_positive,
              help="Seconds a standby waits on an unrenewed lease before taking over.")
@click.option("--renew-deadline", default=10.0, show_default=True, type=float, callback=_positive,
              help="Seconds the leader keeps trying to renew before it stops writing.")
@click.option("--retry-period", default=2.0, show_default=True, type=float, callback=_positive,
              help="Seconds between lease acquire/renew attempts.")
@click.option("--identity", default=None, help="This replica's name in the Lease (default: $POD_NAME or host_random).")
@click.option("--adopt", is_flag=True,
              help="Also manage hand-written TrafficSplits matching --selector (drop-in for linkerd-failover); "
                   "policy files become optional.")
@click.option("--selector", default=DEFAULT_ADOPT_SELECTOR, show_default=True,
              help="Label selector of the TrafficSplits --adopt manages.")
@global_options
def run_command(paths: Sequence[str], resync: float, metrics_port: int, metrics_address: str, leader_elect: bool,
                lease_name: str, lease_namespace: str, lease_duration: float, renew_deadline: float,
                retry_period: float, identity: str | None, adopt: bool, selector: str) -> None:
    """Keep every policy's TrafficSplit in line with live endpoint health, reacting to
    changes within milliseconds, until SIGTERM or SIGINT (then exit 0).

    Watches TrafficSplits, EndpointSlices (or Endpoints) and Services, and the policy
    files themselves: edits take effect while running; an invalid edit keeps the last
    good version of the policy and logs the error.

    \b
    Example:
      failsync run policies/ --metrics-port 9095
      failsync run --adopt --leader-elect --lease-namespace failsync
    """
    if leader_elect and not retry_period < renew_deadline < lease_duration:
        raise click.BadParameter("needs --retry-period < --renew-deadline < --lease-duration",
                                 param_hint="--renew-deadline")
    missing = [] if adopt else missing_policy_paths(policy_paths(paths))
    if missing:  # a typo in a path is a usage error, not a policy that is "kept" (there is none)
        report_errors(missing)
        click.get_current_context().exit(EXIT_ERROR)
    options = settings()
    _default_to_info_logging(options.verbose)
    client = KubeClient.from_kubeconfig(options.kubeconfig_path(), options.context)
    controller = Controller(client, LoopOptions(
        paths=[str(path) for path in policy_paths(paths)], resync=resync, adopt=adopt, selector=selector,
        leader_elect=leader_elect, lease_name=lease_name, lease_namespace=lease_namespace,
        lease_duration=lease_duration, renew_deadline=renew_deadline, retry_period=retry_period,
        identity=identity or default_identity(), metrics_port=metrics_port, metrics_host=metrics_address,
    ), renderer=Renderer(options.templates))

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s: finishing the write in flight and shutting down", signal.Signals(signum).name)
        controller.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    controller.run()


def _default_to_info_logging(verbose: int) -> None:
    """A long-running loop reports what it does: INFO unless -v asked for more."""
    root = logging.getLogger("failsync")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    if verbose == 0:
        root.setLevel(logging.INFO)


COMMANDS: list[click.Command] = [run_command]
