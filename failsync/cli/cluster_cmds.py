"""``failsync diff``, ``failsync sync`` and ``failsync status``: policies against a live cluster.

Thin: loading is ``failsync.loading``, the pass is ``failsync.sync.sync_once``; this
module picks the cluster from the global options, prints the report and maps it
to an exit code (diff: 0 in sync, 1 changes pending, 2 error; sync: 0 ok, 2 any
failure; status: 0).
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import click

from failsync import collector
from failsync.cli.options import POLICY_SOURCES, global_options, settings
from failsync.cli.output import EXIT_CHANGES_PENDING, EXIT_ERROR, report_error, report_errors
from failsync.core.adoption import parse_selector
from failsync.core.model import DEFAULT_ADOPT_SELECTOR, Policy
from failsync.core.pins import describe_pin
from failsync.core.rendering import Renderer
from failsync.core.targets import DEFAULT_ROUTE_SELECTOR
from failsync.errors import FailsyncError, safe_text
from failsync.kube import KubeClient
from failsync.loading import load_policies, missing_policy_paths, policy_paths
from failsync.sync import ObjectResult, Outcome, SyncReport, sync_once

if TYPE_CHECKING:
    from failsync.clusters import RemoteCluster

_paths_argument = click.argument("paths", nargs=-1, type=click.Path())


def adopt_options(function):  # type: ignore[no-untyped-def]
    """--adopt/--selector (hand-written TrafficSplits) and --adopt-routes/--route-selector (routes)."""
    function = click.option("--route-selector", default=DEFAULT_ROUTE_SELECTOR, show_default=True,
                            help="Label selector of the HTTPRoutes/GRPCRoutes --adopt-routes manages.")(function)
    function = click.option("--adopt-routes", is_flag=True,
                            help="Also manage hand-written HTTPRoutes/GRPCRoutes matching --route-selector: "
                                 "only their weights change; policy files become optional.")(function)
    function = click.option("--selector", default=DEFAULT_ADOPT_SELECTOR, show_default=True,
                            help="Label selector of the TrafficSplits --adopt treats as policies.")(function)
    return click.option("--adopt", is_flag=True,
                        help="Also treat hand-written TrafficSplits matching --selector as policies "
                             "(drop-in for linkerd-failover); policy files become optional.")(function)


def cluster_option(function):  # type: ignore[no-untyped-def]
    """--cluster NAME=CONTEXT / NAME=KUBECONFIG_FILE:CONTEXT (repeatable): clusters health is read in."""
    return click.option("--cluster", "clusters", multiple=True, metavar="NAME=[KUBECONFIG_FILE:]CONTEXT",
                        help="Also read backend health in this cluster (repeatable): a context of the kubeconfig, "
                             "or of another kubeconfig file. Linkerd mirrors of NAME are then read there.")(function)


def remote_clusters(values: Sequence[str]) -> "dict[str, RemoteCluster]":
    """A client for every --cluster (a bad value, an unreadable file or an unknown context fails here, exit 2)."""
    if not values:
        return {}
    from failsync.clusters import connect, parse_clusters  # only with --cluster (SPEC §11)

    return connect(parse_clusters(values), settings().kubeconfig_path())


def run_pass(paths: Sequence[str], *, adopt: bool, selector: str, adopt_routes: bool = False,
             route_selector: str = DEFAULT_ROUTE_SELECTOR, prune: bool = False,
             dry_run: bool = False, clusters: "Mapping[str, RemoteCluster] | None" = None,
             source: str = "files", namespace: str | None = None) -> SyncReport:
    """Load the policies, connect to the cluster of the global options and run one pass.

    ``source`` cluster|all: also the FailoverPolicy objects of the cluster (``namespace``, or every
    one); a file and an object rendering the same object is an error, and the file's policy is used.
    A missing policy path (unless a drop-in mode makes files optional) or a bad selector
    ends the command (exit 2) before the cluster is contacted.
    """
    optional = adopt or adopt_routes or source != "files"
    given = policy_paths(paths)
    missing = [] if optional else missing_policy_paths(given)
    if missing:
        report_errors(missing)
        click.get_current_context().exit(EXIT_ERROR)
    if adopt:
        parse_selector(selector)
    if adopt_routes:
        parse_selector(route_selector)
    policy_set = load_policies(given if source != "cluster" else [], allow_missing=optional)
    options = settings()
    client = KubeClient.from_kubeconfig(options.kubeconfig_path(), options.context)
    policies: Sequence[Policy] = policy_set.policies
    errors: list[FailsyncError] = list(policy_set.errors)
    if source != "files":
        from failsync.controller.policy_objects import live_policies, merge_sources

        objects, invalid = live_policies(client, namespace)
        merged, conflicts = merge_sources({p.key: p for p in objects}, {p.key: p for p in policies})
        policies = list(merged.values())
        errors += [*invalid, *(FailsyncError(f"FailoverPolicy {key}: {why}") for key, why in conflicts.items())]
    return sync_once(client, policies, renderer=Renderer(options.templates),
                     policy_errors=errors, adopt=adopt, selector=selector, adopt_routes=adopt_routes,
                     route_selector=route_selector, prune=prune, dry_run=dry_run, clusters=clusters or {})


def one_shot_pass(paths: Sequence[str], **options: Any) -> SyncReport:
    """``run_pass`` with the cyclic garbage collector paused (``failsync.collector``): a pass builds
    and decodes millions of acyclic objects (the LISTs)."""
    with collector.paused():
        return run_pass(paths, **options)


def _use_colour() -> bool:
    return not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def _colour_diff(text: str) -> str:
    lines = []
    for line in text.splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            lines.append(click.style(line, bold=True))
        elif line.startswith("+"):
            lines.append(click.style(line, fg="green"))
        elif line.startswith("-"):
            lines.append(click.style(line, fg="red"))
        elif line.startswith("@@"):
            lines.append(click.style(line, fg="cyan"))
        else:
            lines.append(line)
    return "".join(lines)


def _report_problems(report: SyncReport) -> None:
    report_errors(report.errors)
    report_errors(f"{result.key}: {result.message}" for result in report.failed)


def _exit_for_failures(report: SyncReport) -> None:
    if not report.ok:
        names = ", ".join(result.key for result in report.failed)
        parts = []
        if report.failed:
            parts.append(f"{len(report.failed)} object(s) failed: {names}")
        if report.errors:
            parts.append(f"{len(report.errors)} other error(s)")
        report_error("; ".join(parts))
        click.get_current_context().exit(EXIT_ERROR)


@click.command("diff")
@_paths_argument
@click.option("-o", "--output", type=click.Choice(["text", "json-patch", "json"]), default="text",
              show_default=True,
              help="text: a unified YAML diff per object; json-patch: the exact writes sync would send; "
                   "json: the whole report.")
@adopt_options
@cluster_option
@global_options
def diff_command(paths: tuple[str, ...], output: str, adopt: bool, selector: str, adopt_routes: bool,
                 route_selector: str, clusters: tuple[str, ...]) -> None:
    """Dry run against the live cluster: what sync would change, and nothing written.

    Only what failsync owns is compared (spec and its own labels and annotations),
    so server fields and other tools' labels never show up. Colour on a terminal
    unless NO_COLOR is set. Exit code 0 in sync, 1 changes pending, 2 error.

    \b
    Example:
      failsync --context west diff policies/
      failsync diff --adopt -o json-patch
      failsync --context west diff --cluster east=east policies/
    """
    report = one_shot_pass(paths, adopt=adopt, selector=selector, adopt_routes=adopt_routes,
                           route_selector=route_selector, dry_run=True, clusters=remote_clusters(clusters))
    if output == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
    elif output == "json-patch":
        writes: list[dict[str, Any]] = []
        for result in report.changed:
            if result.change is None:
                continue
            if result.outcome is Outcome.CREATED:
                writes.append({"namespace": result.namespace, "name": result.name, "action": "create",
                               "object": result.change.desired})
            else:
                writes.append({"namespace": result.namespace, "name": result.name, "action": "patch",
                               "contentType": "application/json-patch+json", "patch": list(result.change.patch)})
        click.echo(json.dumps(writes, indent=2))
    else:
        colour = _use_colour()
        for result in report.changed:
            if result.change is not None:
                text = result.change.text()
                click.echo(_colour_diff(text) if colour else text, nl=False, color=colour)
    _report_problems(report)
    if not report.ok:
        click.get_current_context().exit(EXIT_ERROR)
    if report.changed:
        click.get_current_context().exit(EXIT_CHANGES_PENDING)


def result_line(result: ObjectResult, *, dry_run: bool) -> str:
    """One line per object: ``namespace/name: patched (web-svc 1->0, web-svc-east 0->1)``."""
    verbs = {Outcome.CREATED: "create", Outcome.PATCHED: "patch", Outcome.PRUNED: "prune"}
    outcome = f"would {verbs[result.outcome]}" if dry_run and result.outcome in verbs else result.outcome.value
    detail = result.weight_changes if result.outcome in (Outcome.CREATED, Outcome.PATCHED) else ""
    target = result.object_target
    # TrafficSplits keep the Part 1 output; other kinds are named, so a policy that moved shows both objects.
    shown = result.key if target is None or target.kind == "TrafficSplit" else f"{target.kind} {result.key}"
    line = f"{shown}: {outcome}" + (f" ({detail})" if detail else "")
    left_in_place = result.outcome is Outcome.UNCHANGED and result.policy is None
    if (result.outcome in (Outcome.FAILED, Outcome.PRUNED) or left_in_place) and result.message:
        line += f": {result.message}"
    return safe_text(line)


@click.command("sync")
@_paths_argument
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@click.option("--prune", is_flag=True,
              help="Delete objects failsync owns whose policy is gone or now renders another kind "
                   "(never anything else).")
@adopt_options
@cluster_option
@global_options
def sync_command(paths: tuple[str, ...], dry_run: bool, prune: bool, adopt: bool, selector: str,
                 adopt_routes: bool, route_selector: str, clusters: tuple[str, ...]) -> None:
    """Apply the policies once: create missing objects, patch drifted ones.

    Writes are JSON Patches guarded by the object's resourceVersion; when another
    writer got there first, failsync re-reads and decides again. One line per
    object. Exit code 0 when every object is in sync, 2 when any failed (the
    others stay applied).

    \b
    Example:
      failsync --context west sync policies/
      failsync sync --adopt --dry-run
      failsync --context west sync --cluster east=east-kubeconfig.yaml:east policies/
    """
    report = one_shot_pass(paths, adopt=adopt, selector=selector, adopt_routes=adopt_routes,
                           route_selector=route_selector, prune=prune, dry_run=dry_run,
                           clusters=remote_clusters(clusters))
    if report.results:  # one write: click flushes after every echo, 10,000 lines were 10,000 writes
        click.echo("\n".join(result_line(result, dry_run=dry_run) for result in report.results))
    _report_problems(report)
    _exit_for_failures(report)


STATUS_COLUMNS = ("NAMESPACE", "NAME", "TARGET", "STATE", "ACTIVE", "READY", "LAST-CHANGE")
#: Shown when the report has a route: whether a parent (the mesh) accepted it.
ROUTE_COLUMN = "ACCEPTED"


def status_row(result: ObjectResult) -> tuple[str, ...]:
    """The status table cells of one object."""
    policy = result.policy
    target_of = result.object_target
    target = f"{target_of.kind}/{target_of.api_version.rpartition('/')[2]}" if target_of else "-"
    active = ",".join(s for s, w in (result.live_weights or {}).items() if w > 0) or "-"
    ready = ",".join(f"{s}={n}" for s, n in result.decision.ready.items()) if result.decision else "-"
    state = "error" if result.outcome is Outcome.FAILED else (result.state.value if result.state else "-")
    return (result.namespace, result.name, target, state, active, ready, result.last_change or "-")


def pin_cell(result: ObjectResult) -> str:
    """``web-svc-east until 2026-01-31T12:00:00Z`` when a pin is in force, else ``-``."""
    pin = result.decision.pin if result.decision else None
    return describe_pin(pin) if pin else "-"


@click.command("status")
@_paths_argument
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@adopt_options
@cluster_option
@click.option("--source", type=click.Choice(POLICY_SOURCES), default="files", show_default=True,
              help="Where policies come from: policy files, the live FailoverPolicy objects, or both.")
@click.option("-n", "--namespace", default=None,
              help="With --source cluster|all: FailoverPolicy objects of this namespace only (default: every one).")
@global_options
def status_command(paths: tuple[str, ...], output: str, adopt: bool, selector: str, adopt_routes: bool,
                   route_selector: str, clusters: tuple[str, ...], source: str, namespace: str | None) -> None:
    """Per policy: where traffic goes, ready endpoints per backend, drift, last change.

    STATE is primary, failed-over, spilling, distributed, pinned or all-down, or
    drifted when the live object differs from what sync would write. A PIN column
    appears when a policy is pinned (failsync pin). ACTIVE lists the backends that carry
    weight now. Reads only.

    \b
    Example:
      failsync --context west status policies/
      failsync status --adopt -o json
      failsync --context west status --cluster east=east
      failsync status --source cluster -n emojivoto
    """
    remote = remote_clusters(clusters)
    report = run_pass(paths, adopt=adopt, selector=selector, adopt_routes=adopt_routes,
                      route_selector=route_selector, dry_run=True, clusters=remote, source=source,
                      namespace=namespace)
    from failsync.clusters import probe

    probe(remote)
    if output == "json":
        body = report.as_dict()
        if remote:
            body["clusters"] = [cluster.as_dict() for cluster in remote.values()]
        click.echo(json.dumps(body, indent=2))
    else:
        routes = any(result.route_acceptance is not None for result in report.results)
        pins = [pin_cell(result) for result in report.results]
        pinned = any(cell != "-" for cell in pins)  # the PIN column only when something is pinned
        columns = (*STATUS_COLUMNS, *((ROUTE_COLUMN,) if routes else ()), *(("PIN",) if pinned else ()))
        rows: list[tuple[str, ...]] = [columns]
        for result, pin in zip(report.results, pins):
            row = status_row(result)
            rows.append((*row, *((_accepted(result),) if routes else ()), *((pin,) if pinned else ())))
        widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
        for row in rows:
            click.echo("   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if remote:
            click.echo("")
            _print_clusters(remote)
    for result in report.results:
        if result.route_acceptance is not None and not result.route_acceptance[0]:
            click.echo(f"warning: {result.object_target.kind if result.object_target else 'route'} {result.key}: "
                       f"{result.route_acceptance[1]}; the mesh ignores this route, so failover changes nothing",
                       err=True)
    _report_problems(report)


def _print_clusters(remote: "Mapping[str, RemoteCluster]") -> None:
    """One line per --cluster: its context, server and whether it answered (and why not)."""
    rows = [("CLUSTER", "CONTEXT", "SERVER", "REACHABLE")]
    for cluster in remote.values():
        state = "yes" if cluster.reachable else f"no: {cluster.problem}"
        rows.append((cluster.name, cluster.spec.context, cluster.client.server, state))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo("   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _accepted(result: ObjectResult) -> str:
    if result.route_acceptance is None:
        return "-"
    return "yes" if result.route_acceptance[0] else "no"


COMMANDS: list[click.Command] = [diff_command, sync_command, status_command]
