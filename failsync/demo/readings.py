"""What the demo reads off a cluster to show and check each step, as kubectl and the request log show it.

Owns: ready endpoints per Service of the guide's namespace, the rows of ``kubectl get svc`` (with
ready endpoints), the target's ``spec`` as YAML with the backends carrying traffic marked, weights
in words, and the reaction time of a write measured on the server's request log.
Never does: write to a cluster, wait, or print (the scenario and its console do).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import yaml

from failsync.core import health
from failsync.demo.emojivoto import NAMESPACE
from failsync.kube import ENDPOINT_SLICES, SERVICES, KubeClient


def ready_endpoints(client: KubeClient) -> dict[str, int]:
    """Ready endpoints of each Service of the guide's namespace, from its EndpointSlices."""
    counts = health.ready_by_service(slices=client.list(ENDPOINT_SLICES, namespace=NAMESPACE).items)
    return {service: count for (_namespace, service), count in counts.items()}


def service_rows(client: KubeClient) -> list[list[str]]:
    """``kubectl get svc`` of the guide's namespace, with a READY-ENDPOINTS column."""
    ready = ready_endpoints(client)
    rows = [["NAME", "TYPE", "PORT(S)", "READY-ENDPOINTS"]]
    for service in sorted(client.list(SERVICES, namespace=NAMESPACE).items, key=lambda s: s["metadata"]["name"]):
        spec = service.get("spec") or {}
        ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or ())
        name = service["metadata"]["name"]
        rows.append([name, spec.get("type", "ClusterIP"), ports, str(ready.get(name, 0))])
    return rows


def spec_lines(obj: Mapping[str, Any] | None) -> tuple[list[str], set[int]]:
    """The object's ``spec`` as YAML lines, and the indexes of the list items of backends with weight 1."""
    text = yaml.safe_dump({"spec": (obj or {}).get("spec")}, sort_keys=True, default_flow_style=False)
    lines = text.splitlines()
    heavy: set[int] = set()
    for index, line in enumerate(lines):
        if line.strip() == "weight: 1":  # the whole list item of a backend carrying weight
            start = index
            while start > 0 and not lines[start].lstrip().startswith("- "):
                start -= 1
            heavy.update(range(start, index + 1))
    return lines, heavy


def describe(weights: Mapping[str, int] | None) -> str:
    """Weights as a reader says them: ``web-svc=1, web-svc-east=0`` (or that there is no object yet)."""
    return "no object yet" if weights is None else ", ".join(f"{s}={w}" for s, w in weights.items())


def server_reaction(records: Iterable[Any], plural: str) -> float | None:
    """From the last scale of the web Deployment reaching the server to the next write of ``plural`` landing.

    Measured from the scale's arrival (``records`` is a sandbox cluster's request log): the endpoints
    change inside that request, so the loop's write can land before the scale's own answer has been sent.
    """
    records = list(records)
    scales = [r for r in records if r.method == "PATCH" and r.path.endswith("/deployments/web/scale")]
    if not scales:
        return None
    arrived = scales[-1].started
    writes = [r for r in records if r.method in ("PATCH", "POST") and f"/{plural}" in r.path
              and r.status < 300 and r.finished >= arrived]
    return min(r.finished for r in writes) - arrived if writes else None
