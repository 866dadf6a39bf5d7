"""Deletion as kube-apiserver does it: finalizers, graceful deletion and ``propagationPolicy``.

Owns: what a DELETE answers (200 with the object while finalizers hold it, 202 only for
``orphanDependents: false`` as the real handler does, the object or a Success ``Status``
once gone, per kind), the ``orphan``/``foregroundDeletion`` finalizers and removal when the
last finalizer goes. Never does: HTTP, or what the controllers do afterwards
(``garbage_collector``, ``namespace_controller``).
"""

from __future__ import annotations

from failsync.sandbox.resources import ResourceType, to_view
from failsync.sandbox.status import ApiError, conflict, field_cause, invalid, not_found
from failsync.sandbox.store import Store

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
NAMESPACE_FINALIZER = "kubernetes"
NAMESPACES = "core/namespaces"
POLICIES = ("Foreground", "Background", "Orphan")
# The registries that set ReturnDeletedObject: the rest answer a Success Status once gone.
_RETURNS_OBJECT = frozenset({"core/services", NAMESPACES})


def propagation_policy(options: dict) -> str | None:
    """The DeleteOptions' propagation policy; 422 as ValidateDeleteOptions answers for a bad one."""
    policy = options.get("propagationPolicy")
    causes = []
    if policy is not None and options.get("orphanDependents") is not None:
        causes.append(field_cause("propagationPolicy", "FieldValueInvalid",
                                  f'Invalid value: "{policy}": orphanDependents and deletionPropagation cannot be '
                                  "both set"))
    if policy is not None and policy not in POLICIES:
        causes.append(field_cause("propagationPolicy", "FieldValueNotSupported",
                                  f'Unsupported value: "{policy}": supported values: "Foreground", "Background", '
                                  '"Orphan", "nil"'))
    if causes:
        raise invalid("DeleteOptions", "meta.k8s.io", "", causes)
    if policy is None and options.get("orphanDependents") is not None:
        return "Orphan" if options["orphanDependents"] else "Background"
    return policy


def _with_policy_finalizers(finalizers: list[str], policy: str | None) -> list[str]:
    """The finalizers after a delete with ``policy`` (None keeps what the object asked before)."""
    if policy is None:
        return finalizers
    kept = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    wanted = {"Orphan": ORPHAN, "Foreground": FOREGROUND}.get(policy)
    return kept + [wanted] if wanted else kept


def _pending(store_key: str, obj: dict) -> bool:
    """Whether something still holds the object (metadata finalizers; a namespace's spec.finalizers)."""
    if obj["metadata"].get("finalizers"):
        return True
    return store_key == NAMESPACES and bool((obj.get("spec") or {}).get("finalizers"))


def _gone_body(resource: ResourceType, obj: dict) -> dict:
    if resource.store_key in _RETURNS_OBJECT:
        return to_view(resource, obj)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": obj["metadata"]["name"], "group": resource.group, "kind": resource.plural,
                        "uid": obj["metadata"]["uid"]}}


def delete(store: Store, resource: ResourceType, namespace: str | None, name: str, options: dict | None = None, *,
           dry_run: bool = False, now: Callable[[], str]) -> tuple[int, dict]:
    """DELETE one object: (200 or 202, body); 404 missing; 409 failed preconditions; 422 bad options."""
    options = options or {}
    policy = propagation_policy(options)
    with store.lock:
        old = store.get(resource.store_key, (namespace or "") if resource.namespaced else "", name)
        if old is None:
            raise not_found(resource.plural, resource.group, name)
        _check_preconditions(resource, old, options.get("preconditions") or {})
        metadata = old["metadata"]
        finalizers = _with_policy_finalizers(list(metadata.get("finalizers") or []), policy)
        candidate = dict(old, metadata=dict(metadata, finalizers=finalizers) if finalizers else
                         {k: v for k, v in metadata.items() if k != "finalizers"})
        if not _pending(resource.store_key, candidate):
            if not dry_run:
                store.commit(resource.store_key, "DELETED", old, old)
            return 200, _gone_body(resource, old)
        new_metadata = dict(candidate["metadata"])
        if not metadata.get("deletionTimestamp"):
            new_metadata.update(deletionTimestamp=now(), deletionGracePeriodSeconds=0)
        new = dict(candidate, metadata=new_metadata)
        if resource.store_key == NAMESPACES:
            new["status"] = dict(new.get("status") or {}, phase="Terminating")
        code = 202 if options.get("orphanDependents") is False else 200
        if new == old or dry_run:
            return code, to_view(resource, new)
        return code, to_view(resource, store.commit(resource.store_key, "MODIFIED", new, old))


def _check_preconditions(resource: ResourceType, old: dict, preconditions: dict) -> None:
    name, uid = old["metadata"]["name"], old["metadata"]["uid"]
    if preconditions.get("uid") and preconditions["uid"] != uid:
        raise conflict(resource.plural, resource.group, name,
                       f"Precondition failed: UID in precondition: {preconditions['uid']}, UID in object meta: {uid}")
    if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != old["metadata"][
            "resourceVersion"]:
        raise conflict(resource.plural, resource.group, name)


def check_update(resource: ResourceType, old: dict, new: dict) -> None:
    """422 when an update adds finalizers to an object being deleted (as the real server refuses)."""
    if not old["metadata"].get("deletionTimestamp"):
        return
    before = set(old["metadata"].get("finalizers") or [])
    added = [f for f in new["metadata"].get("finalizers") or [] if f not in before]
    if added:
        shown = ", ".join(f'"{f}"' for f in added)
        raise invalid(resource.kind, resource.group, old["metadata"]["name"], [field_cause(
            "metadata.finalizers", "FieldValueForbidden",
            f"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers "
            f"[]string{{{shown}}}")])


def commit_update(store: Store, store_key: str, old: dict, new: dict) -> dict:
    """Store an update; an object being deleted whose last finalizer went is removed instead."""
    if old["metadata"].get("deletionTimestamp") and not _pending(store_key, new):
        return store.commit(store_key, "DELETED", new, old)
    return store.commit(store_key, "MODIFIED", new, old)


__all__ = ["FOREGROUND", "NAMESPACES", "NAMESPACE_FINALIZER", "ORPHAN", "check_update", "commit_update", "delete",
           "propagation_policy"]
