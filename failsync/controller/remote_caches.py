"""The loop's view of other clusters (SPEC §11): per-cluster caches, reachability, remote verdicts.

Owns, for ``failsync run --cluster NAME=...``: a watcher of EndpointSlices and of Services in
every remote cluster (the same ``Watcher`` as local caches: LIST, WATCH, re-list on 410,
reconnect with backoff), cluster-wide while the cluster allows it, else (a 403: rights granted
per namespace, a Role in each backend namespace) one per namespace the policies' remote
backends live in, started and stopped as policies and mirrors come and go, each namespace's
refusal reported on its own (``failsync.controller.remote_scopes``); a watcher of the local Services that keeps their Linkerd mirror
labels, a prober per remote cluster saying whether it answers (the metric
``failsync_cluster_reachable``, an Event on each policy it touches when that changes), and
``RemoteAwareCaches``: the local ``Caches`` whose counts for mirrored or ``health.cluster``
backends are the remote verdict's (``failsync.core.remote_health``). A change in east
queues only the policies whose backends are read there. Nothing here waits on a remote
cluster on a reconcile's path: counts come from the caches, I/O happens on watcher and
prober threads.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import Any, Callable, Iterable, Mapping

from failsync.clusters import RemoteCluster
from failsync.controller.caches import Caches, PolicyCounts, _service_of_slice, _slice_readiness
from failsync.controller.remote_scopes import (REMOTE_KINDS, NamespaceScopes, Refusal, RemoteKind, Touched,
                                               _MirrorLabels, _RefusalAware)
from failsync.core import health
from failsync.core.model import Policy
from failsync.core.remote_health import (Mirror, PolicyHealth, RemoteReading, RemoteTarget, combined_counts,
                                         mirror_of, policy_health)
from failsync.errors import ApiError, Forbidden, Unreachable
from failsync.kube import ENDPOINT_SLICES, SERVICES
from failsync.kube.errors import is_temporary
from failsync.kube.watch import Change, Store, Watcher
from failsync.observability import Metrics

log = logging.getLogger(__name__)

#: Event reasons when a remote cluster stops or starts answering (on each policy it touches).
CLUSTER_UNREACHABLE = "RemoteClusterUnreachable"
CLUSTER_REACHABLE = "RemoteClusterReachable"
#: Event reasons when a remote cluster answers but refuses (then allows) reads in one namespace.
NAMESPACE_FORBIDDEN = "RemoteNamespaceForbidden"
NAMESPACE_READABLE = "RemoteNamespaceReadable"
#: How often each remote cluster is asked whether it answers (and, while it does not, policies re-judged).
PROBE_INTERVAL = 1.0
#: At start-up, how long the loop waits at most for a remote cluster's first LIST before it reconciles
#: (a remote never read counts as unhealthy: deciding before it is read would flap traffic on every restart).
REMOTE_SYNC_WAIT = 10.0


def _mirror_projection(obj: Mapping[str, Any]) -> Mirror | bool:
    """The local Services cache keeps a mirror's labels, or True for any other Service."""
    return mirror_of(obj) or True


class RemoteAwareCaches(NamespaceScopes, Caches):
    """Local caches plus the remote clusters: ready counts of remote-read backends are the remote verdict's."""

    def __init__(self, *args: Any, clusters: Mapping[str, RemoteCluster], metrics: Metrics,
                 on_touched: Touched, on_reachability: Callable[[RemoteCluster, set[tuple[str, str]]], None],
                 policies: Callable[[], Iterable[Policy]] = tuple, on_refusal: Refusal | None = None,
                 probe_interval: float = PROBE_INTERVAL, clock: Callable[[], float] = time.time,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clusters = clusters
        self.clock = clock
        self.on_touched = on_touched
        self.on_reachability = on_reachability
        self.on_refusal = on_refusal or (lambda cluster, namespace, problem, touched: None)
        self.policies = policies
        self.probe_interval = probe_interval
        self.reachable_gauge = metrics.registry.gauge(
            "failsync_cluster_reachable", "1 while a remote cluster given with --cluster answers, else 0.",
            ["cluster"])
        self._init_scopes(metrics)
        self.mirrors_watcher: Watcher | None = None
        # (cluster, namespace, service) read remotely -> the local (namespace, backend) pairs judged by it.
        self._readers: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
        self._readers_lock = threading.Lock()
        self._reported: set[str] = set()
        self._stopping = threading.Event()
        self._started_at = time.monotonic()

    # -- start and stop --------------------------------------------------------------------------

    def start(self, resources: Iterable[Any]) -> None:
        """Start the local watchers, then the mirror labels' watcher, the remote watchers and probers."""
        super().start(resources)
        self._started_at = time.monotonic()
        self.mirrors_watcher = Watcher(
            self.client, SERVICES, store=Store(project=_mirror_projection), on_change=self._on_mirror_change,
            on_restart=lambda reason: self.on_restart(SERVICES, reason), watch_timeout=self.watch_timeout,
            retry=self.retry, spawn=self.spawn)
        self.mirrors_watcher.start()
        for name, cluster in self.clusters.items():
            self.reachable_gauge.set(1, cluster=name)
            kinds = {kind: RemoteKind(name, kind) for kind in REMOTE_KINDS}
            self.remote_kinds[name] = kinds
            for remote in kinds.values():
                with self._scopes_lock:
                    remote.wide = self._remote_watcher(name, remote.kind, None)
                remote.wide.start()
            self.spawn(f"probe-{name}", functools.partial(self._probe, cluster))

    def _remote_watcher(self, cluster: str, kind: str, namespace: str | None) -> Watcher:
        """A watcher of ``kind`` in ``cluster``: cluster-wide (``namespace`` None) or in one namespace."""
        resource = REMOTE_KINDS[kind]
        store = (Store(_service_of_slice, project=_slice_readiness) if resource == ENDPOINT_SLICES
                 else Store(project=lambda obj: True))
        return _RefusalAware(
            self.clusters[cluster].client, resource, store=store, namespace=namespace,
            on_change=functools.partial(self._on_remote_change, cluster),
            on_resync=functools.partial(self._on_remote_listed, cluster, kind, namespace),
            on_restart=functools.partial(self._on_remote_restart, cluster),
            on_refused=functools.partial(self._on_refused, cluster, kind, namespace),
            watch_timeout=self.watch_timeout, retry=self.retry, spawn=self.spawn)

    @property
    def synced(self) -> bool:
        """Local caches and the mirror labels listed; each remote cluster listed too (cluster-wide, or in
        every namespace the policies need there), or found unreachable, or ``REMOTE_SYNC_WAIT`` gone by
        (a remote cluster never holds the loop up for longer)."""
        if not (super().synced and self.mirrors_watcher is not None and self.mirrors_watcher.synced.is_set()):
            return False
        if time.monotonic() - self._started_at >= REMOTE_SYNC_WAIT:
            return True
        return self._scopes_synced()

    def stop(self) -> None:
        """Stop every watcher and prober."""
        self._stopping.set()
        super().stop()
        if self.mirrors_watcher is not None:
            self.mirrors_watcher.stop()
        self._stop_scopes()

    # -- changes ---------------------------------------------------------------------------------

    def _on_mirror_change(self, change: Change) -> None:
        if isinstance(change.old, Mirror) or isinstance(change.new, Mirror):  # may read a new remote namespace
            self._ask_rescope()
        namespace, _, name = change.key.rpartition("/")
        self.on_touched({(namespace or "default", name)})

    def _on_remote_change(self, cluster: str, change: Change) -> None:
        known = self.clusters.get(cluster)
        if known is not None and not (known.reachable and known.contacted):  # news only when it did not answer
            self._mark(known, None)
        if change.indexed:  # an EndpointSlice: the services before and after
            remote = {service for service in change.indexed if service}
        else:
            namespace, _, name = change.key.rpartition("/")
            remote = {(namespace or "default", name)}
        with self._readers_lock:
            touched = set().union(*(self._readers.get((cluster, ns, svc), set()) for ns, svc in remote))
        if touched:
            self.on_touched(touched)

    def _on_remote_restart(self, cluster: str, reason: str) -> None:
        self.on_restart(ENDPOINT_SLICES, f"{cluster}:{reason}")
        if reason in ("connection", "server-error"):
            self._mark(self.clusters[cluster], Unreachable(f"the watch of cluster {cluster} lost its connection"))

    def _probe(self, cluster: RemoteCluster) -> None:
        """Ask ``cluster`` whether it answers, every ``probe_interval``; re-judge its policies while it does not."""
        asked = ("default", "kubernetes")
        while not self._stopping.wait(self.probe_interval):
            try:
                cluster.client.get(SERVICES, *asked)
                error: Exception | None = None
            except ApiError as failure:
                # Any answer (a 403 under least-privilege RBAC, a 404) means the cluster is there.
                error = failure if isinstance(failure, Unreachable) or is_temporary(failure) else None
                if isinstance(failure, Forbidden):  # rights per namespace: ask for a Service it may read
                    asked = self._readable_service(cluster.name) or asked
            self._mark(cluster, error)
            if not cluster.reachable:  # the grace runs out with the clock alone
                self.on_touched(self._touched_by(cluster.name))

    def _readable_service(self, cluster: str) -> tuple[str, str] | None:
        """A Service the per-namespace watches have seen in ``cluster`` (a GET of it is allowed), or None:
        probing default/kubernetes without the right would be one refused request every second."""
        remote = self.remote_kinds.get(cluster, {}).get("services")
        with self._scopes_lock:
            stores = [w.store for ns, w in remote.namespaces.items() if ns not in remote.refused] if remote else []
        key = next((key for store in stores for key in store.keys()), None)
        return (key.partition("/")[0], key.partition("/")[2]) if key else None

    def _mark(self, cluster: RemoteCluster, error: Exception | None) -> None:
        was = cluster.reachable
        cluster.mark(error, self.clock())
        if was != cluster.reachable:
            self.reachable_gauge.set(1 if cluster.reachable else 0, cluster=cluster.name)
            if cluster.reachable:
                log.info("cluster %s answers again", cluster.name)
            else:
                log.warning("cluster %s unreachable: %s", cluster.name, error)
            touched = self._touched_by(cluster.name)
            self.on_reachability(cluster, touched)
            self.on_touched(touched)

    def _touched_by(self, cluster: str) -> set[tuple[str, str]]:
        with self._readers_lock:
            return set().union(*(pairs for (name, _, _), pairs in self._readers.items() if name == cluster))

    # -- counts ----------------------------------------------------------------------------------

    def counts(self, policy: Policy) -> PolicyCounts:
        """``policy``'s counts, totals and remote notes from one look at the caches: each remote-read
        backend's counts are its verdict's (an unknown cluster: 0), and the notes are that verdict's."""
        ready = self.ready_counts(policy)  # local: remote-read backends are judged below
        total = self.total_counts(policy)
        judged = self.remote_health(policy, ready, total)
        if judged.error is not None:
            remote = {b.service for b in policy.backends if b.remote}
            return PolicyCounts({s: 0 if s in remote else n for s, n in ready.items()}, total, (judged.error,))
        if not judged.verdicts:
            return PolicyCounts(ready, total, judged.notes)
        counted, total = combined_counts(policy.services, ready, total, judged.verdicts)
        return PolicyCounts(counted, total, judged.notes)

    def notes(self, policy: Policy) -> tuple[str, ...]:
        """What remote health says of ``policy``'s backends, for the decision's reason."""
        return self.counts(policy).notes

    def remote_health(self, policy: Policy, ready: Mapping[str, int], total: Mapping[str, int] | None = None
                      ) -> PolicyHealth:
        """The remote verdicts for ``policy`` from the caches, given its local counts (and who reads what,
        for change routing)."""
        labels = _MirrorLabels(self.mirrors_watcher.store if self.mirrors_watcher else None)
        namespace = policy.namespace
        judged = policy_health(policy, lambda service: labels.mirror(namespace, service), ready,
                               self._local_total(namespace, ready, total), self.clusters, self._reading,
                               self.clock())
        if judged.error is not None and judged.error not in self._reported:
            self._reported.add(judged.error)
            log.error("policy %s: %s; those backends count as unhealthy", policy.key, judged.error)
        for service, target in (judged.targets or {}).items():
            key, pair = (target.cluster, target.namespace, target.service), (namespace, service)
            if pair not in self._readers.get(key, ()):  # known readers (nearly every call) take no lock
                with self._readers_lock:
                    self._readers.setdefault(key, set()).add(pair)
        return judged

    def _local_total(self, namespace: str, ready: Mapping[str, int], total: Mapping[str, int] | None
                     ) -> Callable[[str], int]:
        """All local endpoints of one backend: from ``total`` when the policy reads totals, else counted
        from the EndpointSlices cache (asked only for backends read remotely: the gateway check)."""
        if total is not None:
            return lambda service: total.get(service, 0)
        store = self.store(ENDPOINT_SLICES)
        if store is None:
            return lambda service: ready.get(service, 0)
        return lambda service: health.count_all(store.by_index((namespace, service)))

    def _reading(self, target: RemoteTarget) -> RemoteReading:
        cluster = self.clusters[target.cluster]
        remote = self.remote_kinds.get(target.cluster, {}).get("endpointslices")
        watcher = remote.watcher_for(target.namespace) if remote is not None else None
        if watcher is None or not watcher.synced.is_set():
            return RemoteReading(None, None, cluster.unreachable_since)
        if self.refused(target.cluster, target.namespace):  # what its cache holds may be stale: not read
            return RemoteReading(None)
        slices = watcher.store.by_index((target.namespace, target.service))
        return RemoteReading(health.count_ready(slices), health.count_all(slices), cluster.unreachable_since)


def remote_aware(controller: Any, clusters: Mapping[str, RemoteCluster], *,
                 probe_interval: float = PROBE_INTERVAL) -> RemoteAwareCaches:
    """``controller``'s caches made remote-aware (same settings), wired to its index, queue, engine and Events."""
    local: Caches = controller.caches

    def touched(pairs: set[tuple[str, str]]) -> None:
        for key in controller.index.keys_for(pairs):
            controller.queue.add(key)

    def reachability(cluster: RemoteCluster, pairs: set[tuple[str, str]]) -> None:
        if cluster.reachable:
            reason, message = CLUSTER_REACHABLE, f"cluster {cluster.name} answers again; its backends are read live"
        else:
            reason = CLUSTER_UNREACHABLE
            message = (f"cluster {cluster.name} unreachable ({cluster.problem}); its backends keep their last "
                       f"known health for health.remoteGraceSeconds, then count as unhealthy")
        record(pairs, reason, message, warning=not cluster.reachable)

    def refusal(cluster: RemoteCluster, namespace: str, problem: str | None, pairs: set[tuple[str, str]]) -> None:
        if problem is None:
            reason, message = NAMESPACE_READABLE, f"cluster {cluster.name} allows reads in namespace {namespace} again"
        else:
            reason = NAMESPACE_FORBIDDEN
            message = (f"cluster {cluster.name} answers but refuses reads in namespace {namespace} ({problem}); "
                       f"backends read there count as unhealthy until failsync may list and watch them")
        record(pairs, reason, message, warning=problem is not None)

    def record(pairs: set[tuple[str, str]], reason: str, message: str, *, warning: bool) -> None:
        for key in controller.index.keys_for(pairs):
            policy = controller.index.get(key)
            if policy is None:
                continue
            store = caches.target_store(policy)
            involved = (store.get(key) if store else None) or {
                "apiVersion": policy.target.api_version, "kind": policy.target.kind,
                "metadata": {"name": policy.name, "namespace": policy.namespace}}
            controller.events.record(involved, reason, message, type="Warning" if warning else "Normal")

    caches = RemoteAwareCaches(local.client, retry=local.retry, spawn=local.spawn, watch_timeout=local.watch_timeout,
                               on_change=local.on_change, on_resync=local.on_resync, on_restart=local.on_restart,
                               clusters=clusters, metrics=controller.metrics, on_touched=touched,
                               on_reachability=reachability, on_refusal=refusal,
                               policies=lambda: controller.index.snapshot().values(), probe_interval=probe_interval,
                               clock=controller.engine.clock)
    controller.index.listeners.append(caches.policies_changed)  # a policy removed frees its namespaces' watches
    return caches
