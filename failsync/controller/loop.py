"""The loop behind ``failsync run``: watches feed caches, an index maps each change to
the policies it touches, workers reconcile them one at a time per object.

Owns: which kinds are watched (TrafficSplits, EndpointSlices or Endpoints,
Services), the index service -> policies, the policy files and adopted
TrafficSplits as the current policy set, periodic resync, leader election
(only the leader writes; standbys keep their caches warm), Events and metrics
after each write, and a graceful shutdown (the write in flight finishes, the
lease is released).
Never does: decide, render, diff or write by itself: every object goes through
``SyncEngine.reconcile``, the same code ``failsync sync`` runs.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from failsync.backoff import Backoff
from failsync.controller.policy_files import PolicyFiles
from failsync.controller.queue import WorkQueue
from failsync.core import health
from failsync.core.adoption import parse_selector
from failsync.core.model import DEFAULT_ADOPT_SELECTOR, HealthSource, Policy, Rule, Target
from failsync.core.targets import KINDS, TRAFFIC_SPLIT
from failsync.core.rendering import Renderer
from failsync.errors import ApiError, FailsyncError
from failsync.kube import ENDPOINT_SLICES, ENDPOINTS, SERVICES, KubeClient, Resource
from failsync.kube.events import FAILED_BACK, FAILED_OVER, EventRecorder, transition
from failsync.kube.instrument import count_requests
from failsync.kube.lease import LeaderElector, default_identity
from failsync.kube.watch import Change, Store, Watcher, detached
from failsync.observability import Metrics, ProbeServer
from failsync.sync import Outcome, Snapshot, SyncEngine, kind_of, resolve_source

log = logging.getLogger(__name__)

#: Policies a resync checks between two hand-overs of the GIL (about 0.5 ms of work).
RESYNC_CHUNK = 50


@dataclass
class LoopOptions:
    """What ``failsync run`` was asked to do."""

    paths: Sequence[str | Path] = ("policies",)
    resync: float = 60.0
    adopt: bool = False
    selector: str = DEFAULT_ADOPT_SELECTOR
    workers: int = 4
    leader_elect: bool = False
    lease_name: str = "failsync"
    lease_namespace: str = "default"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = field(default_factory=default_identity)
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"
    policy_poll: float = 0.5
    watch_timeout: float = 120.0
    shutdown_grace: float = 30.0


def _service_of_slice(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    metadata = obj.get("metadata") or {}
    service = (metadata.get("labels") or {}).get(health.SERVICE_NAME_LABEL)
    return (detached(metadata.get("namespace") or "default"), detached(service)) if service else None


def _slice_readiness(obj: Mapping[str, Any]) -> health.SliceReadiness:
    """What the ready count needs of an EndpointSlice, its strings copied out of the decoded LIST."""
    return health.slice_readiness(obj, keep=detached)


def _interned(value: Any) -> Any:
    """A copy of a decoded JSON value sharing its mapping keys with every other cached object.

    Each watch event is its own JSON document, so without this 10,000 cached TrafficSplits
    each hold private copies of "apiVersion", "metadata", "backends" and the rest.
    """
    if isinstance(value, dict):
        return {sys.intern(key) if isinstance(key, str) else key: _interned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_interned(item) for item in value]
    return detached(value)


def _present(obj: Mapping[str, Any]) -> bool:
    """Services are watched only to re-trigger their policies: the cache keeps their keys, not their content."""
    return True


def _projection(resource: Resource) -> Any:
    """What the cache of ``resource`` keeps of each object (None: the whole object)."""
    if resource == ENDPOINT_SLICES:
        return _slice_readiness
    if resource == ENDPOINTS:
        return health.ready_from_endpoints  # the ready count is all the loop reads of an Endpoints
    if resource == SERVICES:
        return _present
    return _interned  # TrafficSplits: the whole live object, diffed against the desired one


def _version_of(obj: Mapping[str, Any] | None) -> str | None:
    return ((obj.get("metadata") or {}).get("resourceVersion") if obj is not None else None)


def _own_name(obj: Mapping[str, Any]) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return metadata.get("namespace") or "default", metadata.get("name", "")


@dataclass(frozen=True)
class _Inputs:
    """What one reconcile reads: the policy, its TrafficSplit cache and cached object, ready counts."""

    key: str
    policy: Policy
    store: Store | None
    cached: Mapping[str, Any] | None
    ready: dict[str, int]


class Controller:
    """One cluster's loop. ``run()`` blocks until ``stop()``; tests may run it in a thread."""

    def __init__(self, client: KubeClient, options: LoopOptions, *, renderer: Renderer | None = None,
                 metrics: Metrics | None = None) -> None:
        parse_selector(options.selector)  # a bad selector fails before anything starts
        self.client = client
        self.options = options
        # The loop reports each write that moves traffic itself (with its reaction time), and at
        # 10,000 policies an INFO line per created object would cost more than the write.
        self.engine = SyncEngine(client, renderer=renderer, write_log_level=logging.DEBUG)
        self.metrics = metrics or Metrics()
        self.queue = WorkQueue()
        self.files = PolicyFiles(options.paths, allow_missing=options.adopt)
        self.events = EventRecorder(client, instance=options.identity, background=True,
                                    on_sent=lambda reason: self.metrics.events.inc(reason=reason))
        self.elector: LeaderElector | None = None
        self.probes: ProbeServer | None = None
        self._lock = threading.RLock()
        self._file_policies: dict[str, Policy] = {}
        self._adopted: dict[str, Policy] = {}
        self._policies: dict[str, Policy] = {}
        self._by_service: dict[tuple[str, str], tuple[str, ...]] = {}
        self._reported_errors: set[str] = set()
        self._watchers: dict[Resource, Watcher] = {}
        self._slices_served = False
        self._adopt_version: str | None = None
        self._stopping = threading.Event()
        self._started = threading.Event()
        self._threads: list[threading.Thread] = []
        # key -> the inputs of its last successful reconcile (policy, ready counts, live resourceVersion):
        # a reconcile with the same inputs would decide, render and diff to the same "nothing to write".
        self._settled: dict[str, tuple[Policy, dict[str, int], str | None]] = {}
        count_requests(client, lambda verb, code: self.metrics.api_requests.inc(verb=verb, code=code))

    # ------------------------------------------------------------------ lifecycle

    @property
    def is_leader(self) -> bool:
        """Whether this replica may write (always, without leader election)."""
        return self.elector is None or self.elector.is_leader

    @property
    def synced(self) -> bool:
        """Whether every watch has listed once (the caches are usable)."""
        return self._started.is_set() and all(w.synced.is_set() for w in list(self._watchers.values()))

    def readiness(self) -> tuple[bool, str]:
        """For /readyz: ready once the caches are synced; says leader or standby."""
        role = "leader" if self.is_leader else "standby"
        if not self.synced:
            return False, f"not ready: caches not synced ({role})"
        return True, f"ok: {role}"

    @property
    def policies(self) -> dict[str, Policy]:
        """The policies currently managed, by ``namespace/name``."""
        with self._lock:
            return dict(self._policies)

    @property
    def policy_errors(self) -> tuple[FailsyncError, ...]:
        """Errors of the policy files as last read (the last good versions stay in force)."""
        return self.files.current.errors

    def stop(self) -> None:
        """Ask ``run()`` to shut down gracefully (safe from a signal handler)."""
        self._stopping.set()

    def run(self) -> None:
        """Start everything, serve until ``stop()``, then shut down gracefully."""
        try:
            self._start()
            self._stopping.wait()
        finally:
            self._shutdown()

    def _start(self) -> None:
        if self.options.metrics_port is not None:
            self.probes = ProbeServer(self.metrics, ready=self.readiness, healthy=lambda: not self._stopping.is_set(),
                                      host=self.options.metrics_host, port=self.options.metrics_port).start()
            log.info("serving /metrics, /healthz and /readyz on %s:%d", self.options.metrics_host, self.probes.port)
        if not self._discover():
            return
        self.files.poll()
        self._reload_policy_files()
        self._started.set()
        self._ensure_watchers()
        self._spawn(self._tick, "policy-files")
        if self.options.leader_elect:
            self.elector = LeaderElector(
                self.client, name=self.options.lease_name, namespace=self.options.lease_namespace,
                identity=self.options.identity, lease_duration=self.options.lease_duration,
                renew_deadline=self.options.renew_deadline, retry_period=self.options.retry_period,
                on_started_leading=self._on_started_leading, on_stopped_leading=self._on_stopped_leading)
            self.elector.start()
        else:
            self.metrics.leader.set(1)
        while not self.synced:  # reconciling from half-filled caches would write wrong things
            if self._stopping.wait(0.05):
                return
        log.info("caches synced: %d policies", len(self._policies))
        for index in range(self.options.workers):
            self._spawn(self._work, f"reconcile-{index}")

    def _discover(self) -> bool:
        """Ask the server what it serves, retrying with backoff while it is unreachable."""
        backoff = Backoff(0.2, 5.0)
        while not self._stopping.is_set():
            try:
                self._slices_served = self.client.serves_endpoint_slices()
                if self.options.adopt:
                    self._adopt_version = self.client.traffic_split_resource().api_version
                return True
            except ApiError as error:
                delay = backoff.next_delay(getattr(error, "retry_after", None))
                log.warning("cannot start yet: %s; retrying in %.1fs", error, delay)
                self._stopping.wait(delay)
        return False

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _shutdown(self) -> None:
        self._stopping.set()
        self.queue.shutdown()
        if not self.queue.wait_idle(self.options.shutdown_grace):
            log.warning("shutdown: a reconcile was still running after %.0fs", self.options.shutdown_grace)
        self.events.close(self.options.shutdown_grace)
        for watcher in self._watchers.values():
            watcher.stop()
        if self.elector is not None:
            self.elector.stop(release=True)
        if self.probes is not None:
            self.probes.stop()
        log.info("failsync stopped")

    def _on_started_leading(self) -> None:
        self._settled.clear()  # another replica may have written while we were standing by
        self.metrics.leader.set(1)
        self._enqueue_all()

    def _on_stopped_leading(self) -> None:
        self.metrics.leader.set(0)

    # ------------------------------------------------------------------ watches

    def _needed_resources(self) -> list[Resource]:
        with self._lock:
            policies = list(self._policies.values())
        wanted = {kind_of(p.target) for p in policies}
        if self._adopt_version:
            wanted.add(Target(TRAFFIC_SPLIT, self._adopt_version))
        resources: list[Resource] = []
        for target in sorted(wanted, key=lambda t: (t.kind, t.api_version)):
            try:
                resources.append(self.client.target_resource(target))
            except ApiError as error:
                log.error("%s", error)
        default = HealthSource.ENDPOINTSLICES if self._slices_served else HealthSource.ENDPOINTS
        sources = {resolve_source(p, self._slices_served) for p in policies} or {default}
        if HealthSource.ENDPOINTSLICES in sources and self._slices_served:
            resources.append(ENDPOINT_SLICES)
        if HealthSource.ENDPOINTS in sources:
            resources.append(ENDPOINTS)
        resources.append(SERVICES)
        return resources

    def _ensure_watchers(self) -> None:
        """Start a watcher for every kind the current policies need (never stops one)."""
        if not self._started.is_set():
            return
        for resource in self._needed_resources():
            with self._lock:
                if resource in self._watchers:
                    continue
                watcher = Watcher(
                    self.client, resource, store=Store(_service_of_slice if resource == ENDPOINT_SLICES else None,
                                                       project=_projection(resource)),
                    on_change=lambda change, r=resource: self._on_change(r, change),
                    on_resync=self._enqueue_all,
                    on_restart=lambda reason, r=resource: self.metrics.watch_restarts.inc(
                        resource=r.qualified, reason=reason),
                    watch_timeout=self.options.watch_timeout)
                self._watchers[resource] = watcher
            watcher.start()

    def store(self, resource: Resource) -> Store | None:
        """The cache of a watched kind, or None when it is not watched."""
        watcher = self._watchers.get(resource)
        return watcher.store if watcher else None

    def _on_change(self, resource: Resource, change: Change) -> None:
        if resource.kind in KINDS:
            key = change.key
            if self._adopt_version == resource.api_version:
                self._readopt(resource.api_version, key, change.new)
            with self._lock:
                known = key in self._policies
            if known:
                self.queue.add(key)
            return
        if resource == ENDPOINT_SLICES:
            touched = {service for service in change.indexed if service}
        else:  # Endpoints and Services are named after their service
            namespace, _, name = change.key.rpartition("/")
            touched = {(namespace or "default", name)}
        with self._lock:
            keys = set().union(*(self._by_service.get(service, ()) for service in touched))
        for key in keys:
            self.queue.add(key)

    # ------------------------------------------------------------------ policies

    def _readopt(self, version: str, key: str, obj: Mapping[str, Any] | None) -> None:
        """Keep ``_adopted`` in step with one hand-written TrafficSplit (drop-in mode)."""
        adopted: Policy | None = None
        if obj is not None:
            namespace, name = _own_name(obj)
            with self._lock:
                taken = {(namespace, name)} if key in self._file_policies else set()
            found, failures = self.engine.adopted_policies(
                Snapshot(objects={Target(TRAFFIC_SPLIT, version): {(namespace, name): dict(obj)}}),
                Target(TRAFFIC_SPLIT, version),
                self.options.selector, taken)
            adopted = found[0] if found else None
            for failure in failures:
                self._report(f"{failure.key}: {failure.message}")
        with self._lock:
            if self._adopted.get(key) == adopted:
                return
            if adopted is None:
                self._adopted.pop(key, None)
            else:
                self._adopted[key] = adopted
        self._publish_policies()

    def _reload_policy_files(self) -> None:
        """Take the policy files as last polled."""
        current = self.files.current
        with self._lock:
            self._file_policies = {p.key: p for p in current.policies}
        for error in current.errors:
            self._report(self.files.describe(error))
        self.metrics.policy_errors.set(len(current.errors))
        self._publish_policies()

    def _report(self, message: str) -> None:
        """Log an error once per distinct message (the loop re-reads often)."""
        if message not in self._reported_errors:
            if len(self._reported_errors) > 10000:  # bounded memory under a storm of distinct errors
                self._reported_errors.clear()
            self._reported_errors.add(message)
            log.error("%s", message)

    def _publish_policies(self) -> None:
        """Recompute the merged policy set and the index; enqueue what was added or changed."""
        with self._lock:
            merged = {**self._adopted, **self._file_policies}  # a policy file wins over an adopted object
            previous, self._policies = self._policies, merged
            index: dict[tuple[str, str], tuple[str, ...]] = {}
            for key, policy in merged.items():
                for service in set(policy.services):
                    service_key = (policy.namespace, service)
                    index[service_key] = index.get(service_key, ()) + (key,)  # tuples: 25,000 sets weigh 5 MB
            self._by_service = index
        self.metrics.policies.set(len(merged))
        for key in previous.keys() - merged.keys():
            policy = previous[key]
            log.info("policy %s is no longer managed (its object is left as it is)", key)
            self.metrics.forget_policy(policy.namespace, policy.name)
            self._settled.pop(key, None)
            self.events.forget(policy.target.kind, key)
        changed = [key for key, policy in merged.items() if previous.get(key) != policy]
        if changed:
            self._ensure_watchers()
        for key in changed:
            self.queue.add(key)

    def _enqueue_all(self) -> None:
        """Queue every policy whose inputs changed since its last reconcile, behind the keys of watch
        events (a resync is a safety net, never urgent); count the others as unchanged.

        The memo is checked here, on the caller's thread, so a resync of 10,000 converged policies
        is one short pass instead of 10,000 hand-offs between workers; it gives the GIL away
        between chunks so a reaction in flight never waits behind it.
        """
        if not self.is_leader:
            return  # a standby writes nothing; taking the lead queues every policy
        with self._lock:
            keys = list(self._policies)
        stale = []
        for index, key in enumerate(keys):
            if index % RESYNC_CHUNK == 0:
                time.sleep(0)
            inputs = self._inputs(key)
            if inputs is None or not self._is_settled(inputs):
                stale.append(key)
        if len(keys) > len(stale):
            self.metrics.reconciles.inc(len(keys) - len(stale), result=Outcome.UNCHANGED.value)
        self.queue.add_all(stale, resync=True)

    def _tick(self) -> None:
        """Poll the policy files; resync every ``resync`` seconds."""
        next_resync = time.monotonic() + self.options.resync
        while not self._stopping.wait(self.options.policy_poll):
            try:
                if self.files.poll():
                    self._reload_policy_files()
            except Exception:  # a file system hiccup must not end the loop
                log.exception("reading the policy files failed; retrying")
            if time.monotonic() >= next_resync:
                next_resync = time.monotonic() + self.options.resync
                log.debug("periodic resync of %d policies", len(self._policies))
                self._enqueue_all()
            self.metrics.queue_depth.set(len(self.queue))

    # ------------------------------------------------------------------ reconcile

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            key, since = item
            try:
                self._reconcile(key, since)
            except Exception:  # one broken object never stops the workers
                log.exception("reconcile of %s failed", key)
                self.metrics.reconciles.inc(result="error")
                self.queue.retry(key)
            finally:
                self.queue.done(key)

    def ready_counts(self, policy: Policy) -> dict[str, int]:
        """Ready endpoints of each backend of ``policy``, from the caches."""
        source = resolve_source(policy, self._slices_served)
        counts = {}
        for service in policy.services:
            if source is HealthSource.ENDPOINTSLICES:
                store = self.store(ENDPOINT_SLICES)
                counts[service] = health.count_ready(store.by_index((policy.namespace, service))) if store else 0
            else:
                store = self.store(ENDPOINTS)
                counts[service] = (store.get(f"{policy.namespace}/{service}") or 0) if store else 0
        return counts

    def _inputs(self, key: str) -> _Inputs | None:
        """What a reconcile of ``key`` starts from, from the caches; None when it is not managed."""
        with self._lock:
            policy = self._policies.get(key)
        if policy is None:
            return None
        store = self.store(self.client.target_resource(policy.target))
        return _Inputs(key, policy, store, store.get(key) if store else None, self.ready_counts(policy))

    def _is_settled(self, inputs: _Inputs) -> bool:
        """Whether the last successful reconcile had the same inputs (so it would write nothing again)."""
        return self._settled.get(inputs.key) == (inputs.policy, inputs.ready, _version_of(inputs.cached))

    def _reconcile(self, key: str, since: float) -> None:
        inputs = self._inputs(key)
        if inputs is None or not self.is_leader:
            return
        if self._is_settled(inputs):
            self.metrics.reconciles.inc(result=Outcome.UNCHANGED.value)  # same inputs, same "nothing to write"
            return
        policy, store, cached, ready = inputs.policy, inputs.store, inputs.cached, inputs.ready
        live = dict(cached) if cached is not None else None
        for service, count in ready.items():
            self.metrics.ready_endpoints.set(count, namespace=policy.namespace, name=policy.name, backend=service)
        started = time.monotonic()
        result = self.engine.reconcile(policy, live, ready)
        landed = time.monotonic()
        self.metrics.reconciles.inc(result=result.outcome.value)
        if result.outcome is Outcome.FAILED:
            self._settled.pop(key, None)
            delay = self.queue.retry(key)
            log.warning("%s: %s (retrying in %.1fs)", key, result.message, delay)
            return
        self.queue.forget(key)
        decision = result.decision
        if decision is None:
            self._settled.pop(key, None)
            return
        self.metrics.active_backends.set(len(decision.active), namespace=policy.namespace, name=policy.name)
        if result.written is not None and store is not None and store.get(key) is cached:
            store.put(result.written)  # the watch event follows; until then the cache must not be stale
        settled_on = result.written if result.written is not None else cached
        if decision.rule is Rule.FAILBACK_HELD or (result.changed and result.written is None):
            self._settled.pop(key, None)  # a held failback changes with the clock alone; re-decide each time
        else:
            self._settled[key] = (policy, ready, _version_of(settled_on))
        if result.changed:
            self.metrics.decision_to_write.observe(landed - started)
            self._after_write(policy, live, result.live_weights, decision.weights, landed - since)
        if decision.rule is Rule.FAILBACK_HELD and decision.primary_healthy_since is not None:
            remaining = decision.primary_healthy_since + policy.hold_seconds - self.engine.clock()
            self.queue.add_after(key, max(remaining, 0) + 0.05)

    def _after_write(self, policy: Policy, live: Mapping[str, Any] | None, before: Mapping[str, int] | None,
                     after: Mapping[str, int], reaction: float) -> None:
        """Metrics, an Event and a log line when a write moved traffic."""
        self.metrics.reaction.observe(reaction)
        change = transition(policy.primary, before, after)
        if change is None:
            return
        reason, message = change
        counter = self.metrics.failovers if reason == FAILED_OVER else self.metrics.failbacks
        counter.inc(namespace=policy.namespace, name=policy.name)
        log.info("%s %s in %.1f ms (from the watch event to the write landing): %s", policy.key,
                 "failed over" if reason == FAILED_OVER else "failed back" if reason == FAILED_BACK else reason,
                 reaction * 1000, message, extra={"policy": policy.key, "reaction_ms": round(reaction * 1000, 1)})
        involved = live or {"apiVersion": policy.target.api_version, "kind": policy.target.kind,
                            "metadata": {"name": policy.name, "namespace": policy.namespace}}
        self.events.record(involved, reason, message)  # sent in the background; counted once sent
