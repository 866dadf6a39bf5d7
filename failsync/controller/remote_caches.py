"""The loop's view of other clusters (SPEC §11): per-cluster caches, reachability, remote verdicts.

Owns, for ``failsync run --cluster NAME=...``: a watcher of EndpointSlices and of Services in
every remote cluster (the same ``Watcher`` as local caches: LIST, WATCH, re-list on 410,
reconnect with backoff), cluster-wide while the cluster allows it, else (a 403: rights granted
per namespace, a Role in each backend namespace) one per namespace the policies' remote
backends live in, started and stopped as policies and mirrors come and go, each namespace's
refusal reported on its own; a watcher of the local Services that keeps their Linkerd mirror
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
from typing import Any, Callable, Iterable, Iterator, Mapping

from failsync.clusters import RemoteCluster, needed_scopes
from failsync.controller.caches import Caches, _service_of_slice, _slice_readiness
from failsync.core import health
from failsync.core.model import Policy
from failsync.core.remote_health import (Mirror, PolicyHealth, RemoteReading, RemoteTarget, combined_counts,
                                         mirror_of, policy_health)
from failsync.errors import ApiError, Forbidden, Unreachable
from failsync.kube import ENDPOINT_SLICES, SERVICES, Resource
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
#: Where reads go per namespace, how often the watched namespaces are recomputed unasked: a policy no
#: longer managed is not told to the caches, so its namespaces' watches stop within this (a pass over
#: 1,000 policies takes some 30 ms; a new policy or mirror asks for a pass at once).
RESCOPE_INTERVAL = 5.0
#: The remote kinds, by the name the caches give them.
REMOTE_KINDS = {"endpointslices": ENDPOINT_SLICES, "services": SERVICES}

Touched = Callable[[set[tuple[str, str]]], None]
#: ``on_refusal(cluster, namespace, problem or None when readable again, touched pairs)``.
Refusal = Callable[[RemoteCluster, str, "str | None", set[tuple[str, str]]], None]


def _mirror_projection(obj: Mapping[str, Any]) -> Mirror | bool:
    """The local Services cache keeps a mirror's labels, or True for any other Service."""
    return mirror_of(obj) or True


class _MirrorLabels(Mapping[tuple[str, str], Mirror]):
    """The local mirrors by (namespace, service), read from the mirror labels' cache (no copy of it)."""

    def __init__(self, store: Store | None) -> None:
        self.store = store

    def __getitem__(self, key: tuple[str, str]) -> Mirror:
        found = self.store.get(f"{key[0]}/{key[1]}") if self.store is not None else None
        if not isinstance(found, Mirror):
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[tuple[str, str]]:
        store = self.store
        for key in store.keys() if store is not None else ():
            namespace, _, name = key.rpartition("/")
            if store is not None and isinstance(store.get(key), Mirror):
                yield namespace, name

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _RefusalAware(Watcher):
    """A remote watcher that says when the server refuses its LIST or WATCH (403) before it backs off."""

    def __init__(self, *args: Any, on_refused: Callable[[Forbidden], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_refused = on_refused

    def _restart(self, reason: str, error: Exception | None = None, *, retry_after: float | None = None) -> None:
        if isinstance(error, Forbidden) and not self._stopping.is_set():
            self.on_refused(error)
        super()._restart(reason, error, retry_after=retry_after)


class RemoteKind:
    """One kind read in one remote cluster: a cluster-wide watcher, or, once the cluster refuses that,
    one watcher per namespace (``namespaces``) with the namespaces that refuse theirs (``refused``)."""

    def __init__(self, cluster: str, kind: str) -> None:
        self.cluster = cluster
        self.kind = kind
        self.wide: Watcher | None = None
        self.per_namespace = False
        self.namespaces: dict[str, Watcher] = {}
        self.refused: dict[str, str] = {}

    @property
    def resource(self) -> Resource:
        return REMOTE_KINDS[self.kind]

    def watcher_for(self, namespace: str) -> Watcher | None:
        """The watcher whose cache holds ``namespace`` (None: not read there)."""
        return self.namespaces.get(namespace) if self.per_namespace else self.wide

    def watchers(self) -> list[Watcher]:
        """Every running watcher of this kind."""
        return [*self.namespaces.values()] if self.per_namespace else [w for w in (self.wide,) if w is not None]

    @property
    def synced(self) -> bool:
        """Listed once: cluster-wide, or in every namespace watched (one that refuses counts as done)."""
        if not self.per_namespace:
            return self.wide is not None and self.wide.synced.is_set()
        return all(w.synced.is_set() or ns in self.refused for ns, w in list(self.namespaces.items()))


class RemoteAwareCaches(Caches):
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
        self.readable_gauge = metrics.registry.gauge(
            "failsync_remote_namespace_readable", "Read per namespace (a cluster-wide read refused): 1 while "
            "failsync may list and watch what it needs in that namespace of that cluster, else 0.",
            ["cluster", "namespace"])
        self.remote_kinds: dict[str, dict[str, RemoteKind]] = {}
        self.mirrors_watcher: Watcher | None = None
        # (cluster, namespace, service) read remotely -> the local (namespace, backend) pairs judged by it.
        self._readers: dict[tuple[str, str, str], set[tuple[str, str]]] = {}
        self._readers_lock = threading.Lock()
        self._reported: set[str] = set()
        self._stopping = threading.Event()
        self._started_at = time.monotonic()
        # Which namespaces are watched where reads go per namespace: recomputed on a thread of its own,
        # coalescing requests (10,000 mirror labels listed at start-up are one pass, not 10,000).
        self._scopes_lock = threading.RLock()
        self._rescope = threading.Event()
        self._rescopes_asked = 0
        self._rescopes_done = 0

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
        self.spawn("remote-scopes", self._keep_scopes)

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
        with self._scopes_lock:
            if self._rescopes_done < self._rescopes_asked:  # namespaces about to be watched
                return False
            return all(kinds["endpointslices"].synced or not self.clusters[name].reachable
                       for name, kinds in self.remote_kinds.items())

    def stop(self) -> None:
        """Stop every watcher and prober."""
        self._stopping.set()
        self._rescope.set()
        super().stop()
        if self.mirrors_watcher is not None:
            self.mirrors_watcher.stop()
        with self._scopes_lock:
            for kinds in self.remote_kinds.values():
                for remote in kinds.values():
                    for watcher in remote.watchers():
                        watcher.stop()

    def ensure_for(self, policy: Policy) -> None:
        """What ``policy`` needs locally, and (where reads go per namespace) in the remote clusters."""
        super().ensure_for(policy)
        self._ask_rescope()

    # -- per-namespace reads ---------------------------------------------------------------------

    def _per_namespace(self) -> bool:
        return any(remote.per_namespace for kinds in self.remote_kinds.values() for remote in kinds.values())

    def _ask_rescope(self) -> None:
        """Have the scopes thread recompute which namespaces to watch (only where reads go per namespace)."""
        with self._scopes_lock:
            if not self._per_namespace():
                return
            self._rescopes_asked += 1
        self._rescope.set()

    def _keep_scopes(self) -> None:
        """Recompute the watched namespaces when asked, and every ``RESCOPE_INTERVAL``."""
        while not self._stopping.is_set():
            self._rescope.wait(RESCOPE_INTERVAL)
            self._rescope.clear()
            if self._stopping.is_set():
                return
            with self._scopes_lock:
                asked = self._rescopes_asked
                if not self._per_namespace():
                    self._rescopes_done = asked
                    continue
            wanted = self.wanted_namespaces()
            with self._scopes_lock:
                for name, kinds in self.remote_kinds.items():
                    for remote in kinds.values():
                        if remote.per_namespace:
                            self._watch_namespaces(remote, wanted.get(name, set()))
                self._rescopes_done = asked

    def wanted_namespaces(self, policies: Iterable[Policy] | None = None) -> dict[str, set[str]]:
        """The namespaces each remote cluster is read in for ``policies`` (default: every managed one)."""
        mirrors = _MirrorLabels(self.mirrors_watcher.store if self.mirrors_watcher else None)
        return needed_scopes(tuple(self.policies() if policies is None else policies), mirrors, self.clusters)

    def _watch_namespaces(self, remote: RemoteKind, wanted: set[str]) -> None:
        """Start a watcher in each namespace of ``wanted`` not watched yet; stop those no longer wanted."""
        for namespace in sorted(wanted - remote.namespaces.keys()):
            watcher = remote.namespaces[namespace] = self._remote_watcher(remote.cluster, remote.kind, namespace)
            log.info("cluster %s: watching %s in namespace %s", remote.cluster, remote.resource.plural, namespace)
            watcher.start()
        for namespace in sorted(remote.namespaces.keys() - wanted):
            remote.namespaces.pop(namespace).stop()
            remote.refused.pop(namespace, None)
            log.info("cluster %s: no policy reads namespace %s any more: its %s watch stops", remote.cluster,
                     namespace, remote.resource.plural)
            if not any(namespace in r.namespaces for r in self.remote_kinds[remote.cluster].values()):
                self.readable_gauge.remove(cluster=remote.cluster, namespace=namespace)

    def _on_refused(self, cluster: str, kind: str, namespace: str | None, error: Forbidden) -> None:
        """A 403: cluster-wide, read per namespace from now on; in one namespace, say so for that namespace."""
        with self._scopes_lock:
            remote = self.remote_kinds[cluster][kind]
            if namespace is None:
                if remote.per_namespace:
                    return
                remote.per_namespace = True
                if remote.wide is not None:
                    remote.wide.stop()
                wanted = self.wanted_namespaces().get(cluster, set())
                # Expected with rights granted per namespace (deploy/remote/namespaced-rbac.example.yaml).
                log.info("cluster %s refuses to list or watch %s cluster-wide (%s): reading them per namespace "
                         "instead, in %s", cluster, remote.resource.plural, error,
                         ", ".join(sorted(wanted)) or "no namespace yet (no policy reads there)")
                self._watch_namespaces(remote, wanted)
                return
            if remote.namespaces.get(namespace) is None or namespace in remote.refused:
                return
            told = self.refused(cluster, namespace) is not None  # the other kind's refusal said it already
            remote.refused[namespace] = str(error)
        if not told:
            self._readable_changed(cluster, namespace, str(error))

    def _on_remote_listed(self, cluster: str, kind: str, namespace: str | None) -> None:
        if namespace is None:
            return
        with self._scopes_lock:
            remote = self.remote_kinds[cluster][kind]
            if remote.namespaces.get(namespace) is None:
                return
            was_refused = remote.refused.pop(namespace, None) is not None
            refused = any(namespace in r.refused for r in self.remote_kinds[cluster].values())
        if was_refused and not refused:
            self._readable_changed(cluster, namespace, None)
        elif not refused:
            self.readable_gauge.set(1, cluster=cluster, namespace=namespace)

    def _readable_changed(self, cluster: str, namespace: str, problem: str | None) -> None:
        """Log, metric, Events and a reconcile of the policies reading ``namespace`` in ``cluster``."""
        if problem:
            log.warning("cluster %s answers but refuses reads in namespace %s (%s): backends read there count as "
                        "unhealthy; retrying with backoff", cluster, namespace, problem)
        else:
            log.info("cluster %s: namespace %s is readable again", cluster, namespace)
        self.readable_gauge.set(0 if problem else 1, cluster=cluster, namespace=namespace)
        touched = {(p.namespace, s) for p in self.policies()
                   if namespace in self.wanted_namespaces([p]).get(cluster, ()) for s in p.services}
        self.on_refusal(self.clusters[cluster], namespace, problem, touched)
        self.on_touched(touched)

    def refused(self, cluster: str, namespace: str) -> str | None:
        """Why ``cluster`` refuses reads in ``namespace`` (None: it does not)."""
        kinds = self.remote_kinds.get(cluster, {})
        return next((r.refused[namespace] for r in kinds.values() if namespace in r.refused), None)

    # -- changes ---------------------------------------------------------------------------------

    def _on_mirror_change(self, change: Change) -> None:
        if isinstance(change.old, Mirror) or isinstance(change.new, Mirror):  # may read a new remote namespace
            self._ask_rescope()
        namespace, _, name = change.key.rpartition("/")
        self.on_touched({(namespace or "default", name)})

    def _on_remote_change(self, cluster: str, change: Change) -> None:
        if cluster in self.clusters:
            self._mark(self.clusters[cluster], None)
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

    def remote_health(self, policy: Policy, ready: Mapping[str, int]) -> PolicyHealth:
        """The remote verdicts for ``policy`` from the caches (and who reads what, for change routing)."""
        labels = _MirrorLabels(self.mirrors_watcher.store if self.mirrors_watcher else None)
        mirrors = {service: labels.get((policy.namespace, service)) for service in policy.services}
        local_total = self._local_totals(policy, ready)
        judged = policy_health(policy, mirrors, ready, local_total, self.clusters, self._reading, self.clock())
        if judged.error is not None and judged.error not in self._reported:
            self._reported.add(judged.error)
            log.error("policy %s: %s; those backends count as unhealthy", policy.key, judged.error)
        with self._readers_lock:
            for service, target in (judged.targets or {}).items():
                self._readers.setdefault((target.cluster, target.namespace, target.service), set()).add(
                    (policy.namespace, service))
        return judged

    def _local_totals(self, policy: Policy, ready: Mapping[str, int]) -> dict[str, int]:
        totals = super().total_counts(policy)
        if totals is not None:
            return totals
        store = self.store(ENDPOINT_SLICES)
        if store is None:
            return dict(ready)
        return {s: health.count_all(store.by_index((policy.namespace, s))) for s in policy.services}

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

    def ready_counts(self, policy: Policy) -> dict[str, int]:
        """Local counts, with each remote-read backend's replaced by its verdict's (unknown cluster: 0)."""
        ready = super().ready_counts(policy)
        judged = self.remote_health(policy, ready)
        if judged.error is not None:
            return {s: 0 if any(b.service == s and b.remote for b in policy.backends) else n for s, n in ready.items()}
        return combined_counts(policy.services, ready, None, judged.verdicts)[0]

    def total_counts(self, policy: Policy) -> dict[str, int] | None:
        """All endpoints, with remote-read backends' from their verdict (None when the policy needs none)."""
        totals = super().total_counts(policy)
        if totals is None:
            return None
        ready = super().ready_counts(policy)
        judged = self.remote_health(policy, ready)
        return combined_counts(policy.services, ready, totals, judged.verdicts)[1]

    def notes(self, policy: Policy) -> tuple[str, ...]:
        """What remote health says of ``policy``'s backends, for the decision's reason."""
        judged = self.remote_health(policy, super().ready_counts(policy))
        return (judged.error,) if judged.error else judged.notes


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
    controller.engine.remote_notes = caches.notes
    return caches
