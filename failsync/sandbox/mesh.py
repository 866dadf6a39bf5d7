"""The mesh simulator: what a GAMMA mesh controller (Linkerd's policy controller) writes on routes.

Owns: ``status.parents`` of every HTTPRoute and GRPCRoute whose parentRefs name a Service:
``Accepted`` (True when the parent Service exists in the route's namespace, else False with
reason ``NoMatchingParent``) and ``ResolvedRefs`` (True when every backendRef Service exists,
else False with reason ``BackendNotFound``), with ``controllerName`` and ``observedGeneration``
as the real controller sets them. Parents of other kinds (Gateways) get nothing: the sandbox
runs no gateway controller. Runs as a store hook, re-evaluating a route when it changes and
the routes of a namespace when a Service there appears or goes.
Never does: HTTP, or touch a route's spec. Status goes through ``writes`` (the status subresource).
"""

from __future__ import annotations

import logging

from failsync.sandbox import resources, writes
from failsync.sandbox.status import ApiError
from failsync.sandbox.store import Change, Store

log = logging.getLogger(__name__)

CONTROLLER_NAME = "linkerd.io/policy-controller"
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")
SERVICES = "core/services"


def _is_service_ref(ref: object) -> bool:
    return isinstance(ref, dict) and ref.get("kind") == "Service" and ref.get("group", "") in ("", "core")


def _condition(kind: str, ok: bool, reason: str, message: str, generation: int, since: str) -> dict:
    return {"type": kind, "status": "True" if ok else "False", "reason": reason, "message": message,
            "observedGeneration": generation, "lastTransitionTime": since}


class MeshSimulator:
    """Keeps route parent conditions of one store in step; ``on_change`` is a store hook."""

    def __init__(self, store: Store, lookup=resources.lookup) -> None:
        self.store = store
        self._lookup = lookup  # the cluster registry's: routes are served by CRDs
        self._route_keys: set[str] = set()  # store keys holding routes, learnt from changes

    def on_change(self, change: Change) -> None:
        """React to one committed change (runs inside the store lock)."""
        try:
            if change.obj.get("kind") in ROUTE_KINDS:
                self._route_keys.add(change.store_key)
                if change.type != "DELETED":
                    self._sync(change.store_key, change.obj)
            elif change.store_key == SERVICES and change.type in ("ADDED", "DELETED"):
                namespace = change.obj["metadata"].get("namespace") or ""
                for store_key in sorted(self._route_keys):
                    routes, _ = self.store.snapshot(store_key, namespace)
                    for route in routes:
                        self._sync(store_key, route)
        except ApiError as error:  # e.g. the namespace is being deleted under us
            log.debug("mesh simulator: %s", error.message)

    def _exists(self, namespace: str, name: object) -> bool:
        return isinstance(name, str) and self.store.get(SERVICES, namespace, name) is not None

    def _sync(self, store_key: str, route: dict) -> None:
        metadata = route["metadata"]
        namespace = metadata.get("namespace") or ""
        spec = route.get("spec") or {}
        generation = metadata.get("generation", 1)
        previous = {(p.get("parentRef") or {}).get("name"): p for p in (route.get("status") or {}).get("parents") or []
                    if isinstance(p, dict)}
        refs = [ref for rule in spec.get("rules") or [] if isinstance(rule, dict)
                for ref in rule.get("backendRefs") or [] if isinstance(ref, dict)]
        missing = sorted({str(ref.get("name")) for ref in refs
                          if ref.get("kind", "Service") == "Service" and not self._exists(namespace, ref.get("name"))})
        parents = []
        for ref in spec.get("parentRefs") or []:
            if not _is_service_ref(ref):
                continue
            found = self._exists(namespace, ref.get("name"))
            old = {c.get("type"): c for c in (previous.get(ref.get("name")) or {}).get("conditions") or []}
            wanted = [
                ("Accepted", found, "Accepted" if found else "NoMatchingParent",
                 "" if found else f"parent Service {ref.get('name')} not found"),
                ("ResolvedRefs", not missing, "ResolvedRefs" if not missing else "BackendNotFound",
                 "" if not missing else f"backend Service(s) not found: {', '.join(missing)}"),
            ]
            conditions = []
            for kind, ok, reason, message in wanted:
                before = old.get(kind) or {}
                unchanged = before.get("status") == ("True" if ok else "False")
                since = before.get("lastTransitionTime") if unchanged else writes.timestamp()
                conditions.append(_condition(kind, ok, reason, message, generation, since or writes.timestamp()))
            parent_ref = {key: ref[key] for key in ("group", "kind", "name", "namespace", "port") if key in ref}
            parents.append({"parentRef": parent_ref, "controllerName": CONTROLLER_NAME, "conditions": conditions})
        status = {"parents": parents}
        if (route.get("status") or {}) == status or (not parents and not route.get("status")):
            return
        group, _, version = route["apiVersion"].rpartition("/")
        resource = self._lookup(group, version, f"{route['kind'].lower()}s")
        if resource is None:
            return
        writes.update(self.store, resource, namespace, metadata["name"], dict(route, status=status),
                      subresource="status")
