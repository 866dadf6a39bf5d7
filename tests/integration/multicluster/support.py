"""Two-cluster scenes for the multicluster tests (SPEC §11): emojivoto's web in west and east of
one fresh namespace, and west's Linkerd mirrors of east's web-svc written as Linkerd's service
mirror writes them (gateway mode: the gateway's address; remote discovery: no Endpoints)."""
from __future__ import annotations

import itertools
from pathlib import Path

import yaml

from tests.helpers import wait_for
from tests.integration.sync.support import deployment, namespace, service

_numbers = itertools.count(1)
GATEWAY_IP = "172.20.0.9"


def ready(cluster, ns: str, name: str) -> int:
    """Ready addresses of a Service's EndpointSlices in ``cluster`` (what failsync reads)."""
    slices = [s for s in cluster.list("discovery.k8s.io/v1", "EndpointSlice", ns)
              if (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == name]
    return sum(1 for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready") is not False)


def scale(cluster, ns: str, app: str, replicas: int, service_name: str) -> None:
    cluster.apply(deployment(ns, app, app, replicas))
    wait_for(lambda: ready(cluster, ns, service_name) == replicas, message=f"{service_name} at {replicas}")


def scene(sandbox, *, west_web: int = 1, east_web: int = 1, central: bool = False, ns: str | None = None) -> str:
    """A fresh namespace (or ``ns``) in both clusters with web-svc (and web-svc-central in west if asked)."""
    ns = ns or f"mc{next(_numbers)}"
    for cluster, replicas in ((sandbox["west"], west_web), (sandbox["east"], east_web)):
        cluster.apply(namespace(ns))
        cluster.apply(service(ns, "web-svc", "web"))
        scale(cluster, ns, "web", replicas, "web-svc")
    if central:
        sandbox["west"].apply(service(ns, "web-svc-central", "central"))
        scale(sandbox["west"], ns, "central", 1, "web-svc-central")
    return ns


def mirror(cluster, ns: str, *, name: str = "web-svc-east", source_cluster: str = "east",
           mode: str = "gateway", gateway_up: bool = True) -> None:
    """A Linkerd mirror of ``source_cluster``'s web-svc in ``cluster`` (labels, annotation, endpoints)."""
    labels = {"mirror.linkerd.io/mirrored-service": "true", "mirror.linkerd.io/cluster-name": source_cluster}
    if mode == "remote-discovery":
        labels["multicluster.linkerd.io/remote-discovery"] = source_cluster
    annotations = {"mirror.linkerd.io/remote-svc-fq-name": f"web-svc.{ns}.svc.cluster.local"}
    cluster.apply({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
                   "spec": {"ports": [{"name": "http", "port": 80}]}})
    if mode == "remote-discovery":
        return
    key = "addresses" if gateway_up else "notReadyAddresses"
    cluster.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns,
                                                                         "labels": labels},
                   "subsets": [{key: [{"ip": GATEWAY_IP}], "ports": [{"name": "http", "port": 4143}]}]})
    wait_for(lambda: ready(cluster, ns, name) == (1 if gateway_up else 0) and any(
        (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == name
        for s in cluster.list("discovery.k8s.io/v1", "EndpointSlice", ns)), message=f"mirror {name} endpoints")


def policy_file(tmp_path: Path, ns: str, *, fallbacks: list[dict] | None = None, when_all_down: str = "keep",
                grace: int | None = None) -> Path:
    spec: dict = {"service": "web-svc", "fallbacks": fallbacks or [{"service": "web-svc-east"}],
                  "whenAllDown": when_all_down}
    if grace is not None:
        spec["health"] = {"remoteGraceSeconds": grace}
    path = tmp_path / f"{ns}.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "failsync.io/v1alpha1", "kind": "FailoverPolicy",
                                    "metadata": {"name": "web-svc-failover", "namespace": ns}, "spec": spec}))
    return path
