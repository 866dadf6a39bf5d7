"""FailoverPolicy objects as a policy source of the loop (``failsync run --source cluster|all``).

Owns: watching FailoverPolicy objects (every namespace, or one), turning each into a Policy
(or the field path and message of why it is invalid: one invalid object never stops the
others), merging them with the policy files (``--source all``; the same object rendered by
a file and an object is a conflict reported on both, the file's policy kept), the status of
each object (written through the status subresource, only when it changes), and the
ownerReference from every object rendered for a FailoverPolicy to it. Additive to the loop:
``ClusterController`` is ``Controller`` with these hooks.
Never does: decide, render, diff or write a route by itself.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Mapping

from failsync.controller.loop import Controller, LoopOptions
from failsync.core.model import POLICY_API_VERSION, POLICY_KIND, Policy
from failsync.core.policy_schema import PolicyDocument
from failsync.core.policy_status import converged_status, failed_status, same_status, stalled_status
from failsync.errors import ApiError, NotFound, PolicyError
from failsync.kube import KubeClient
from failsync.kube.resources import FAILOVER_POLICIES
from failsync.kube.watch import Change, Store, Watcher
from failsync.sync import ObjectResult, Outcome

log = logging.getLogger(__name__)

def object_policy(obj: Mapping[str, Any]) -> tuple[Policy | None, list[tuple[str, str]]]:
    """The policy of a FailoverPolicy object, or the (field path, message) of each problem."""
    policy, errors = _checked(obj)
    return policy, [((error.location.key if error.location else None) or "spec", error.message) for error in errors]


def _checked(obj: Mapping[str, Any]) -> tuple[Policy | None, list[PolicyError]]:
    """The policy of a FailoverPolicy object, or the validator's errors (located at the object)."""
    metadata = obj.get("metadata") or {}
    document = {"apiVersion": POLICY_API_VERSION, "kind": POLICY_KIND, "spec": obj.get("spec"),
                "metadata": {key: metadata[key] for key in ("name", "namespace", "labels") if key in metadata}}
    # The generation is part of where the policy comes from: a new generation is a new policy to
    # reconcile, so its status reports it (observedGeneration) even when the spec means the same.
    where = f"FailoverPolicy {metadata.get('namespace')}/{metadata.get('name')} (generation {metadata.get('generation')})"
    checked = PolicyDocument(where, lines={})
    policy = checked.validate(document)
    return (policy if not checked.errors else None), list(checked.errors)


def list_objects(client: KubeClient, namespace: str | None = None) -> list[dict[str, Any]]:
    """The FailoverPolicy objects of the cluster (one LIST); without the CRD, an error that says to install it."""
    try:
        return list(client.list(FAILOVER_POLICIES, namespace=namespace).items)
    except NotFound as error:
        raise NotFound(f"{error}; is the FailoverPolicy CRD installed? (failsync crd | kubectl apply -f -)",
                       status=error.status, reason=error.reason) from None


def live_policies(client: KubeClient, namespace: str | None = None) -> tuple[list[Policy], list[PolicyError]]:
    """The policies of the FailoverPolicy objects in the cluster (one LIST), and the errors of invalid ones."""
    policies: list[Policy] = []
    errors: list[PolicyError] = []
    for obj in list_objects(client, namespace):
        policy, problems = _checked(obj)
        if policy is not None:
            policies.append(policy)
        errors.extend(problems)
    return policies, errors


def merge_sources(objects: Mapping[str, Policy], files: Mapping[str, Policy]) -> tuple[dict[str, Policy], dict[str, str]]:
    """The policies of both sources by key, and for each key both render, why the file's policy is kept."""
    merged = dict(objects)
    conflicts: dict[str, str] = {}
    for key, policy in files.items():
        if key in merged:
            conflicts[key] = (f"the policy file {policy.location} renders the same {policy.target.kind} {key}; "
                              f"the file's policy is kept: rename one of them")
        merged[key] = policy
    return merged, conflicts


def owner_reference(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The ownerReference of an object failsync renders for a FailoverPolicy (deleted with it)."""
    metadata = obj.get("metadata") or {}
    return {"apiVersion": POLICY_API_VERSION, "kind": POLICY_KIND, "name": metadata.get("name", ""),
            "uid": metadata.get("uid", ""), "controller": True}


class _OwnedRenderer:
    """The loop's renderer, adding the ownerReference of a policy that comes from an object."""

    def __init__(self, inner: Any, owner_of: Any) -> None:
        self._inner = inner
        self._owner_of = owner_of

    def render(self, policy: Policy, *args: Any, **kwargs: Any) -> dict[str, Any]:
        rendered = self._inner.render(policy, *args, **kwargs)
        owner = self._owner_of(policy.key)
        if owner is not None:
            rendered.setdefault("metadata", {})["ownerReferences"] = [owner]
        return rendered

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class ClusterController(Controller):
    """The loop with FailoverPolicy objects as policies (``source`` cluster: only them; all: and files)."""

    def __init__(self, client: KubeClient, options: LoopOptions, *, source: str = "cluster",
                 namespace: str | None = None, **kwargs: Any) -> None:
        if source == "cluster":
            options.paths = ()
        super().__init__(client, options, **kwargs)
        self.source = source
        self.namespace = namespace
        self._lock = threading.Lock()
        self._objects: dict[str, Mapping[str, Any]] = {}   # key -> the live FailoverPolicy object
        self._object_policies: dict[str, Policy] = {}     # key -> its policy (valid objects only)
        self._conflicts: dict[str, str] = {}              # key -> why the file's policy is kept instead
        # Per object: the check that a status still describes it and the write of that status happen
        # under one lock, so a worker's Ready=True cannot land after the watch's Stalled=True for it.
        self._status_locks: dict[str, threading.Lock] = {}
        self.engine.renderer = _OwnedRenderer(self.engine.renderer, self._owner_of)  # type: ignore[assignment]
        reconcile = self.engine.reconcile

        def reconcile_and_report(policy: Policy, live: Any, ready: Any, **more: Any) -> ObjectResult:
            result = reconcile(policy, live, ready, **more)
            self._report_status(policy, result)
            return result

        self.engine.reconcile = reconcile_and_report  # type: ignore[method-assign]
        self.policy_watcher: Watcher | None = None

    # -- the source ------------------------------------------------------------------------------

    def _start(self) -> None:
        # Watched before the loop starts its workers: they begin once every cache (this one too) has
        # listed. Without the CRD installed the watch retries with backoff and /readyz stays not ready.
        self.policy_watcher = Watcher(self.client, FAILOVER_POLICIES, store=Store(), namespace=self.namespace,
                                      on_change=self._on_policy_object, retry=self.options.retry,
                                      watch_timeout=self.options.watch_timeout, spawn=self.supervisor.spawn)
        self.policy_watcher.start()
        super()._start()

    def _shutdown(self) -> None:
        # The loop's own caches are stopped by the base class; this watch is the source's.
        if self.policy_watcher is not None:
            self.policy_watcher.stop()
        super()._shutdown()

    @property
    def synced(self) -> bool:
        watcher = self.policy_watcher
        return super().synced and watcher is not None and watcher.synced.is_set()

    def _on_policy_object(self, change: Change) -> None:
        obj = change.new if change.type != "DELETED" else None
        key = change.key
        invalid: str | None = None
        with self._lock:
            if obj is None:
                self._objects.pop(key, None)
                self._object_policies.pop(key, None)
                self._status_locks.pop(key, None)
            else:
                self._objects[key] = obj
                policy, problems = object_policy(obj)
                if policy is None:
                    self._object_policies.pop(key, None)
                    path, message = problems[0]
                    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                    invalid = f"{path}: {message}{more}"
                else:
                    self._object_policies[key] = policy
        if invalid is not None:
            self._report(f"FailoverPolicy {key}: {invalid} (skipped)")
            self._write_status(key, lambda previous, generation: stalled_status(
                "InvalidSpec", invalid, generation, previous, self.engine.clock()),
                still=lambda: key not in self._object_policies)
        self._reload_policy_files()

    def _reload_policy_files(self) -> None:
        """The index: the objects' policies, and with ``--source all`` the files' (a file wins a conflict)."""
        files: dict[str, Policy] = {}
        if self.source == "all":
            current = self.files.current
            for error in current.errors:
                self._report(f"{error} (skipped; a previous good version of the policy stays in force)")
            self.metrics.policy_errors.set(len(current.errors))
            files = {p.key: p for p in current.policies}
        with self._lock:
            merged, conflicts = merge_sources(self._object_policies, files)
            new_conflicts = {k: v for k, v in conflicts.items() if self._conflicts.get(k) != v}
            self._conflicts = conflicts
        for key, why in new_conflicts.items():
            self._report(f"FailoverPolicy {key} conflicts with a policy file: {why}")
            self._write_status(key, lambda previous, generation, why=why: stalled_status(
                "Conflict", why, generation, previous, self.engine.clock()),
                still=lambda key=key, why=why: self._conflicts.get(key) == why)
        self._apply(self.index.set_files(merged))

    def _owner_of(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            if key in self._conflicts or key not in self._object_policies:
                return None
            obj = self._objects.get(key)
        return owner_reference(obj) if obj is not None else None

    # -- status ----------------------------------------------------------------------------------

    def _report_status(self, policy: Policy, result: ObjectResult) -> None:
        def current() -> bool:  # not a file's policy, nor an object replaced (or made invalid) meanwhile
            return self._object_policies.get(policy.key) == policy and policy.key not in self._conflicts

        now = self.engine.clock()
        if result.outcome is Outcome.FAILED or result.decision is None:
            self._write_status(policy.key, lambda previous, generation: failed_status(
                policy, result.message, generation, previous, now), still=current)
        else:
            decision = result.decision
            self._write_status(policy.key, lambda previous, generation: converged_status(
                policy, decision, generation, previous, now), still=current)

    def _write_status(self, key: str, compute: Any, *, still: Any) -> None:
        """Write the status ``compute(previous, generation)`` gives while ``still()`` holds (checked under
        the object's status lock, with the write), unless it is the one in place."""
        with self._lock:
            lock = self._status_locks.setdefault(key, threading.Lock())
        with lock:
            self._write_status_locked(key, compute, still)

    def _write_status_locked(self, key: str, compute: Any, still: Any) -> None:
        with self._lock:
            obj = self._objects.get(key)
            if obj is None or not still():
                return
        if self._stopping.is_set() or not self._may_write():
            return  # stopped: a watch event still in delivery writes nothing
        metadata = obj.get("metadata") or {}
        previous = obj.get("status")
        status = compute(previous, metadata.get("generation"))
        if same_status(previous, status):
            return
        namespace, _, name = key.rpartition("/")
        # A merge patch keeps the keys it does not name: null removes those of the previous status
        # (a Stalled status has no backends), so what is stored is exactly ``status``.
        removed = {field: None for field in previous or {} if field not in status}
        try:
            written = self.client.patch_status(FAILOVER_POLICIES, namespace, name, {**removed, **status})
        except ApiError as error:
            log.warning("FailoverPolicy %s: status not written: %s", key, error)
            return
        with self._lock:
            # The watch event follows; until then compare with what was written (unless a newer event came).
            if self._objects.get(key) is obj:
                self._objects[key] = written
