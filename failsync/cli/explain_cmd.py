"""``failsync explain POLICY``: the inputs of one policy's decision on the live cluster, and each rule.

Thin: ``failsync.explaining.explain`` gathers and decides (a dry run); this module prints it
as text or JSON. Reads only. Exit code 0, 2 for an error (unknown policy, cluster unreachable).
"""

from __future__ import annotations

import json

import click

from failsync.cli.options import global_options, settings
from failsync.cli.output import report_errors
from failsync.explaining import Explanation, explain
from failsync.kube import KubeClient
from failsync.loading import load_policies, policy_paths
from failsync.pinning import find_policy


def explanation_lines(found: Explanation) -> list[str]:
    """The text of ``failsync explain``."""
    policy, result = found.policy, found.result
    decision = result.decision
    where = f" ({policy.location.file}:{policy.location.line})" if policy.location else ""
    lines = [f"policy {policy.key}{where} on cluster {found.cluster}",
             f"object {policy.target.kind} {policy.target.api_version} {policy.key}: "
             + ("exists" if found.live is not None else "missing (sync would create it)"),
             "", f"inputs (health source {found.source}):"]
    header = ("BACKEND", "TIER", "READY", "TOTAL", "HEALTHY", "LIVE", "DESIRED")
    live = found.live_weights or {}
    rows = [header]
    for backend in policy.backends:
        service = backend.service
        total = "-" if found.total is None else str(found.total.get(service, 0))
        healthy = "-" if decision is None else ("yes" if service in decision.healthy else "no")
        rows.append((service, str(backend.priority), str(found.ready.get(service, 0)), total, healthy,
                     str(live.get(service, "-")), "-" if decision is None else str(decision.weights.get(service))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines += ["  " + "   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.append("  state on the object: " + (", ".join(f"{k}={v}" for k, v in found.state.items()) or "none"))
    if found.pin_problem:
        lines.append(f"  the pin cannot be read and is ignored: {found.pin_problem}")
    lines += ["", "rules, in order:"]
    for number, check in enumerate(decision.trace if decision else (), 1):
        lines.append(f"  {number}. {check.rule}: {'FIRED' if check.fired else 'no'} - {check.note}")
    lines.append("")
    if decision is None:
        lines.append(f"no decision: {result.message}")
    else:
        lines.append(f"decision: {decision.rule.value}: {decision.reason}")
        lines.append("in sync" if not result.changed else
                     f"pending: sync would {'create' if found.live is None else 'patch'} it "
                     f"({result.weight_changes or 'annotations only'})")
    return lines


@click.command("explain")
@click.argument("policy")
@click.option("-f", "--policies", "paths", multiple=True, type=click.Path(),
              help="Policy files or directories (default ./policies).")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@global_options
def explain_command(policy: str, paths: tuple[str, ...], output: str) -> None:
    """Why POLICY's traffic is where it is: the inputs on the live cluster and each rule.

    Shows ready and total endpoints per backend, the live and desired weights, the
    annotations carrying state (primary-healthy-since, primary-unhealthy-since) and
    the pin, then every rule in the order the decision takes them and whether it
    fired. Reads only. Exit code 0, 2 on error.

    \b
    Example:
      failsync --context west explain emojivoto/web-svc-failover
      failsync explain web-svc-failover -f policies/ -o json
    """
    policy_set = load_policies(policy_paths(paths))
    report_errors(policy_set.errors)
    chosen = find_policy(policy_set.policies, policy)  # an unknown name exits 2 (FailsyncGroup)
    options = settings()
    found = explain(KubeClient.from_kubeconfig(options.kubeconfig_path(), options.context), chosen)
    if output == "json":
        click.echo(json.dumps(found.as_dict(), indent=2))
    else:
        click.echo("\n".join(explanation_lines(found)))


COMMANDS: list[click.Command] = [explain_command]
