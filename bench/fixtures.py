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
#: libyaml's emitter when PyYAML has it: 100,000 policies are written in seconds, not a minute.
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
#: The service a remote policy's first fallback is read as, in its health cluster.
REMOTE_SERVICE = "web"


@dataclass(frozen=True)
class BenchPolicy:
    """One policy of the bench: where it lives and its backends (primary first)."""

    namespace: str
    name: str
    backends: tuple[tuple[str, int], ...]  # (service, priority); the first is the primary
    kind: str = "TrafficSplit"  # or HTTPRoute: the GAMMA route of SPEC §10
    #: A remote policy (the ``remote`` part): its primary is down, its first fallback's health is
    #: read in this cluster (service ``web`` there), its second fallback (priority 2) is local.
    remote: str | None = None

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
        """The weights once converged: the primary's, or for a remote policy its remote fallback's."""
        active = 1 if self.remote else 0
        return {service: int(index == active) for index, (service, _) in enumerate(self.backends)}

    @property
    def flip_service(self) -> str:
        """The Deployment (and Service) a reaction event scales: the primary, or the remote ``web``."""
        return REMOTE_SERVICE if self.remote else self.primary


def make_policies(count: int, prefix: str, kind: str = "TrafficSplit", remote: str | None = None
                  ) -> list[BenchPolicy]:
    """``count`` policies rendering ``kind``; every other one has a third backend on priority 2
    (every remote one has it: it is where traffic goes while the remote fallback is down)."""
    policies = []
    for index in range(count):
        third = bool(index % 2) or remote is not None
        backends = [("web", 1), ("web-east", 1)] + ([("web-central", 2)] if third else [])
        policies.append(BenchPolicy(f"{prefix}-{index:05d}", "web", tuple(backends), kind, remote))
    return policies


def policy_document(policy: BenchPolicy) -> dict:
    fallbacks = [{"service": service, **({"priority": priority} if priority != 1 else {})}
                 for service, priority in policy.backends[1:]]
    if policy.remote:
        fallbacks[0]["health"] = {"cluster": policy.remote, "service": REMOTE_SERVICE}
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
        text = yaml.dump_all([policy_document(p) for p in chunk], Dumper=DUMPER, sort_keys=False)
        (directory / f"policies-{start // POLICIES_PER_FILE:04d}.yaml").write_text(text)
    return directory


def deployment_object(namespace: str, service: str, replicas: int = 1) -> dict:
    labels = {"app": service}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": service, "namespace": namespace, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "bench"}]}}}}


def service_object(namespace: str, name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def cluster_objects(policy: BenchPolicy) -> list[dict]:
    """Namespace, and per backend a Deployment (1 replica) and a Service selecting it. For a remote
    policy (in the written cluster): the primary's Deployment at 0 replicas, the remote fallback's
    Service with no Deployment (no local endpoints: its health is the remote count alone)."""
    objects: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": policy.namespace}}]
    for index, (name, _) in enumerate(policy.backends):
        if not (policy.remote and index == 1):
            objects.append(deployment_object(policy.namespace, name, 0 if policy.remote and index == 0 else 1))
        objects.append(service_object(policy.namespace, name))
    return objects


def remote_objects(policy: BenchPolicy) -> list[dict]:
    """What a remote policy's health cluster holds: the namespace and the ``web`` it reads (1 replica)."""
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": policy.namespace}},
            deployment_object(policy.namespace, REMOTE_SERVICE), service_object(policy.namespace, REMOTE_SERVICE)]


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
    """The floor's input: per policy its object (kind, namespace, name) and backends with priorities,
    a remote-read backend with where its health lives (cluster, namespace, service) (JSON)."""
    def backend(policy: BenchPolicy, index: int) -> list:
        name, priority = policy.backends[index]
        if policy.remote and index == 1:
            return [name, priority, [policy.remote, policy.namespace, REMOTE_SERVICE]]
        return [name, priority]

    path.write_text(json.dumps([{"namespace": p.namespace, "name": p.name, "kind": p.kind,
                                 "backends": [backend(p, i) for i in range(len(p.backends))]} for p in policies]))
    return path
