"""The workload simulator: what the Deployment, endpoints and endpointslice-mirroring
controllers of a real cluster would do, run inside each commit of a cluster's store.

Owns: Deployment status (replicas, readyReplicas, availableReplicas after a configurable
readiness delay), the Endpoints and EndpointSlice of every Service with a selector (one
ready address per ready replica of the matching Deployments, 10.x.y.z addresses), and the
mirroring of owner-written Endpoints of selector-less Services into EndpointSlices.
Never does: HTTP. All writes go through ``writes`` so metadata rules are shared.

Deployments and selector Services are indexed by (namespace, label key, value), so a change
touches only the Services that select the changed Deployment: setting up n backends is O(n)
and a scale holds the store lock for the few objects it concerns, whatever the cluster size.
"""

from __future__ import annotations

import hashlib
import logging
import threading

from failsync.sandbox import resources, writes
from failsync.sandbox.status import ApiError
from failsync.sandbox.store import Change, Store

log = logging.getLogger(__name__)

DEPLOYMENTS, SERVICES, ENDPOINTS, SLICES = "apps/deployments", "core/services", "core/endpoints", \
    "discovery/endpointslices"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"
MIRROR_CONTROLLER = "endpointslicemirroring-controller.k8s.io"
CONTROLLER_MANAGER = "kube-controller-manager"  # the field manager of the controllers' writes
_DEPLOYMENT = resources.lookup("apps", "v1", "deployments")
_ENDPOINTS = resources.lookup("", "v1", "endpoints")
_SLICE = resources.lookup("discovery.k8s.io", "v1", "endpointslices")


def _digest(*parts: str) -> bytes:
    return hashlib.sha1("/".join(parts).encode()).digest()


def slice_name(service: str) -> str:
    """The (stable) name of the EndpointSlice the simulator keeps for a Service."""
    return f"{service}-{_digest('slice', service).hex()[:5]}"


def _selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def _template_labels(deployment: dict) -> dict:
    labels = (((deployment.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels")
    return labels if isinstance(labels, dict) else {}


def _selector(service: dict) -> dict:
    selector = (service.get("spec") or {}).get("selector")
    return selector if isinstance(selector, dict) else {}


def _slot(namespace: str, key: object, value: object) -> tuple[str, str, str]:
    # str() keeps unvalidated (even unhashable) label values indexable; matches are re-checked with ==
    return namespace, str(key), str(value)


class _LabelIndex:
    """Stored objects of one kind by (namespace, name) and by (namespace, label key, value)."""

    def __init__(self, labels_of) -> None:
        self._labels_of = labels_of
        self._objects: dict[tuple[str, str], dict] = {}
        self._names: dict[tuple[str, str, str], set[str]] = {}

    def put(self, namespace: str, name: str, obj: dict | None) -> None:
        """Index the object's current version (None, or no labels: forget it)."""
        old = self._objects.pop((namespace, name), None)
        for pair in (self._labels_of(old) if old is not None else {}).items():
            slot = _slot(namespace, *pair)
            names = self._names.get(slot)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._names[slot]
        labels = self._labels_of(obj) if obj is not None else {}
        if labels:
            self._objects[(namespace, name)] = obj
            for pair in labels.items():
                self._names.setdefault(_slot(namespace, *pair), set()).add(name)

    def having_all(self, namespace: str, labels: dict) -> list[dict]:
        """Objects whose indexed labels include every pair of ``labels``, sorted by name."""
        candidates = min((self._names.get(_slot(namespace, *pair), set()) for pair in labels.items()), key=len,
                         default=set())
        found = (self._objects[(namespace, name)] for name in sorted(candidates))
        return [obj for obj in found if _selects(labels, self._labels_of(obj))]

    def within(self, namespace: str, labels: dict) -> list[dict]:
        """Objects whose indexed labels are all among ``labels`` (Services selecting them), sorted by name."""
        candidates = set().union(*(self._names.get(_slot(namespace, *pair), ()) for pair in labels.items()))
        found = (self._objects[(namespace, name)] for name in sorted(candidates))
        return [obj for obj in found if _selects(self._labels_of(obj), labels)]


class Simulator:
    """Keeps derived objects of one store in step; ``on_change`` is a store hook."""

    def __init__(self, store: Store, readiness_delay: float = 0.0) -> None:
        self.store = store
        self.readiness_delay = readiness_delay
        self._ready: dict[tuple[str, str], int] = {}  # (namespace, deployment) -> ready replicas
        self._timers: dict[tuple[str, str], threading.Timer] = {}
        self._deployments = _LabelIndex(_template_labels)
        self._services = _LabelIndex(_selector)  # Services with a selector only

    # --- the hook ----------------------------------------------------------------------------
    def on_change(self, change: Change) -> None:
        """React to one committed change (runs inside the store lock)."""
        metadata = change.obj["metadata"]
        namespace, name = metadata.get("namespace") or "", metadata["name"]
        current = None if change.type == "DELETED" else change.obj
        if change.store_key == DEPLOYMENTS:
            self._deployments.put(namespace, name, current)
        elif change.store_key == SERVICES:
            self._services.put(namespace, name, current)
        try:
            if change.store_key == DEPLOYMENTS:
                if change.type == "DELETED":
                    self._ready.pop((namespace, name), None)
                    self._cancel(namespace, name)
                else:
                    self._sync_deployment(change.obj)
                    if change.old is not None and change.old.get("spec") == change.obj.get("spec") and \
                            (change.old.get("status") or {}).get("readyReplicas") == \
                            (change.obj.get("status") or {}).get("readyReplicas"):
                        return
                self._sync_selecting(namespace, _template_labels(change.obj),
                                     _template_labels(change.old) if change.old is not None else {})
            elif change.store_key == SERVICES:
                if change.type == "DELETED":
                    self._drop_service(namespace, name)
                else:
                    self._sync_service(change.obj)
            elif change.store_key == ENDPOINTS:
                service = self.store.get(SERVICES, namespace, name)
                if service is not None and not (service.get("spec") or {}).get("selector"):
                    self._mirror(service, None if change.type == "DELETED" else change.obj)
        except ApiError as error:  # e.g. the namespace is being deleted under us
            log.debug("simulator: %s", error.message)

    # --- deployments -------------------------------------------------------------------------
    def _cancel(self, namespace: str, name: str) -> None:
        timer = self._timers.pop((namespace, name), None)
        if timer is not None:
            timer.cancel()

    def _sync_deployment(self, deployment: dict) -> None:
        namespace, name = deployment["metadata"]["namespace"], deployment["metadata"]["name"]
        desired = (deployment.get("spec") or {}).get("replicas", 1)
        ready = self._ready.get((namespace, name), 0)
        if desired <= ready or self.readiness_delay <= 0:
            self._ready[(namespace, name)] = desired
            self._cancel(namespace, name)
        elif (namespace, name) not in self._timers:
            timer = threading.Timer(self.readiness_delay, self._become_ready, (namespace, name))
            timer.daemon = True
            self._timers[(namespace, name)] = timer
            timer.start()
        self._write_status(deployment, desired, self._ready.get((namespace, name), 0))

    def _become_ready(self, namespace: str, name: str) -> None:
        with self.store.lock:
            self._timers.pop((namespace, name), None)
            deployment = self.store.get(DEPLOYMENTS, namespace, name)
            if deployment is None:
                return
            self._ready[(namespace, name)] = (deployment.get("spec") or {}).get("replicas", 1)
            try:
                self._sync_deployment(deployment)
                self._sync_selecting(namespace, _template_labels(deployment))
            except ApiError as error:
                log.debug("simulator: %s", error.message)

    def _write_status(self, deployment: dict, desired: int, ready: int) -> None:
        status = {"observedGeneration": deployment["metadata"].get("generation", 1), "replicas": desired,
                  "updatedReplicas": desired, "readyReplicas": ready, "availableReplicas": ready,
                  "unavailableReplicas": max(desired - ready, 0)}
        status = {key: value for key, value in status.items() if value}  # Go's omitempty
        status["conditions"] = [{"type": "Available", "status": "True" if ready >= desired else "False",
                                 "reason": "MinimumReplicasAvailable" if ready >= desired
                                 else "MinimumReplicasUnavailable"}]
        if deployment.get("status") == status:
            return
        metadata = deployment["metadata"]
        writes.update(self.store, _DEPLOYMENT, metadata["namespace"], metadata["name"],
                      dict(deployment, status=status), subresource="status", manager=CONTROLLER_MANAGER)

    # --- services ----------------------------------------------------------------------------
    def _sync_selecting(self, namespace: str, *label_sets: dict) -> None:
        """Re-sync the Services that select a Deployment with any of these (old, new) labels."""
        services: dict[str, dict] = {}
        for labels in label_sets:
            services.update((s["metadata"]["name"], s) for s in self._services.within(namespace, labels))
        for name in sorted(services):
            # re-read: an earlier sync in this loop may have committed (a fresh dict per commit)
            service = self.store.get(SERVICES, namespace, name)
            if service is not None and _selector(service):
                self._sync_service(service)

    def _addresses(self, namespace: str, selector: dict) -> list[tuple[str, str]]:
        """(ip, pod name) per ready replica of the Deployments the selector matches."""
        found = []
        for deployment in self._deployments.having_all(namespace, selector):
            metadata = deployment["metadata"]
            digest = _digest(namespace, metadata["name"])
            for index in range(self._ready.get((namespace, metadata["name"]), 0)):
                ip = f"10.{digest[0]}.{(digest[1] + index // 250) % 256}.{index % 250 + 1}"
                found.append((ip, f"{metadata['name']}-{digest.hex()[:10]}-{index}"))
        return found

    def _sync_service(self, service: dict) -> None:
        selector = (service.get("spec") or {}).get("selector")
        if not selector:
            endpoints = self.store.get(ENDPOINTS, service["metadata"]["namespace"], service["metadata"]["name"])
            self._mirror(service, endpoints)
            return
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        addresses = self._addresses(namespace, selector)
        ports = [{k: v for k, v in {"name": p.get("name"), "port": p.get("targetPort")
                                    if isinstance(p.get("targetPort"), int) else p.get("port"),
                                    "protocol": p.get("protocol", "TCP")}.items() if v is not None}
                 for p in (service.get("spec") or {}).get("ports") or []]
        labels = dict(service["metadata"].get("labels") or {})
        subsets = [{"addresses": [{"ip": ip, "nodeName": "sandbox-node",
                                   "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod}}
                                  for ip, pod in addresses], "ports": ports}] if addresses else []
        self._put(_ENDPOINTS, {"apiVersion": "v1", "kind": "Endpoints",
                               "metadata": {"name": name, "namespace": namespace,
                                            **({"labels": labels} if labels else {})},
                               **({"subsets": subsets} if subsets else {})})
        endpoints = [{"addresses": [ip], "conditions": {"ready": True, "serving": True, "terminating": False},
                      "nodeName": "sandbox-node", "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod}}
                     for ip, pod in addresses]
        self._put_slice(service, SLICE_CONTROLLER, endpoints, ports)

    def _mirror(self, service: dict, endpoints: dict | None) -> None:
        """Selector-less Service: mirror owner-written Endpoints into one EndpointSlice."""
        items, ports = [], []
        for subset in (endpoints or {}).get("subsets") or []:
            ports = [dict(p) for p in subset.get("ports") or []]
            for ready, key in ((True, "addresses"), (False, "notReadyAddresses")):
                for address in subset.get(key) or []:
                    item = {"addresses": [address.get("ip")],
                            "conditions": {"ready": ready, "serving": ready, "terminating": False}}
                    for field in ("hostname", "nodeName", "targetRef"):
                        if address.get(field):
                            item[field] = address[field]
                    items.append(item)
        if endpoints is None:
            self._delete(SLICES, service["metadata"]["namespace"], slice_name(service["metadata"]["name"]))
            return
        self._put_slice(service, MIRROR_CONTROLLER, items, ports)

    def _put_slice(self, service: dict, controller: str, endpoints: list, ports: list) -> None:
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        labels = {**(service["metadata"].get("labels") or {}), SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: controller}
        owner = {"apiVersion": "v1", "kind": "Service", "name": name, "uid": service["metadata"]["uid"],
                 "controller": True, "blockOwnerDeletion": True}
        self._put(_SLICE, {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                           "metadata": {"name": slice_name(name), "namespace": namespace, "labels": labels,
                                        "ownerReferences": [owner]},
                           "addressType": "IPv4", "endpoints": endpoints, "ports": ports})

    def _drop_service(self, namespace: str, name: str) -> None:
        self._delete(SLICES, namespace, slice_name(name))
        endpoints = self.store.get(ENDPOINTS, namespace, name)
        if endpoints is not None:
            self._delete(ENDPOINTS, namespace, name)

    # --- writes through the API rules --------------------------------------------------------
    def _put(self, resource, obj: dict) -> None:
        metadata = obj["metadata"]
        current = self.store.get(resource.store_key, metadata["namespace"], metadata["name"])
        if current is None:
            writes.create(self.store, resource, metadata["namespace"], obj, manager=CONTROLLER_MANAGER)
        else:
            wanted = metadata
            metadata = {key: value for key, value in current["metadata"].items()
                        if key not in ("labels", "ownerReferences")}
            metadata.update({key: wanted[key] for key in ("labels", "ownerReferences") if key in wanted})
            writes.update(self.store, resource, metadata["namespace"], metadata["name"], dict(obj, metadata=metadata),
                          manager=CONTROLLER_MANAGER)

    def _delete(self, store_key: str, namespace: str, name: str) -> None:
        if self.store.get(store_key, namespace, name) is not None:
            resource = _SLICE if store_key == SLICES else _ENDPOINTS
            writes.delete(self.store, resource, namespace, name)
