"""The namespace controller: a namespace being deleted is ``Terminating`` until its contents are
gone, with the conditions kube-controller-manager sets, then its ``kubernetes`` finalizer goes.

Owns: deleting a Terminating namespace's objects and its status conditions. Never does: HTTP,
or deciding when to run (the ``garbage_collector``'s worker calls it after each change).
"""

from __future__ import annotations

from typing import Callable

from failsync.sandbox import resources
from failsync.sandbox.deletion import NAMESPACE_FINALIZER, NAMESPACES, commit_update, delete
from failsync.sandbox.status import ApiError
from failsync.sandbox.store import Store


def terminate(store: Store, registry: resources.Registry, name: str, now: Callable[[], str]) -> None:
    """Delete what a Terminating namespace holds, report what is left in its conditions, and drop the
    ``kubernetes`` finalizer once nothing is (the namespace is then removed)."""
    namespace = store.get(NAMESPACES, "", name)
    if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
        return
    remaining: dict[str, int] = {}
    held: dict[str, int] = {}
    for store_key in store.kinds():
        resource = registry.served_storage_type(store_key)
        if store_key == NAMESPACES or resource is None:  # a deleted CRD took its objects with it
            continue
        for obj in list(store.all_of(store_key)):
            if obj["metadata"].get("namespace") != name:
                continue
            if not obj["metadata"].get("deletionTimestamp"):
                try:
                    delete(store, resource, name, obj["metadata"]["name"], now=now)
                except ApiError:
                    pass
            left = store.get(store_key, name, obj["metadata"]["name"])
            if left is not None:
                remaining[resource.group_resource] = remaining.get(resource.group_resource, 0) + 1
                for finalizer in left["metadata"].get("finalizers") or []:
                    held[finalizer] = held.get(finalizer, 0) + 1
    namespace = store.get(NAMESPACES, "", name)
    if namespace is None:
        return
    new = dict(namespace, status=dict(namespace.get("status") or {}, phase="Terminating",
                                      conditions=_conditions(namespace, remaining, held, now)))
    if not remaining:
        spec = dict(new.get("spec") or {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != NAMESPACE_FINALIZER]
        new["spec"] = spec
    if new != namespace:
        commit_update(store, NAMESPACES, namespace, new)

def _conditions(namespace: dict, remaining: dict[str, int], held: dict[str, int], now: Callable[[], str]) -> list[dict]:
    previous = {c.get("type"): c for c in (namespace.get("status") or {}).get("conditions") or []}

    def condition(kind: str, status: bool, reason: str, message: str) -> dict:
        old = previous.get(kind) or {}
        since = old.get("lastTransitionTime") if old.get("status") == ("True" if status else "False") else None
        return {"type": kind, "status": "True" if status else "False", "lastTransitionTime": since or now(),
                "reason": reason, "message": message}

    content = ", ".join(f"{resource} has {count} resource instances"
                        for resource, count in sorted(remaining.items()))
    finalizers = ", ".join(f"{finalizer} in {count} resource instances"
                           for finalizer, count in sorted(held.items()))
    return [
        condition("NamespaceDeletionDiscoveryFailure", False, "ResourcesDiscovered",
                  "All resources successfully discovered"),
        condition("NamespaceDeletionGroupVersionParsingFailure", False, "ParsedGroupVersions",
                  "All legacy kube types successfully parsed"),
        condition("NamespaceDeletionContentFailure", False, "ContentDeleted",
                  "All content successfully deleted, may be waiting on finalization"),
        condition("NamespaceContentRemaining", bool(remaining), "SomeResourcesRemain" if remaining else
                  "ContentRemoved", f"Some resources are remaining: {content}" if remaining else
                  "All content successfully removed"),
        condition("NamespaceFinalizersRemaining", bool(held), "SomeFinalizersRemain" if held else
                  "ContentHasNoFinalizers", f"Some content in the namespace has finalizers remaining: {finalizers}"
                  if held else "All content-preserving finalizers finished"),
    ]


__all__ = ["terminate"]
