"""Linkerd's multicluster service mirror and gateways, for sandbox clusters in one process.

Owns: a ``linkerd-gateway`` Deployment and LoadBalancer Service in ``linkerd-multicluster`` of
every cluster (the simulator gives it endpoints while its replicas are ready), and, for each
Service labelled ``mirror.linkerd.io/exported``, its mirror ``<name>-<cluster>`` in every other
cluster with Linkerd's labels and annotations:

- gateway mode (``exported=true`` with ``mode="gateway"``): a selector-less Service and
  Endpoints holding the remote gateway's address on the gateway port; the address is ready
  while the remote gateway has a ready replica, whatever the remote service's own pods do,
  and moves to ``notReadyAddresses`` when the gateway is down (Linkerd's gateway probe);
- remote-discovery mode (``exported=remote-discovery``, or ``true`` with
  ``mode="remote-discovery"``): a selector-less Service labelled
  ``multicluster.linkerd.io/remote-discovery`` and no Endpoints at all (the proxy resolves
  the remote endpoints itself).

A worker thread applies changes, so no thread ever holds two clusters' locks; a probe reacts
at once, where Linkerd's probes every few seconds. Never does: HTTP.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Iterable

from failsync.sandbox.cluster import Cluster
from failsync.sandbox.store import Change

log = logging.getLogger(__name__)
EXPORT_LABEL = "mirror.linkerd.io/exported"
MIRRORED_LABEL = "mirror.linkerd.io/mirrored-service"
CLUSTER_LABEL = "mirror.linkerd.io/cluster-name"
REMOTE_DISCOVERY_LABEL = "multicluster.linkerd.io/remote-discovery"
REMOTE_SERVICE_LABEL = "multicluster.linkerd.io/remote-service"
FQ_NAME_ANNOTATION = "mirror.linkerd.io/remote-svc-fq-name"
RESOURCE_VERSION_ANNOTATION = "mirror.linkerd.io/remote-resource-version"
GATEWAY_IDENTITY_ANNOTATION = "mirror.linkerd.io/remote-gateway-identity"
GATEWAY_NAMESPACE = "linkerd-multicluster"
GATEWAY_NAME = "linkerd-gateway"
GATEWAY_PORT = 4143
PROBE_PORT = 4191
MODES = ("gateway", "remote-discovery")
MANAGER = "linkerd-service-mirror"
_GATEWAY_IDENTITY = f"{GATEWAY_NAME}.{GATEWAY_NAMESPACE}.serviceaccount.identity.linkerd.cluster.local"


def gateway_address(cluster: str) -> str:
    """The (stable, made-up) load-balancer address of a cluster's gateway."""
    digest = hashlib.sha1(f"gateway/{cluster}".encode()).digest()
    return f"172.{16 + digest[0] % 16}.{digest[1]}.{digest[2] % 254 + 1}"


def gateway_objects(cluster: str) -> list[dict]:
    """The gateway Deployment and Service installed in every cluster (``kubectl scale`` the
    Deployment to 0 to stop it)."""
    labels = {"app": GATEWAY_NAME, "linkerd.io/extension": "multicluster"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": GATEWAY_NAMESPACE,
                                                              "labels": {"linkerd.io/extension": "multicluster"}}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": GATEWAY_NAME, "namespace": GATEWAY_NAMESPACE, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": GATEWAY_NAME}},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [{"name": "gateway", "image": "example/linkerd-gateway:1"}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": GATEWAY_NAME, "namespace": GATEWAY_NAMESPACE, "labels": labels},
         "spec": {"type": "LoadBalancer", "selector": {"app": GATEWAY_NAME},
                  "ports": [{"name": "mc-gateway", "port": GATEWAY_PORT}, {"name": "mc-probe", "port": PROBE_PORT}]},
         "status": {"loadBalancer": {"ingress": [{"ip": gateway_address(cluster)}]}}},
    ]


class ServiceMirror:
    """The service mirror between every pair of clusters, driven by the export label."""

    def __init__(self, clusters: Iterable[Cluster], mode: str = "gateway") -> None:
        if mode not in MODES:
            raise ValueError(f"mirror mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.clusters = list(clusters)
        self.mode = mode
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()

    def start(self) -> "ServiceMirror":
        """Install the gateways, mirror what is exported now, then follow changes in a daemon thread."""
        for cluster in self.clusters:
            for obj in gateway_objects(cluster.name):
                cluster.apply(obj, manager="linkerd")
            cluster.store.hooks.append(self._on_change)
        self.sync()
        self._thread = threading.Thread(target=self._run, name="sandbox-service-mirror", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following changes and wait for the worker."""
        self._stopped.set()
        self._wake.set()
        for cluster in self.clusters:
            try:
                cluster.store.hooks.remove(self._on_change)
            except ValueError:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until the worker has applied every change seen so far (for tests)."""
        return self._idle.wait(timeout)

    def _on_change(self, change: Change) -> None:  # inside a store lock: only decide whether to wake
        if change.store_key not in ("core/services", "core/endpoints"):
            return
        metadata = change.obj["metadata"]
        old_labels = (change.old or {}).get("metadata", {}).get("labels") or {}
        if (metadata.get("namespace") == GATEWAY_NAMESPACE or EXPORT_LABEL in (metadata.get("labels") or {})
                or EXPORT_LABEL in old_labels):
            self._idle.clear()
            self._wake.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self.sync()
            except Exception:  # keep mirroring whatever one bad write did
                log.exception("sandbox service mirror failed")
            if not self._wake.is_set():
                self._idle.set()

    # --- one pass ------------------------------------------------------------------------------
    def sync(self) -> None:
        """Bring every cluster's mirrors in line with what the others export."""
        exported = {cluster.name: self._exported(cluster) for cluster in self.clusters}
        alive = {cluster.name: self._gateway_alive(cluster) for cluster in self.clusters}
        for target in self.clusters:
            wanted: set[tuple[str, str]] = set()
            for source in self.clusters:
                if source is target:
                    continue
                for service in exported[source.name]:
                    key = (service["metadata"]["namespace"], f"{service['metadata']['name']}-{source.name}")
                    wanted.add(key)
                    self._mirror(source.name, service, target, alive[source.name])
            self._remove_stale(target, wanted)

    def _exported(self, cluster: Cluster) -> list[dict]:
        return [service for service in cluster.list("v1", "Service")
                if (service["metadata"].get("labels") or {}).get(EXPORT_LABEL) in ("true", "remote-discovery")]

    def _gateway_alive(self, cluster: Cluster) -> bool:
        endpoints = cluster.get("v1", "Endpoints", GATEWAY_NAMESPACE, GATEWAY_NAME) or {}
        return any(subset.get("addresses") for subset in endpoints.get("subsets") or [])

    def _mode_of(self, service: dict) -> str:
        return "remote-discovery" if service["metadata"]["labels"][EXPORT_LABEL] == "remote-discovery" else self.mode

    def _mirror(self, source: str, service: dict, target: Cluster, gateway_alive: bool) -> None:
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        mirror_name = f"{name}-{source}"
        mode = self._mode_of(service)
        labels = {MIRRORED_LABEL: "true", CLUSTER_LABEL: source}
        if mode == "remote-discovery":
            labels.update({REMOTE_DISCOVERY_LABEL: source, REMOTE_SERVICE_LABEL: name})
        annotations = {RESOURCE_VERSION_ANNOTATION: service["metadata"]["resourceVersion"],
                       FQ_NAME_ANNOTATION: f"{name}.{namespace}.svc.cluster.local"}
        ports = [{key: port[key] for key in ("name", "protocol", "port", "targetPort") if key in port}
                 for port in (service.get("spec") or {}).get("ports") or []]
        if target.get("v1", "Namespace", None, namespace) is None:
            target.apply({"apiVersion": "v1", "kind": "Namespace",
                          "metadata": {"name": namespace, "labels": dict(labels)}}, manager=MANAGER)
        wanted = {"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": mirror_name, "namespace": namespace, "labels": labels,
                               "annotations": annotations},
                  "spec": {"type": "ClusterIP", "ports": ports}}
        current = target.get("v1", "Service", namespace, mirror_name)
        if current is None or _differs(current, wanted):
            target.apply(wanted, manager=MANAGER)
        if mode == "remote-discovery":
            target.delete("v1", "Endpoints", namespace, mirror_name)
            return
        address = [{"ip": gateway_address(source)}]
        subset = {"addresses" if gateway_alive else "notReadyAddresses": address,
                  "ports": [{key: value for key, value in (("name", port.get("name")),
                                                            ("protocol", port.get("protocol", "TCP")),
                                                            ("port", GATEWAY_PORT)) if value is not None}
                            for port in ports]}
        endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                     "metadata": {"name": mirror_name, "namespace": namespace, "labels": labels,
                                  "annotations": {FQ_NAME_ANNOTATION: annotations[FQ_NAME_ANNOTATION],
                                                  GATEWAY_IDENTITY_ANNOTATION: _GATEWAY_IDENTITY}},
                     "subsets": [subset]}
        current = target.get("v1", "Endpoints", namespace, mirror_name)
        if current is None or _differs(current, endpoints):
            target.apply(endpoints, manager=MANAGER)

    def _remove_stale(self, target: Cluster, wanted: set[tuple[str, str]]) -> None:
        names = {c.name for c in self.clusters}
        for service in target.list("v1", "Service"):
            metadata = service["metadata"]
            labels = metadata.get("labels") or {}
            if labels.get(MIRRORED_LABEL) == "true" and labels.get(CLUSTER_LABEL) in names and \
                    (metadata["namespace"], metadata["name"]) not in wanted:
                target.delete("v1", "Service", metadata["namespace"], metadata["name"])
                target.delete("v1", "Endpoints", metadata["namespace"], metadata["name"])


def _differs(current: dict, wanted: dict) -> bool:
    """Whether a stored mirror object lacks what ``wanted`` asks (server defaults aside)."""
    for key in ("labels", "annotations"):
        if (current["metadata"].get(key) or {}) != wanted["metadata"].get(key, {}):
            return True
    if wanted["kind"] == "Endpoints":
        return current.get("subsets") != wanted["subsets"]
    ports = [{k: v for k, v in port.items() if k in ("name", "protocol", "port", "targetPort")}
             for port in (current.get("spec") or {}).get("ports") or []]
    return ports != [dict(port, protocol=port.get("protocol", "TCP"), targetPort=port.get("targetPort",
                                                                                         port.get("port")))
                     for port in wanted["spec"]["ports"]]


__all__ = ["MODES", "ServiceMirror", "gateway_address", "gateway_objects"]
