"""The garbage collector of one cluster: dependents through ``ownerReferences`` are deleted or
orphaned as their owners go, on one worker thread per cluster that does, after the write that
triggered it (asynchronously, as on a real cluster), what the garbage collector and the namespace
controller do.

Owns: the owner index, the work queue and its thread, owner states (solid, dangling, waiting) and
the ``orphan``/``foregroundDeletion`` finalizers' work. Never does: HTTP, or what a DELETE answers
(``deletion``).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable

from failsync.sandbox import namespace_controller, resources
from failsync.sandbox.deletion import FOREGROUND, NAMESPACES, ORPHAN, commit_update, delete
from failsync.sandbox.status import ApiError
from failsync.sandbox.store import Change, Store

log = logging.getLogger(__name__)
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

    def _terminate_namespace(self, name: str) -> None:
        namespace_controller.terminate(self.store, self.registry, name, self._now)


__all__ = ["Collector"]
