"""``failsync get``: the FailoverPolicy objects of the cluster, as ``kubectl get fop`` lists them.

Thin: one LIST through ``failsync.kube``; each object is also checked with the policy
validator (the API server's schema lacks the cross-field rules), so an object failsync
would refuse shows as ``Invalid`` even before the loop writes its status.
"""

from __future__ import annotations

import json
import time
from calendar import timegm

import click

from failsync.cli.options import global_options, settings
from failsync.controller.policy_objects import list_objects
from failsync.core.policies import parse_policies
from failsync.core.rendering import to_yaml
from failsync.kube import KubeClient

COLUMNS = ("NAMESPACE", "NAME", "PRIMARY", "ACTIVE", "STATE", "AGE")


def age(timestamp: str | None, now: float | None = None) -> str:
    """``kubectl``'s short age (``42s``, ``5m``, ``3h``, ``2d``) of an RFC 3339 timestamp."""
    if not timestamp:
        return "<unknown>"
    try:
        then = timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return "<unknown>"
    seconds = max(0, int((time.time() if now is None else now) - then))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def policy_row(obj: dict) -> tuple[str, ...]:
    """One table row: the status failsync wrote, else what the spec says (and whether it validates)."""
    metadata, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    primary = status.get("primary") or spec.get("primary") or spec.get("service") or "-"
    active = ",".join(status.get("activeBackends") or ()) or "-"
    state = status.get("state")
    if not state:
        plain = {key: obj.get(key) for key in ("apiVersion", "kind", "spec")}
        plain["metadata"] = {key: metadata.get(key) for key in ("name", "namespace", "labels") if key in metadata}
        state = "Invalid" if parse_policies(to_yaml(plain), "object").errors else "Pending"
    return (metadata.get("namespace", ""), metadata.get("name", ""), primary, active, state,
            age(metadata.get("creationTimestamp")))


@click.command("get")
@click.option("-n", "--namespace", default=None, help="Only this namespace (default: every namespace).")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table", show_default=True)
@global_options
def get_command(namespace: str | None, output: str) -> None:
    """List the live FailoverPolicy objects (kubectl get fop -A, with failsync's view).

    STATE is what failsync last wrote in the status (Primary, FailedOver, AllDown,
    Invalid), or Pending (valid, not yet reconciled) / Invalid when no status is there.
    json and yaml print the objects as a List, which validate, render, diff and sync
    read back.

    \b
    Example:
      failsync get
      failsync get -n emojivoto -o yaml > policies/live.yaml
    """
    options = settings()
    client = KubeClient.from_kubeconfig(options.kubeconfig_path(), options.context)
    items = sorted(list_objects(client, namespace),
                   key=lambda obj: ((obj.get("metadata") or {}).get("namespace", ""),
                                    (obj.get("metadata") or {}).get("name", "")))
    if output != "table":
        listed = {"apiVersion": "v1", "kind": "List", "items": list(items)}
        click.echo(json.dumps(listed, indent=2) if output == "json" else to_yaml(listed), nl=output == "json")
        return
    if not items:
        click.echo(f"No FailoverPolicies found{f' in {namespace}' if namespace else ''}.", err=True)
        return
    rows = [COLUMNS, *(policy_row(obj) for obj in items)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        click.echo("   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


COMMANDS: list[click.Command] = [get_command]
