"""The loop behind ``failsync run``: the wiring of its parts (gitops-engine's engine, small).

The caches (``caches``: one watcher per kind) tell every change; the policy index
(``index``) maps it to the policies it touches; the work queue hands each key to one
worker at a time; the reconciler (``reconciler``) reconciles it through
``SyncEngine.reconcile``, the code ``failsync sync`` runs. Every long-lived thread
(policy files + resync, workers, watchers, lease, event sender) runs under one
``Supervisor``. Owns: start-up (discovery retried with backoff), the policy files and
adopted TrafficSplits as the current policy set, periodic resync, leader election
(only the leader writes; standbys keep their caches warm), the probes, and a bounded
graceful shutdown (the write in flight finishes, the queue is abandoned, Events get a
short budget, the lease is released).
Never does: decide, render, diff or write by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from failsync import collector
from failsync.backoff import DEFAULT_RETRY, RetryPolicy
from failsync.controller.caches import Caches
from failsync.controller.index import IndexChange, PolicyIndex
from failsync.controller.policy_files import PolicyFiles
from failsync.controller.queue import OBJECT, RESYNC, WorkQueue
from failsync.controller.reconciler import Reconciler
from failsync.clusters import RemoteCluster
from failsync.core.adoption import adoption_view, parse_selector
from failsync.core.model import DEFAULT_ADOPT_SELECTOR, Policy, Target
from failsync.core.targets import DEFAULT_ROUTE_SELECTOR, KINDS, TRAFFIC_SPLIT, is_route
from failsync.core.rendering import Renderer
from failsync.errors import ApiError, FailsyncError
from failsync.kube import ENDPOINT_SLICES, SERVICES, KubeClient, Resource
from failsync.kube.events import SHUTDOWN_BUDGET, EventRecorder
from failsync.kube.instrument import count_requests
from failsync.kube.lease import LeaderElector, default_identity
from failsync.kube.watch import MODIFIED, Change, Store, Watcher
from failsync.loading import DEFAULT_POLICY_PATH
from failsync.observability import Metrics, ProbeServer, default_metrics_host
from failsync.supervisor import Supervisor
from failsync.sync import Snapshot, SyncEngine

log = logging.getLogger(__name__)


@dataclass
class LoopOptions:
    """What ``failsync run`` was asked to do; these defaults are the CLI's defaults too."""

    paths: Sequence[str | Path] = (DEFAULT_POLICY_PATH,)
    resync: float = 60.0
    adopt: bool = False
    selector: str = DEFAULT_ADOPT_SELECTOR
    adopt_routes: bool = False
    route_selector: str = DEFAULT_ROUTE_SELECTOR
    workers: int = 4
    leader_elect: bool = False
    lease_name: str = "failsync"
    lease_namespace: str = "default"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = field(default_factory=default_identity)
    #: None: no probe server (tests); ``failsync run`` defaults to ``DEFAULT_METRICS_PORT``.
    metrics_port: int | None = None
    #: None: 0.0.0.0 inside a pod (a service account is mounted), else 127.0.0.1.
    metrics_host: str | None = None
    policy_poll: float = 0.5
    watch_timeout: float = 120.0
    #: Seconds from SIGTERM to exit, whatever the API server does: the write in flight finishes
    #: within it, the queue is abandoned, Events get at most ``SHUTDOWN_BUDGET`` of it.
    shutdown_timeout: float = 15.0
    #: How long to wait before trying again: watch reconnects, requeued reconciles, lease errors.
    retry: RetryPolicy = DEFAULT_RETRY
    #: Seconds between asking each remote cluster (``--cluster``) whether it answers.
    remote_probe_interval: float = 1.0


def _same_adoption(change: Change) -> bool:
    """Whether a watched hand-written object changed nothing adopting it reads (the echo of a weight
    patch, failsync's own or anyone's): adopting it again would give the same policy. At 10,000 adopted
    objects that is 10,000 adoptions on the watch thread saved at start-up, and one per reaction."""
    return (change.type == MODIFIED and change.old is not None and change.new is not None
            and adoption_view(change.old) == adoption_view(change.new))


class Controller:
    """One cluster's loop. ``run()`` blocks until ``stop()``; tests may run it in a thread."""

    def __init__(self, client: KubeClient, options: LoopOptions, *, renderer: Renderer | None = None,
                 metrics: Metrics | None = None, clock: Callable[[], float] = time.time,
                 clusters: Mapping[str, RemoteCluster] | None = None) -> None:
        parse_selector(options.selector)  # a bad selector fails before anything starts
        parse_selector(options.route_selector)
        self.client = client
        self.options = options
        self.metrics = metrics or Metrics()
        self.supervisor = Supervisor(retry=options.retry,
                                     on_error=lambda name: self.metrics.thread_errors.inc(thread=name))
        # On a Conflict a reconcile re-reads the object at once (one GET, no sleep on the worker) and writes
        # again: the cache may be far behind (a 410 re-list of 100,000 routes), a failover must not wait
        # for it. A Conflict after that requeues the key with backoff. The loop reports each write that
        # moves traffic itself (with its reaction time), and at 10,000 policies an INFO line per created
        # object would cost more than the write.
        self.engine = SyncEngine(client, renderer=renderer, write_log_level=logging.DEBUG, max_attempts=2,
                                 requeues_conflicts=True, clock=clock)  # the wall clock of holds, delays, pins
        self.queue = WorkQueue(retry=options.retry)
        self.files = PolicyFiles(options.paths, allow_missing=options.adopt or options.adopt_routes)
        self.events = EventRecorder(client, instance=options.identity, background=True,
                                    on_sent=lambda reason: self.metrics.events.inc(reason=reason),
                                    on_dropped=self.metrics.events_dropped.inc, spawn=self.supervisor.spawn)
        self.engine.events = self.events  # PinExpired when a write removes an expired pin
        self.index = PolicyIndex()
        self.caches = Caches(client, retry=options.retry, spawn=self._spawn_watch,
                             watch_timeout=options.watch_timeout, on_change=self._on_change,
                             on_resync=self._enqueue_all,
                             on_restart=lambda resource, reason: self.metrics.watch_restarts.inc(
                                 resource=resource.qualified, reason=reason))
        if clusters:  # SPEC §11: health read in other clusters too (failsync.controller.remote_caches)
            from failsync.controller.remote_caches import remote_aware  # only --cluster pays for the import

            self.caches = remote_aware(self, clusters, probe_interval=options.remote_probe_interval)
        # No reconcile reads the Services cache (its events only queue policies again), so its first LIST
        # is left until the start-up pass is over: at 10,000 policies 25,000 Services (12 MB) were listed,
        # encoded and decoded while the EndpointSlices were, before the first write (~1 s of the two cores).
        self.caches.unawaited = frozenset({SERVICES})
        self._held_watches: list[tuple[str, Callable[[], None]]] = []
        self.reconciler = Reconciler(self.engine, index=self.index, caches=self.caches, queue=self.queue,
                                     metrics=self.metrics, events=self.events, may_write=self._may_write)
        # Read when scraped, so no reading is stale by a tick (or taken before the first one).
        self.metrics.queue_depth.collect(lambda: [((), len(self.queue))])
        self.metrics.watches_unsynced.collect(lambda: [((), self.caches.unsynced())])
        self.elector: LeaderElector | None = None
        self.probes: ProbeServer | None = None
        #: Drop-in mode: each watched kind whose hand-written objects are policies -> (its target, selector).
        self._adopting: dict[Resource, tuple[Target, str]] = {}
        self._reported_errors: set[str] = set()
        self._waiting_for: str | None = "the API server's discovery"  # why the loop has not started yet
        self._stopping = threading.Event()
        self._started = threading.Event()
        #: Set when the reconcile workers start. Before, every managed policy is queued already (the
        #: start-up queues each one), so a health change (10,000 policies: ~50,000 listed Services
        #: and EndpointSlices) need not be mapped to its policies and queued again.
        self._working = threading.Event()
        #: Set when the start-up pass is over: every policy queued at start-up has had its reconcile
        #: (``queue.when_drained`` after the workers started), or the loop stops.
        self._started_up = threading.Event()
        self._startup_lock = threading.Lock()
        self._collector_paused = False
        self._startup_began = time.monotonic()
        self.queue.when_drained(self._end_startup)
        count_requests(client, lambda verb, code: self.metrics.api_requests.inc(verb=verb, code=code))

    # ------------------------------------------------------------------ state

    @property
    def is_leader(self) -> bool:
        """Whether this replica may write (always, without leader election)."""
        return self.elector is None or self.elector.is_leader

    @property
    def synced(self) -> bool:
        """Whether every watch has listed once (the caches are usable)."""
        return self._started.is_set() and self.caches.synced

    def healthy(self) -> bool:
        """For /healthz: running, and no thread keeps failing."""
        return not self._stopping.is_set() and not self.supervisor.failing

    def readiness(self) -> tuple[bool, str]:
        """For /readyz: ready once the caches are synced and writes can happen; says leader or standby."""
        role = "leader" if self.is_leader else "standby"
        if self._waiting_for is not None and not self._started.is_set():
            return False, f"not ready: cannot start yet: {self._waiting_for}"
        if not self.synced:
            return False, f"not ready: caches not synced ({role})"
        workers = [name for name in self.supervisor.failing if name.startswith("reconcile-")]
        if workers:
            return False, f"not ready: reconcile threads keep failing ({', '.join(workers)})"
        unserved = self.reconciler.unserved
        if unserved:
            return False, (f"not ready: {len(unserved)} polic{'y aims' if len(unserved) == 1 else 'ies aim'} at a "
                           f"kind the server does not serve: {next(iter(unserved.values()))}")
        if self.reconciler.forbidden is not None:
            return False, f"not ready: writes are forbidden: {self.reconciler.forbidden}"
        return True, f"ok: {role}"

    @property
    def policies(self) -> dict[str, Policy]:
        """The policies currently managed, by ``namespace/name``."""
        return self.index.snapshot()

    @property
    def policy_errors(self) -> tuple[FailsyncError, ...]:
        """Errors of the policy files as last read (the last good versions stay in force)."""
        return self.files.current.errors

    def store(self, resource: Resource) -> Store | None:
        """The cache of a watched kind, or None when it is not watched."""
        return self.caches.store(resource)

    # ------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Ask ``run()`` to shut down gracefully (call it from a thread, never from a signal handler)."""
        self._stopping.set()

    def run(self) -> None:
        """Start everything, serve until ``stop()``, then shut down within ``shutdown_timeout``."""
        try:
            self._start()
            self._stopping.wait()
        finally:
            self._shutdown()

    def _start(self) -> None:
        collector.pause()  # until the start-up pass is over (``_end_startup``)
        self._collector_paused = True
        if self.options.metrics_port is not None:
            host = self.options.metrics_host or default_metrics_host()
            self.probes = ProbeServer(self.metrics, ready=self.readiness, healthy=self.healthy,
                                      host=host, port=self.options.metrics_port).start()
            log.info("serving /metrics, /healthz and /readyz on %s:%d", host, self.probes.port)
        if not self._discover():
            return
        self.caches.start(list(self._adopting))  # the first LISTs overlap reading the policy files
        self.files.poll()
        self._reload_policy_files()
        self._started.set()
        # Policies indexed before the caches started (``--source cluster``: the FailoverPolicy watch
        # runs first) had nothing watched for them then.
        for policy in self.index.snapshot().values():
            self.caches.ensure_for(policy)
        self.supervisor.spawn("policy-files", self._tick)
        if self.options.leader_elect:
            self.elector = LeaderElector(
                self.client, name=self.options.lease_name, namespace=self.options.lease_namespace,
                identity=self.options.identity, lease_duration=self.options.lease_duration,
                renew_deadline=self.options.renew_deadline, retry_period=self.options.retry_period,
                on_started_leading=self._on_started_leading, on_stopped_leading=self._on_stopped_leading,
                retry=self.options.retry, spawn=self.supervisor.spawn)
            self.elector.start()
        else:
            self.metrics.leader.set(1)
        while not self.synced:  # reconciling from half-filled caches would write wrong things
            listing = [w.synced for w in list(self.caches.watchers.values()) if not w.synced.is_set()]
            (listing[0] if listing else self._stopping).wait(0.05)  # woken by the LIST, not the next tick
            if self._stopping.is_set():
                return
        log.info("caches synced: %d policies", len(self.index))
        self._startup_began = time.monotonic()
        self._working.set()
        for number in range(self.options.workers):
            self.supervisor.spawn(f"reconcile-{number}", self._work)
        if not self.queue.urgent and not self.queue.in_flight:  # nothing to do (or done already)
            self._end_startup()

    def _spawn_watch(self, name: str, target: Callable[[], None]) -> None:
        """The caches' threads, under the supervisor; the Services watch only once start-up is over, and
        the watches (not the LISTs) of target kinds then too: each create of the start-up pass would
        come back as an event (10,000 at 10,000 policies, each queued, encoded and sent by the API
        server and decoded here while the writes go on), which the written object in the cache makes
        moot. They start from their LIST's resourceVersion, so no change is missed, only told later."""
        watcher = getattr(target, "__self__", None)
        if isinstance(watcher, Watcher) and watcher is self.caches.watchers.get(watcher.resource):
            if watcher.resource == SERVICES:
                with self._startup_lock:
                    if not self._started_up.is_set():
                        self._held_watches.append((name, target))
                        return
            elif watcher.resource.kind in KINDS:
                watcher.watch_after = self._started_up
        self.supervisor.spawn(name, target)

    def _end_startup(self) -> None:
        """The start-up pass is over (the queue drained once after the workers started, or the loop
        stops): its creates are summed up, the Services watch starts, the collector runs again.
        Idempotent; called on whichever thread saw it."""
        if self._started_up.is_set() or not (self._working.is_set() or self._stopping.is_set()):
            return
        with self._startup_lock:
            if self._started_up.is_set():
                return
            self._started_up.set()
            held, self._held_watches = self._held_watches, []
        # Only one thread gets here, once.
        self.reconciler.end_startup(time.monotonic() - self._startup_began)
        if not self._stopping.is_set():
            for name, target in held:
                self.supervisor.spawn(name, target)
        if self._collector_paused:
            self._collector_paused = False
            collector.resume()

    def _discover(self) -> bool:
        """Ask the server what it serves, retrying with backoff while it is unreachable (or, with
        ``--adopt``, lacks the TrafficSplit CRD): one clear line per cause, then quiet retries
        (``/readyz`` says why). A policy's own target kind missing is the reconciler's to report."""
        backoff = self.options.retry.backoff()
        said: str | None = None
        while not self._stopping.is_set():
            try:
                self.caches.discover()
                adopting: list[tuple[Target, str]] = []
                if self.options.adopt:
                    version = self.client.traffic_split_resource().api_version
                    adopting.append((Target(TRAFFIC_SPLIT, version), self.options.selector))
                if self.options.adopt_routes:
                    adopting += [(target, self.options.route_selector) for target in
                                 sorted(self.engine.served_targets(), key=lambda t: t.api_version) if is_route(target.kind)]
                for target, selector in adopting:
                    resource = self.caches.target_resource(target)
                    if resource is not None:
                        self._adopting[resource] = (target, selector)
                self._waiting_for = None
                if said is not None:
                    log.info("the API server at %s serves what failsync needs now: starting", self.client.server)
                return True
            except ApiError as error:
                delay = backoff.next_delay(getattr(error, "retry_after", None))
                self._waiting_for = str(error)
                if str(error) != said:
                    said = str(error)
                    log.error("cannot start yet: %s; retrying quietly until it works", error)
                else:
                    log.debug("still cannot start: %s; retrying in %.1fs", error, delay)
                self.client.forget_discovery()  # a CRD installed meanwhile must be seen
                self._stopping.wait(delay)
        return False

    def _shutdown(self) -> None:
        """Finish the write in flight, abandon the queue, give Events a short budget, release the lease."""
        deadline = time.monotonic() + self.options.shutdown_timeout - 0.5  # leave the exit itself some room
        self._stopping.set()
        self._end_startup()
        self.supervisor.stop()
        self.queue.shutdown()
        if not self.queue.wait_idle(max(0.0, deadline - time.monotonic() - SHUTDOWN_BUDGET)):
            log.warning("shutdown: a reconcile was still running at the shutdown deadline; abandoned")
        self.events.close(max(0.0, min(SHUTDOWN_BUDGET, deadline - time.monotonic())))
        self.caches.stop()
        if self.elector is not None:
            self.elector.stop(release=True, timeout=max(0.0, deadline - time.monotonic()))
        if self.probes is not None:
            self.probes.stop()
        log.info("failsync stopped")

    def _may_write(self) -> bool:
        return self.elector is None or self.elector.may_write()

    def _on_started_leading(self) -> None:
        self.reconciler.unsettle_all()  # another replica may have written while we were standing by
        self.metrics.leader.set(1)
        self._enqueue_all()

    def _on_stopped_leading(self) -> None:
        self.metrics.leader.set(0)

    # ------------------------------------------------------------------ changes

    def _on_change(self, resource: Resource, change: Change) -> None:
        if resource.kind in KINDS:
            key = change.key
            adopting = self._adopting.get(resource)
            if adopting is not None and not _same_adoption(change):
                self._readopt(*adopting, key, change.new)
            if key in self.index and self._working.is_set() and self.reconciler.stale((key,)):
                # Most are the echoes of our own writes, the status others put on them and a re-list's
                # objects (100,000 of each after a start-up at that size): the memo is checked here, on
                # the watch's thread, so those cost no hand-off to a worker (after a re-list of 100,000
                # routes, four workers took 30 s over them); the rest wait behind health changes.
                self.queue.add(key, lane=OBJECT)
            return
        if not self._working.is_set():
            return  # the start-up queued every policy already (see ``_working``)
        if resource == SERVICES and not self.caches.watchers[SERVICES].synced.is_set():
            return  # its first LIST, after the start-up pass: what it brings changes no decision
        if resource == ENDPOINT_SLICES:  # the services of the slice before and after
            touched = {service for service in change.indexed if service}
        else:  # Endpoints and Services are named after their service
            namespace, _, name = change.key.rpartition("/")
            touched = {(namespace or "default", name)}
        for key in self.index.keys_for(touched):
            self.queue.add(key)

    def _readopt(self, target: Target, selector: str, key: str, obj: Mapping[str, Any] | None) -> None:
        """Keep the index in step with one hand-written TrafficSplit or route (drop-in mode)."""
        holder = self.index.adopted(key)
        if holder is not None and (holder.target.kind, holder.target.group) != (target.kind, target.group):
            if obj is not None:  # a hand-written object of another kind already is this policy
                self._report(f"{target.kind} {key}: not adopted: the hand-written {holder.target.kind} {key} "
                             f"already is the policy of that name")
            return
        adopted: Policy | None = None
        if obj is not None:
            metadata = obj.get("metadata") or {}
            namespace, name = metadata.get("namespace") or "default", metadata.get("name", "")
            # Adopted even under a policy file of the same name: the index lets the file win, and
            # the adopted object takes over once the file is gone (no event of the object needed).
            found, failures = self.engine.adopted_policies(
                Snapshot(objects={target: {(namespace, name): dict(obj)}}), target, selector, set())
            adopted = found[0] if found else None
            for failure in failures:
                self._report(f"{failure.key}: {failure.message}")
        self._apply(self.index.set_adopted(key, adopted))

    def _reload_policy_files(self) -> None:
        """Take the policy files as last polled."""
        current = self.files.current
        for error in current.errors:
            self._report(self.files.describe(error))
        self.metrics.policy_errors.set(len(current.errors))
        self._apply(self.index.set_files({p.key: p for p in current.policies}))

    def _report(self, message: str) -> None:
        """Log an error once per distinct message (the loop re-reads often)."""
        if message not in self._reported_errors:
            if len(self._reported_errors) > 10000:  # bounded memory under a storm of distinct errors
                self._reported_errors.clear()
            self._reported_errors.add(message)
            log.error("%s", message)

    def _apply(self, change: IndexChange) -> None:
        """Act on an index update: forget removed policies, watch what changed ones need, queue them."""
        if not change:
            return
        self.metrics.policies.set(len(self.index))
        for policy in change.removed:
            log.info("policy %s is no longer managed (its object is left as it is)", policy.key)
            self.reconciler.forget(policy)
        for policy in change.changed:
            self.caches.ensure_for(policy)
            self.queue.add(policy.key)

    def _enqueue_all(self) -> None:
        """Queue every policy whose inputs changed since its last reconcile, behind the keys of watch
        events (a resync is a safety net, never urgent).

        The memo is checked here, on the caller's thread, so a resync of 10,000 converged policies
        is one short pass instead of 10,000 hand-offs between workers.
        """
        if not self.is_leader or not self._working.is_set():
            return  # a standby writes nothing, taking the lead queues every policy; so does the start-up
        self.queue.add_all(self.reconciler.stale(self.index.keys()), lane=RESYNC)

    def _tick(self) -> None:
        """Poll the policy files; resync every ``resync`` seconds (errors: the supervisor's)."""
        next_resync = time.monotonic() + self.options.resync
        while not self._stopping.wait(self.options.policy_poll):
            if self.files.poll():
                self._reload_policy_files()
            if time.monotonic() >= next_resync:
                next_resync = time.monotonic() + self.options.resync
                log.debug("periodic resync of %d policies", len(self.index))
                self._enqueue_all()

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            key, since = item
            try:
                self.reconciler.reconcile(key, since)
            except Exception:  # one broken object never stops the workers
                log.exception("reconcile of %s failed", key)
                self.metrics.reconciles.inc(result="error")
                self.queue.retry(key)
            finally:
                self.queue.done(key)
