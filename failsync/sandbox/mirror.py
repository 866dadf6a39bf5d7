"""The cross-cluster service mirror: what Linkerd's multicluster service mirror does for an
exported service, reduced to readiness.

Owns: keeping a selector-less Service in a target cluster (labelled
``mirror.linkerd.io/mirrored-service``) whose Endpoints hold one ready gateway address
exactly while the source Service has ready endpoints. Its Endpoints are mirrored into an
EndpointSlice by the target's simulator, as in a real cluster. Never does: HTTP.

A worker thread applies changes so that no thread ever holds two clusters' locks.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from failsync.sandbox.cluster import Cluster
from failsync.sandbox.store import Change

log = logging.getLogger(__name__)
MIRRORED_LABEL = "mirror.linkerd.io/mirrored-service"
CLUSTER_LABEL = "mirror.linkerd.io/cluster-name"


class Mirror:
    """One mirrored service: source (cluster, namespace, name) -> target (cluster, namespace, name)."""

    def __init__(self, source: Cluster, source_namespace: str, source_name: str, target: Cluster,
                 target_namespace: str, target_name: str) -> None:
        self.source, self.source_namespace, self.source_name = source, source_namespace, source_name
        self.target, self.target_namespace, self.target_name = target, target_namespace, target_name
        digest = hashlib.sha1(f"{source.name}/{source_namespace}/{source_name}".encode()).digest()
        self.gateway_ip = f"172.{16 + digest[0] % 16}.{digest[1]}.{digest[2] % 254 + 1}"
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def _on_change(self, change: Change) -> None:
        metadata = change.obj["metadata"]
        if change.store_key in ("core/endpoints", "core/services") and \
                metadata.get("namespace") == self.source_namespace and metadata["name"] == self.source_name:
            self._wake.set()

    def start(self) -> None:
        """Sync once now, then follow the source in a daemon thread."""
        self.source.store.hooks.append(self._on_change)
        self.sync()
        self._thread = threading.Thread(target=self._run, name=f"mirror-{self.target_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following the source and wait for the worker to finish its current sync."""
        self._stopped.set()
        self._wake.set()
        try:
            self.source.store.hooks.remove(self._on_change)
        except ValueError:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self.sync()
            except Exception:  # keep mirroring whatever one bad write did
                log.exception("sandbox mirror %s/%s failed", self.target_namespace, self.target_name)

    def ready(self) -> int:
        """Ready addresses of the source Service's Endpoints."""
        endpoints = self.source.get("v1", "Endpoints", self.source_namespace, self.source_name) or {}
        return sum(len(subset.get("addresses") or []) for subset in endpoints.get("subsets") or [])

    def sync(self) -> None:
        """Write the target Service and its Endpoints from the source's current readiness."""
        service = self.source.get("v1", "Service", self.source_namespace, self.source_name) or {}
        ports = [{key: port[key] for key in ("name", "port", "protocol") if key in port}
                 for port in (service.get("spec") or {}).get("ports") or [{"name": "http", "port": 80}]]
        labels = {MIRRORED_LABEL: "true", CLUSTER_LABEL: self.source.name}
        metadata = {"name": self.target_name, "namespace": self.target_namespace, "labels": labels}
        existing = self.target.get("v1", "Service", self.target_namespace, self.target_name)
        if existing is None or (existing.get("spec") or {}).get("ports") != [dict(p, targetPort=p["port"],
                                                                                   protocol=p.get("protocol", "TCP"))
                                                                              for p in ports]:
            self.target.apply({"apiVersion": "v1", "kind": "Service", "metadata": metadata,
                               "spec": {"type": "ClusterIP", "ports": ports}})
        subsets = [{"addresses": [{"ip": self.gateway_ip}],
                    "ports": [{key: p[key] for key in ("name", "port", "protocol") if key in p} for p in ports]}]
        self.target.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": metadata,
                           **({"subsets": subsets} if self.ready() > 0 else {})})
