"""``failsync run``: the watch-driven loop (SPEC §7).

Thin: the loop is ``failsync.controller.Controller``; this module turns options
into ``LoopOptions`` (whose defaults are the options' defaults), connects to the
cluster of the global options, and owns the signals: the first SIGTERM/SIGINT asks
for a graceful shutdown, a second is harmless, a third exits at once; whatever
happens, the process exits within ``--shutdown-timeout``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Sequence

import click

from failsync.cli.cluster_cmds import cluster_option, remote_clusters
from failsync.cli.options import POLICY_SOURCES, global_options, log_handler, settings
from failsync.cli.output import EXIT_ERROR, report_errors
from failsync.cli.signals import FORCED_EXIT, ShutdownSignals
from failsync.controller import Controller, LoopOptions
from failsync.core.rendering import Renderer
from failsync.kube import KubeClient
from failsync.kube.events import SHUTDOWN_BUDGET
from failsync.kube.lease import default_identity
from failsync.loading import missing_policy_paths, policy_paths
from failsync.observability import DEFAULT_METRICS_PORT

log = logging.getLogger(__name__)
DEFAULTS = LoopOptions(identity="")


def _positive(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if value is not None and value <= 0:
        raise click.BadParameter("must be greater than 0")
    return value


@click.command("run")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--resync", default=DEFAULTS.resync, show_default=True, type=float, callback=_positive,
              help="Seconds between full resyncs (a safety net under the watches).")
@click.option("--metrics-port", default=DEFAULT_METRICS_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port of /metrics, /healthz and /readyz (0: any free port, logged).")
@click.option("--metrics-address", default=None,
              help="Address to serve them on [default: 0.0.0.0 in a pod (a service account is mounted), "
                   "else 127.0.0.1].")
@click.option("--leader-elect", is_flag=True, help="Elect a leader with a Lease; only the leader writes.")
@click.option("--lease-name", default=DEFAULTS.lease_name, show_default=True, help="Name of the Lease.")
@click.option("--lease-namespace", default=DEFAULTS.lease_namespace, show_default=True,
              help="Namespace of the Lease.")
@click.option("--lease-duration", default=DEFAULTS.lease_duration, show_default=True, type=float,
              callback=_positive, help="Seconds a standby waits on an unrenewed lease before taking over.")
@click.option("--renew-deadline", default=DEFAULTS.renew_deadline, show_default=True, type=float,
              callback=_positive,
              help="Seconds the leader keeps trying to renew before it stops writing; it never writes "
                   "with a renewal older than this (it re-reads the Lease first).")
@click.option("--retry-period", default=DEFAULTS.retry_period, show_default=True, type=float,
              callback=_positive, help="Seconds between lease acquire/renew attempts.")
@click.option("--identity", default=None, help="This replica's name in the Lease (default: $POD_NAME or host_random).")
@click.option("--adopt", is_flag=True,
              help="Also manage hand-written TrafficSplits matching --selector (drop-in for linkerd-failover); "
                   "policy files become optional.")
@click.option("--selector", default=DEFAULTS.selector, show_default=True,
              help="Label selector of the TrafficSplits --adopt manages.")
@click.option("--adopt-routes", is_flag=True,
              help="Also manage hand-written HTTPRoutes/GRPCRoutes matching --route-selector: only their "
                   "weights change; policy files become optional.")
@click.option("--route-selector", default=DEFAULTS.route_selector, show_default=True,
              help="Label selector of the routes --adopt-routes manages.")
@click.option("--shutdown-timeout", default=DEFAULTS.shutdown_timeout, show_default=True, type=float,
              callback=_positive,
              help=f"Seconds from SIGTERM to exit, however slow the API server: the write in flight "
                   f"finishes, queued work is abandoned, Events get {SHUTDOWN_BUDGET:g}s, the lease is "
                   f"released. Keep it under the pod's terminationGracePeriodSeconds.")
@cluster_option
@click.option("--source", type=click.Choice(POLICY_SOURCES), default="files", show_default=True,
              help="Where policies come from: policy files, FailoverPolicy objects in the cluster, or both "
                   "(a file and an object rendering the same object: the file wins, both are reported).")
@click.option("-n", "--namespace", "watch_namespace", default=None,
              help="With --source cluster|all: watch FailoverPolicy objects in this namespace only "
                   "(default: every namespace).")
@global_options
def run_command(paths: Sequence[str], resync: float, metrics_port: int, metrics_address: str | None,
                leader_elect: bool, lease_name: str, lease_namespace: str, lease_duration: float,
                renew_deadline: float, retry_period: float, identity: str | None, adopt: bool, selector: str,
                adopt_routes: bool, route_selector: str, shutdown_timeout: float, clusters: tuple[str, ...],
                source: str, watch_namespace: str | None) -> None:
    """Keep every policy's TrafficSplit or route in line with live endpoint health, reacting to
    changes within milliseconds, until SIGTERM or SIGINT (then exit 0).

    Watches the policies' target kinds, EndpointSlices (or Endpoints) and Services, and the policy
    files themselves: edits take effect while running; an invalid edit keeps the last
    good version of the policy and logs the error.

    On SIGTERM or SIGINT it exits within --shutdown-timeout; a second signal changes
    nothing, a third exits at once (code 1).

    \b
    Example:
      failsync run policies/ --metrics-port 9095
      failsync run --adopt --leader-elect --lease-namespace failsync
      failsync run --adopt-routes --route-selector failsync.io/failover=enabled
      failsync --context west run policies/ --cluster east=east
      failsync run --source cluster --leader-elect
    """
    if leader_elect and not retry_period < renew_deadline < lease_duration:
        raise click.BadParameter("needs --retry-period < --renew-deadline < --lease-duration",
                                 param_hint="--renew-deadline")
    optional = adopt or adopt_routes or source != "files"  # objects from the cluster may be all there is
    missing = [] if optional else missing_policy_paths(policy_paths(paths))
    if missing:  # a typo in a path is a usage error, not a policy that is "kept" (there is none)
        report_errors(missing)
        click.get_current_context().exit(EXIT_ERROR)
    options = settings()
    _default_to_info_logging(options.verbose)
    client = KubeClient.from_kubeconfig(options.kubeconfig_path(), options.context)
    remote = remote_clusters(clusters)
    controller_type: type[Controller] = Controller
    extra: dict[str, object] = {}
    if source != "files":
        from failsync.controller.policy_objects import ClusterController

        controller_type, extra = ClusterController, {"source": source, "namespace": watch_namespace}
    controller = controller_type(client, LoopOptions(
        paths=[str(path) for path in policy_paths(paths)], resync=resync, adopt=adopt, selector=selector,
        adopt_routes=adopt_routes, route_selector=route_selector,
        leader_elect=leader_elect, lease_name=lease_name, lease_namespace=lease_namespace,
        lease_duration=lease_duration, renew_deadline=renew_deadline, retry_period=retry_period,
        identity=identity or default_identity(), metrics_port=metrics_port, metrics_host=metrics_address,
        shutdown_timeout=shutdown_timeout,
    ), renderer=Renderer(options.templates), clusters=remote, **extra)  # type: ignore[arg-type]
    serve(controller, shutdown_timeout)


def serve(controller: Controller, shutdown_timeout: float) -> None:
    """Run ``controller`` until SIGTERM/SIGINT; exit within ``shutdown_timeout`` of the first signal."""
    signals = ShutdownSignals()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            controller.run()
        except BaseException as error:  # re-raised on the main thread (e.g. a busy metrics port)
            failure.append(error)
        finally:
            signals.notify()

    signals.install()
    loop = threading.Thread(target=run, name="failsync-run", daemon=True)
    loop.start()
    while loop.is_alive() and not signals.count:
        signals.wait(1.0)
    if signals.count:
        log.info("received %s: finishing the write in flight and shutting down (at most %.0fs)",
                 signal.Signals(signals.last).name, shutdown_timeout)
        deadline = time.monotonic() + shutdown_timeout
        controller.stop()
        while loop.is_alive() and time.monotonic() < deadline:  # a third signal exits from its handler
            signals.wait(deadline - time.monotonic())
        if loop.is_alive():
            log.error("shutdown did not finish within %.0fs: exiting now", shutdown_timeout)
            logging.shutdown()
            os._exit(FORCED_EXIT)
    loop.join()
    if failure:
        raise failure[0]


def _default_to_info_logging(verbose: int) -> None:
    """A long-running loop reports what it does: INFO unless -v asked for more."""
    root = logging.getLogger("failsync")
    if not root.handlers:
        root.addHandler(log_handler("text"))
    if verbose == 0:
        root.setLevel(logging.INFO)


COMMANDS: list[click.Command] = [run_command]
