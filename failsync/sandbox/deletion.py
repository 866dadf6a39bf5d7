"""Deletion as kube-apiserver and its controllers do it: finalizers and graceful deletion,
``propagationPolicy``, the garbage collector (dependents through ``ownerReferences``) and
the namespace controller (``Terminating``, then removed once its contents are gone).

Owns: what a DELETE answers (200 with the object while finalizers hold it, 202 only for
``orphanDependents: false`` as the real handler does, the object or a Success ``Status``
once gone, per kind), the ``orphan``/``foregroundDeletion`` finalizers, removal when the
last finalizer goes, and the ``Collector``: one worker thread per cluster that does, after
the write that triggered it (asynchronously, as on a real cluster), what the garbage
collector and the namespace controller do. Never does: HTTP.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from failsync.sandbox import resources
from failsync.sandbox.resources import ResourceType, to_view
from failsync.sandbox.status import ApiError, conflict, field_cause, invalid, not_found
from failsync.sandbox.store import Change, Store

log = logging.getLogger(__name__)
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


Ref = tuple[str, str, str]  # (store key, namespace, name)


class Collector:
    """The garbage collector and the namespace controller of one cluster, on one worker thread.

    ``on_change`` (a store hook, inside the commit) only indexes owner references and queues
    work; the worker does the deletes and finalizer removals afterwards, under the store lock.
    """

    def __init__(self, store: Store, now: Callable[[], str], registry: resources.Registry) -> None:
        self.store = store
        self._now = now
        self.registry = registry  # what the cluster serves now (CRDs come and go)
        self._dependents: dict[str, set[Ref]] = {}  # owner uid -> dependents naming it
        self._foreground: dict[str, Ref] = {}  # uid -> owner being deleted in the foreground
        self._terminating: set[str] = set()  # namespaces being deleted
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._queued: set[tuple] = set()  # items waiting in the queue (a burst of changes queues one)

    # --- the hook (inside the store lock, on every commit: keep it cheap) ----------------------
    def on_change(self, change: Change) -> None:
        metadata = change.obj["metadata"]
        refs = metadata.get("ownerReferences")
        old_refs = change.old["metadata"].get("ownerReferences") if change.old is not None else None
        if refs or old_refs:
            if self._index(change, refs if change.type != "DELETED" else None, old_refs):
                self._queue(("dependent", change.store_key, metadata.get("namespace") or "", metadata["name"]))
            for owner in (refs or []) + (old_refs or []):  # a dependent changed: its foreground owner may go
                waiting = self._foreground.get(str(owner.get("uid"))) if isinstance(owner, dict) else None
                if waiting is not None:
                    self._queue(("deleting", *waiting))
        if change.type == "DELETED":
            self._foreground.pop(metadata.get("uid"), None)
            if metadata.get("uid") in self._dependents:
                self._queue(("owner-gone", metadata["uid"]))
        elif metadata.get("deletionTimestamp"):
            ref = (change.store_key, metadata.get("namespace") or "", metadata["name"])
            if FOREGROUND in (metadata.get("finalizers") or ()):
                self._foreground[metadata["uid"]] = ref
            self._queue(("deleting", *ref))
        if change.store_key == NAMESPACES:
            if change.type != "DELETED" and metadata.get("deletionTimestamp"):
                self._terminating.add(metadata["name"])
            else:
                self._terminating.discard(metadata["name"])
        if self._terminating:
            namespace = metadata.get("namespace")
            if namespace and namespace in self._terminating:
                self._queue(("namespace", namespace))

    def _index(self, change: Change, refs: list | None, old_refs: list | None) -> bool:
        """Index a dependent's owner references; True when it names an owner it did not before
        (which the collector then checks: an owner that does not exist makes it garbage)."""
        ref = (change.store_key, change.obj["metadata"].get("namespace") or "", change.obj["metadata"]["name"])
        new_uids = {r.get("uid") for r in refs or [] if isinstance(r, dict)}
        for owner in old_refs or []:
            uid = owner.get("uid") if isinstance(owner, dict) else None
            if uid not in new_uids and uid in self._dependents:
                self._dependents[uid].discard(ref)
                if not self._dependents[uid]:
                    del self._dependents[uid]
        old_uids = {r.get("uid") for r in old_refs or [] if isinstance(r, dict)}
        for uid in new_uids:
            if uid:
                self._dependents.setdefault(uid, set()).add(ref)
        return bool(new_uids - old_uids)

    def _queue(self, item: tuple) -> None:
        with self._lock:
            if item in self._queued:
                return
            self._queued.add(item)
        self._idle.clear()
        self._work.put(item)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-garbage-collector", daemon=True)
                self._thread.start()

    # --- the worker ----------------------------------------------------------------------------
    def stop(self) -> None:
        """End the worker thread (it restarts with the next work)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._work.put(None)
            thread.join(5)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued piece of work is done (for tests of the direct API)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            try:
                item = self._work.get(timeout=30)
            except queue.Empty:
                with self._lock:
                    if self._work.empty():
                        self._thread = None
                        return
                continue
            if item is None:
                return
            with self._lock:
                self._queued.discard(item)
            try:
                with self.store.lock:
                    self._process(item)
            except ApiError as error:  # raced with a client (404/409): the next change re-queues it
                log.debug("sandbox collector: %s on %s", error.message, item)
            except Exception:  # keep collecting whatever one item did
                log.exception("sandbox collector failed on %s", item)
            if self._work.empty():
                self._idle.set()

    def _process(self, item: tuple) -> None:
        kind = item[0]
        if kind == "owner-gone":
            for ref in sorted(self._dependents.get(item[1], ())):
                self._attempt_to_delete(ref)
        elif kind == "dependent":
            self._attempt_to_delete(item[1:])
        elif kind == "deleting":
            self._deleting(item[1], item[2], item[3])
        elif kind == "namespace":
            self._terminate_namespace(item[1])

    def _object(self, ref: Ref) -> dict | None:
        return self.store.get(ref[0], ref[1], ref[2])

    def _owner_state(self, namespace: str, owner: dict) -> str:
        """solid | dangling | waiting (being deleted in the foreground), as the real GC classifies."""
        try:
            resource = self.registry.by_kind(str(owner.get("apiVersion", "")), str(owner.get("kind", "")))
        except KeyError:
            return "solid"  # an owner kind the server cannot resolve is never treated as gone
        stored = self.store.get(resource.store_key, namespace if resource.namespaced else "", str(owner.get("name")))
        if stored is None or stored["metadata"].get("uid") != owner.get("uid"):
            return "dangling"
        if stored["metadata"].get("deletionTimestamp") and FOREGROUND in (stored["metadata"].get("finalizers") or []):
            return "waiting"
        return "solid"

    def _attempt_to_delete(self, ref: Ref) -> None:
        obj = self._object(ref)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        owners = [o for o in obj["metadata"].get("ownerReferences") or [] if isinstance(o, dict)]
        if not owners:
            return
        states = {o.get("uid"): self._owner_state(ref[1], o) for o in owners}
        solid = [o for o in owners if states[o.get("uid")] == "solid"]
        if solid:
            if len(solid) != len(owners):  # drop the references to owners that are gone or going
                self._set_owner_references(ref, obj, solid)
            return
        finalizers = obj["metadata"].get("finalizers") or []
        has_dependents = bool(self._dependents.get(obj["metadata"]["uid"]))
        if ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers or ("waiting" in states.values() and has_dependents):
            policy = "Foreground"
        else:
            policy = "Background"
        resource = self.registry.served_storage_type(ref[0])
        if resource is not None:  # else its CRD is gone, and its objects with it
            delete(self.store, resource, ref[1] or None, ref[2], {"propagationPolicy": policy}, now=self._now)

    def _set_owner_references(self, ref: Ref, obj: dict, owners: list[dict]) -> None:
        metadata = {k: v for k, v in obj["metadata"].items() if k != "ownerReferences"}
        if owners:
            metadata["ownerReferences"] = owners
        commit_update(self.store, ref[0], obj, dict(obj, metadata=metadata))

    def _remove_finalizer(self, store_key: str, namespace: str, name: str, finalizer: str) -> None:
        obj = self.store.get(store_key, namespace, name)
        if obj is None:
            return
        finalizers = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
        metadata = {k: v for k, v in obj["metadata"].items() if k != "finalizers"}
        if finalizers:
            metadata["finalizers"] = finalizers
        commit_update(self.store, store_key, obj, dict(obj, metadata=metadata))

    def _deleting(self, store_key: str, namespace: str, name: str) -> None:
        """An owner being deleted with the orphan or foregroundDeletion finalizer (or a namespace)."""
        obj = self.store.get(store_key, namespace, name)
        if obj is None:
            return
        if store_key == NAMESPACES:
            self._terminate_namespace(name)
            return
        finalizers = obj["metadata"].get("finalizers") or []
        uid = obj["metadata"]["uid"]
        dependents = sorted(self._dependents.get(uid, ()))
        if ORPHAN in finalizers:
            for ref in dependents:
                dependent = self._object(ref)
                if dependent is not None:
                    self._set_owner_references(ref, dependent, [o for o in dependent["metadata"].get(
                        "ownerReferences") or [] if not (isinstance(o, dict) and o.get("uid") == uid)])
            self._remove_finalizer(store_key, namespace, name, ORPHAN)
        elif FOREGROUND in finalizers:
            blocking = []
            for ref in dependents:
                dependent = self._object(ref)
                if dependent is None:
                    continue
                self._attempt_to_delete(ref)
                if self._object(ref) is not None and any(
                        isinstance(o, dict) and o.get("uid") == uid and o.get("blockOwnerDeletion")
                        for o in dependent["metadata"].get("ownerReferences") or []):
                    blocking.append(ref)
            if not blocking:
                self._remove_finalizer(store_key, namespace, name, FOREGROUND)

    # --- the namespace controller ----------------------------------------------------------------
    def _terminate_namespace(self, name: str) -> None:
        namespace = self.store.get(NAMESPACES, "", name)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return
        remaining: dict[str, int] = {}
        held: dict[str, int] = {}
        for store_key in self.store.kinds():
            resource = self.registry.served_storage_type(store_key)
            if store_key == NAMESPACES or resource is None:  # a deleted CRD took its objects with it
                continue
            for obj in list(self.store.all_of(store_key)):
                if obj["metadata"].get("namespace") != name:
                    continue
                if not obj["metadata"].get("deletionTimestamp"):
                    try:
                        delete(self.store, resource, name, obj["metadata"]["name"], now=self._now)
                    except ApiError:
                        pass
                left = self.store.get(store_key, name, obj["metadata"]["name"])
                if left is not None:
                    remaining[resource.group_resource] = remaining.get(resource.group_resource, 0) + 1
                    for finalizer in left["metadata"].get("finalizers") or []:
                        held[finalizer] = held.get(finalizer, 0) + 1
        namespace = self.store.get(NAMESPACES, "", name)
        if namespace is None:
            return
        new = dict(namespace, status=dict(namespace.get("status") or {}, phase="Terminating",
                                          conditions=self._conditions(namespace, remaining, held)))
        if not remaining:
            spec = dict(new.get("spec") or {})
            spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != NAMESPACE_FINALIZER]
            new["spec"] = spec
        if new != namespace:
            commit_update(self.store, NAMESPACES, namespace, new)

    def _conditions(self, namespace: dict, remaining: dict[str, int], held: dict[str, int]) -> list[dict]:
        previous = {c.get("type"): c for c in (namespace.get("status") or {}).get("conditions") or []}

        def condition(kind: str, status: bool, reason: str, message: str) -> dict:
            old = previous.get(kind) or {}
            since = old.get("lastTransitionTime") if old.get("status") == ("True" if status else "False") else None
            return {"type": kind, "status": "True" if status else "False", "lastTransitionTime": since or self._now(),
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


__all__ = ["Collector", "FOREGROUND", "ORPHAN", "check_update", "commit_update", "delete", "propagation_policy"]
