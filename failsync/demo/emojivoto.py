"""The emojivoto-like application of the failover guide, and the guide's failover policy.

Owns: the objects the demo installs in each cluster (namespace ``emojivoto``; Deployments
web, emoji, voting, vote-bot; Services web-svc, emoji-svc, voting-svc with selectors), the
guide's policy (``policies/emojivoto/web-svc-failover.yaml``, shipped in the wheel as
``failsync.examples``) and where the demo takes it from. Never does: talk to a cluster (it returns plain dicts and paths).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

NAMESPACE = "emojivoto"
POLICY_NAME = "web-svc-failover"
PRIMARY = "web-svc"
FALLBACK = "web-svc-east"
#: Where the example policy lives in a checkout, relative to the working directory.
POLICY_PATH = Path("policies") / "emojivoto" / "web-svc-failover.yaml"

#: (deployment, service or None): the guide's emojivoto; vote-bot is the traffic generator.
WORKLOADS: tuple[tuple[str, str | None, int], ...] = (
    ("web", "web-svc", 80),
    ("emoji", "emoji-svc", 8080),
    ("voting", "voting-svc", 8080),
    ("vote-bot", None, 0),
)

@dataclass(frozen=True)
class PolicySource:
    """The policy file the demo runs, and how to name it to the user."""

    path: Path
    built_in: bool

    @property
    def label(self) -> str:
        """The path as the user would type it, or what the built-in copy is."""
        if self.built_in:
            return f"{POLICY_PATH} (built-in copy: the working directory has none)"
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)


def find_policy(cwd: Path, scratch: Path) -> PolicySource:
    """``./policies/emojivoto/web-svc-failover.yaml`` when the working directory has it (a
    checkout), else the built-in copy written into ``scratch`` (an installed wheel)."""
    if (cwd / POLICY_PATH).is_file():
        return PolicySource(cwd / POLICY_PATH, built_in=False)
    path = scratch / POLICY_PATH.name
    path.write_text(built_in_policy())
    return PolicySource(path, built_in=True)


def as_route_policy(source: PolicySource, scratch: Path) -> PolicySource:
    """The guide's policy with an HTTPRoute target (Gateway API v1, the Service port 80) instead of
    its TrafficSplit, written into ``scratch``: the same failover, the route of docs/routes.md."""
    document = yaml.safe_load(source.path.read_text())
    document["spec"]["target"] = {"kind": "HTTPRoute", "apiVersion": "gateway.networking.k8s.io/v1", "port": 80}
    path = scratch / "web-svc-failover-httproute.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return RoutePolicySource(path, built_in=source.built_in, derived_from=source.label)


@dataclass(frozen=True)
class RoutePolicySource(PolicySource):
    """The guide's policy turned into its HTTPRoute twin (``failsync demo --target httproute``)."""

    derived_from: str = ""

    @property
    def label(self) -> str:
        return f"{self.derived_from}, with spec.target {{kind: HTTPRoute, port: 80}}"


def built_in_policy() -> str:
    """The example policy as shipped inside the package (``policies/`` of the checkout it was built from)."""
    return resources.files("failsync.examples").joinpath(*POLICY_PATH.parts[1:]).read_text()


def objects() -> list[dict[str, Any]]:
    """Namespace, Deployments (1 replica each) and Services of emojivoto, as ``kubectl apply`` would get them."""
    items: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    for app, service, port in WORKLOADS:
        labels = {"app": app, "version": "v11"}
        items.append({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": app, "namespace": NAMESPACE, "labels": {"app.kubernetes.io/part-of": NAMESPACE}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": app, "image": f"docker.l5d.io/buoyantio/"
                                                           f"emojivoto-{app}:v11"}]}}},
        })
        if service:
            items.append({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": service, "namespace": NAMESPACE},
                "spec": {"type": "ClusterIP", "selector": {"app": app},
                         "ports": [{"name": "http", "port": port, "targetPort": port}]},
            })
    return items
