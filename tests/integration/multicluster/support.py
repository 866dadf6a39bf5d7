"""Two-cluster scenes for the multicluster tests (SPEC §11): emojivoto's web in west and east of
one fresh namespace; west's Linkerd mirrors of east's web-svc written as Linkerd's service
mirror writes them (gateway mode: the gateway's address; remote discovery: no Endpoints), or
made by the sandbox's own service mirror (``export``); the loop with ``--cluster east=east``."""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import yaml

from failsync.clusters import connect, parse_clusters
from failsync.controller import Controller, LoopOptions
from failsync.kube import KubeClient
from tests.helpers import running_loop, wait_for
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


def export(sandbox, ns: str, *, ready: int = 1) -> None:
    """Label east's web-svc exported: the sandbox's service mirror makes web-svc-east in west."""
    east = sandbox["east"]
    svc = east.get("v1", "Service", ns, "web-svc")
    svc["metadata"].setdefault("labels", {})["mirror.linkerd.io/exported"] = "true"
    east.apply(svc)
    wait_for(lambda: sandbox["west"].get("v1", "Service", ns, "web-svc-east") is not None
             and ready_mirror(sandbox, ns) == ready, message="web-svc-east mirrored into west")


def ready_mirror(sandbox, ns: str) -> int:
    return ready(sandbox["west"], ns, "web-svc-east")


@contextmanager
def running(sandbox, paths: list[Path], *, cluster: str = "east=east", **options) -> Iterator[Controller]:
    """The loop on west with ``--cluster CLUSTER``, in a thread; stopped on exit."""
    client = KubeClient.from_kubeconfig(sandbox.kubeconfig, "west")
    clusters = connect(parse_clusters([cluster]), str(sandbox.kubeconfig))
    options.setdefault("remote_probe_interval", 0.1)
    controller = Controller(client, LoopOptions(paths=paths, **options), clusters=clusters)
    with running_loop(controller):
        yield controller


def decided_with(controller: Controller, key: str, ready_counts: dict[str, int]) -> bool:
    """The loop has reconciled ``key`` from exactly these ready counts (remote verdicts included)."""
    inputs = controller.reconciler.inputs(key)
    return inputs is not None and inputs.ready == ready_counts and controller.reconciler.is_settled(inputs)
