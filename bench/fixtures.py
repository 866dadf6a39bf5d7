"""The bench's workload: N failover policies, one namespace each, with two or three backends,
and the cluster objects behind them (Namespace, Services with selectors, Deployments).

Owns: naming (namespace ``<prefix>-00042``, services ``web``, ``web-east``, ``web-central``),
the policy files (many policies per file, like a real repository), the floor's policy table,
the initial TrafficSplit objects the floor patches, and the hand-written TrafficSplits of
drop-in mode. Never does: talk to a cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

SPLIT_API = "split.smi-spec.io/v1alpha2"
ROUTE_API = "gateway.networking.k8s.io/v1"
#: The target kinds the bench measures, and their REST paths.
PLURALS = {"TrafficSplit": (SPLIT_API, "trafficsplits"), "HTTPRoute": (ROUTE_API, "httproutes")}
POLICIES_PER_FILE = 100


@dataclass(frozen=True)
class BenchPolicy:
    """One policy of the bench: where it lives and its backends (primary first)."""

    namespace: str
    name: str
    backends: tuple[tuple[str, int], ...]  # (service, priority); the first is the primary
    kind: str = "TrafficSplit"  # or HTTPRoute: the GAMMA route of SPEC §10

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def primary(self) -> str:
        return self.backends[0][0]

    @property
    def target_path(self) -> str:
        """The REST path of the object this policy renders (its TrafficSplit or HTTPRoute)."""
        api_version, plural = PLURALS[self.kind]
        return f"/apis/{api_version}/namespaces/{self.namespace}/{plural}/{self.name}"

    @property
    def initial_weights(self) -> dict[str, int]:
        return {service: int(index == 0) for index, (service, _) in enumerate(self.backends)}


def make_policies(count: int, prefix: str, kind: str = "TrafficSplit") -> list[BenchPolicy]:
    """``count`` policies rendering ``kind``; every other one has a third backend on priority 2."""
    policies = []
    for index in range(count):
        backends = [("web", 1), ("web-east", 1)] + ([("web-central", 2)] if index % 2 else [])
        policies.append(BenchPolicy(f"{prefix}-{index:05d}", "web", tuple(backends), kind))
    return policies


def policy_document(policy: BenchPolicy) -> dict:
    fallbacks = [{"service": service, **({"priority": priority} if priority != 1 else {})}
                 for service, priority in policy.backends[1:]]
    target = ({"kind": "TrafficSplit", "apiVersion": SPLIT_API} if policy.kind == "TrafficSplit"
              else {"kind": policy.kind, "apiVersion": ROUTE_API, "port": 80})
    return {"apiVersion": "failsync.io/v1alpha1", "kind": "FailoverPolicy",
            "metadata": {"name": policy.name, "namespace": policy.namespace},
            "spec": {"service": policy.primary, "fallbacks": fallbacks, "target": target}}


def write_policy_files(policies: list[BenchPolicy], directory: Path) -> Path:
    """Policy files, ``POLICIES_PER_FILE`` documents each; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(policies), POLICIES_PER_FILE):
        chunk = policies[start:start + POLICIES_PER_FILE]
        text = yaml.safe_dump_all([policy_document(p) for p in chunk], sort_keys=False)
        (directory / f"policies-{start // POLICIES_PER_FILE:04d}.yaml").write_text(text)
    return directory


def cluster_objects(policy: BenchPolicy) -> list[dict]:
    """Namespace, and per backend a Deployment (1 replica) and a Service selecting it."""
    objects: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": policy.namespace}}]
    for service, _ in policy.backends:
        labels = {"app": service}
        objects.append({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": service, "namespace": policy.namespace, "labels": labels},
                        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                                 "template": {"metadata": {"labels": labels},
                                              "spec": {"containers": [{"name": "app", "image": "bench"}]}}}})
        objects.append({"apiVersion": "v1", "kind": "Service",
                        "metadata": {"name": service, "namespace": policy.namespace},
                        "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})
    return objects


def route_refs(policy: BenchPolicy, weights: dict[str, int]) -> list[dict]:
    """A route rule's backendRefs, as failsync renders them (so the floor writes the same bytes)."""
    return [{"group": "", "kind": "Service", "name": service, "port": 80, "weight": weights[service]}
            for service, _ in policy.backends]


def split_object(policy: BenchPolicy) -> dict:
    """The object the floor patches (created up front with the initial weights): a TrafficSplit, or
    for a route policy the GAMMA HTTPRoute."""
    if policy.kind == "HTTPRoute":
        return {"apiVersion": ROUTE_API, "kind": "HTTPRoute",
                "metadata": {"name": policy.name, "namespace": policy.namespace},
                "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": policy.primary, "port": 80}],
                         "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                    "backendRefs": route_refs(policy, policy.initial_weights)}]}}
    return {"apiVersion": SPLIT_API, "kind": "TrafficSplit",
            "metadata": {"name": policy.name, "namespace": policy.namespace},
            "spec": {"service": policy.primary,
                     "backends": [{"service": s, "weight": w} for s, w in policy.initial_weights.items()]}}


def adopted_split_object(policy: BenchPolicy) -> dict:
    """A hand-written TrafficSplit as linkerd-failover users have them (drop-in mode), with weight on
    the primary and also on the first fallback: ``run --adopt`` must patch each one to converge
    (one write per object and no Event, as ``run`` on policy files creates each one)."""
    weights = {service: int(index <= 1) for index, (service, _) in enumerate(policy.backends)}
    return {"apiVersion": SPLIT_API, "kind": "TrafficSplit",
            "metadata": {"name": policy.name, "namespace": policy.namespace,
                         "labels": {"failover.linkerd.io/controlled-by": "linkerd-failover"},
                         "annotations": {"failover.linkerd.io/primary-service": policy.primary}},
            "spec": {"service": policy.primary,
                     "backends": [{"service": s, "weight": w} for s, w in weights.items()]}}


def write_floor_table(policies: list[BenchPolicy], path: Path) -> Path:
    """The floor's input: per policy its object (kind, namespace, name) and backends with priorities (JSON)."""
    path.write_text(json.dumps([{"namespace": p.namespace, "name": p.name, "kind": p.kind,
                                 "backends": [list(b) for b in p.backends]} for p in policies]))
    return path
