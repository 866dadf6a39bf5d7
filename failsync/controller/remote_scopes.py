"""Which namespaces of each remote cluster the loop reads (SPEC §11), where reads go per namespace.

Owns: ``RemoteKind`` (one kind in one remote cluster: a cluster-wide watcher, or, once the
cluster refuses that with a 403, one watcher per namespace the policies' remote backends live in,
with the namespaces that refuse theirs), the watcher that says when it is refused, and
``NamespaceScopes``, the part of ``RemoteAwareCaches`` that starts and stops the per-namespace
watchers as policies and mirrors come and go and reports each namespace's refusal on its own
(log, the metric ``failsync_remote_namespace_readable``, Events through ``on_refusal``).
Never does: count, judge or probe (``failsync.controller.remote_caches``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Iterable, Iterator, Mapping

from failsync.clusters import RemoteCluster, needed_scopes
from failsync.controller.index import IndexChange
from failsync.core.model import Policy
from failsync.core.remote_health import Mirror
from failsync.errors import Forbidden
from failsync.kube import ENDPOINT_SLICES, SERVICES, Resource
from failsync.kube.watch import Store, Watcher
from failsync.observability import Gauge, Metrics
from failsync.supervisor import Spawn

log = logging.getLogger(__name__)

#: The remote kinds, by the name the caches give them.
REMOTE_KINDS = {"endpointslices": ENDPOINT_SLICES, "services": SERVICES}

Touched = Callable[[set[tuple[str, str]]], None]
#: ``on_refusal(cluster, namespace, problem or None when readable again, touched pairs)``.
Refusal = Callable[[RemoteCluster, str, "str | None", set[tuple[str, str]]], None]


class _MirrorLabels(Mapping[tuple[str, str], Mirror]):
    """The local mirrors by (namespace, service), read from the mirror labels' cache (no copy of it)."""

    def __init__(self, store: Store | None) -> None:
        self.store = store

    def mirror(self, namespace: str, service: str) -> Mirror | None:
        """The mirror labels of one local Service, or None (not a mirror, or not seen)."""
        found = self.store.get(f"{namespace}/{service}") if self.store is not None else None
        return found if isinstance(found, Mirror) else None

    def __getitem__(self, key: tuple[str, str]) -> Mirror:
        found = self.mirror(*key)
        if found is None:
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


class NamespaceScopes:
    """The per-namespace reads of ``RemoteAwareCaches``: which namespaces are watched, and which refuse."""

    clusters: Mapping[str, RemoteCluster]
    policies: Callable[[], Iterable[Policy]]
    on_touched: Touched
    on_refusal: Refusal
    spawn: Spawn
    mirrors_watcher: Watcher | None
    _stopping: threading.Event

    def _init_scopes(self, metrics: Metrics) -> None:
        self.readable_gauge: Gauge = metrics.registry.gauge(
            "failsync_remote_namespace_readable", "Read per namespace (a cluster-wide read refused): 1 while "
            "failsync may list and watch what it needs in that namespace of that cluster, else 0.",
            ["cluster", "namespace"])
        self.remote_kinds: dict[str, dict[str, RemoteKind]] = {}
        # Which namespaces are watched where reads go per namespace: recomputed off the caller's thread
        # when asked (a policy or mirror came or went), asks made during a pass answered by one more pass:
        # 10,000 mirror labels listed at start-up are a few passes, not 10,000 (a pass over 1,000
        # policies takes some 30 ms). The thread ends once no ask is pending.
        self._scopes_lock = threading.RLock()
        self._rescoping = False
        self._rescopes_asked = 0
        self._rescopes_done = 0

    def _remote_watcher(self, cluster: str, kind: str, namespace: str | None) -> Watcher:
        """A watcher of ``kind`` in ``cluster``: cluster-wide (``namespace`` None) or in one namespace."""
        raise NotImplementedError

    def policies_changed(self, change: IndexChange) -> None:
        """The managed policies changed (added, changed or removed): recompute the watched namespaces now."""
        self._ask_rescope()

    def _scopes_synced(self) -> bool:
        """No pass pending, and each reachable remote cluster's EndpointSlices listed where they are read."""
        with self._scopes_lock:
            if self._rescopes_done < self._rescopes_asked:  # namespaces about to be watched
                return False
            return all(kinds["endpointslices"].synced or not self.clusters[name].reachable
                       for name, kinds in self.remote_kinds.items())

    def _stop_scopes(self) -> None:
        """Stop every remote watcher."""
        with self._scopes_lock:
            for kinds in self.remote_kinds.values():
                for remote in kinds.values():
                    for watcher in remote.watchers():
                        watcher.stop()

    def _per_namespace(self) -> bool:
        return any(remote.per_namespace for kinds in self.remote_kinds.values() for remote in kinds.values())

    def _ask_rescope(self) -> None:
        """Have a pass recompute which namespaces to watch (only where reads go per namespace), on a
        thread started for it unless one is running (that one makes one more pass)."""
        with self._scopes_lock:
            if self._stopping.is_set() or not self._per_namespace():
                return
            self._rescopes_asked += 1
            if self._rescoping:
                return
            self._rescoping = True
        self.spawn("remote-scopes", self._rescope_while_asked)

    def _rescope_while_asked(self) -> None:
        """Recompute the watched namespaces until no ask is pending, then end (after an error the
        supervisor runs it again, and it carries on)."""
        while True:
            with self._scopes_lock:
                asked = self._rescopes_asked
                if self._rescopes_done >= asked or self._stopping.is_set():
                    self._rescoping = False
                    return
            wanted = self.wanted_namespaces()
            with self._scopes_lock:
                if self._stopping.is_set():
                    continue
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
        report = self._refuse(cluster, kind, namespace, error)
        if report and namespace is not None:
            self._readable_changed(cluster, namespace, str(error))

    def _refuse(self, cluster: str, kind: str, namespace: str | None, error: Forbidden) -> bool:
        """Record a refusal; whether it is the first in ``namespace`` (then it is reported)."""
        with self._scopes_lock:
            remote = self.remote_kinds[cluster][kind]
            if namespace is None:
                if remote.per_namespace:
                    return False
                remote.per_namespace = True
                if remote.wide is not None:
                    remote.wide.stop()
                wanted = self.wanted_namespaces().get(cluster, set())
                # Expected with rights granted per namespace (deploy/remote/namespaced-rbac.example.yaml).
                log.info("cluster %s refuses to list or watch %s cluster-wide (%s): reading them per namespace "
                         "instead, in %s", cluster, remote.resource.plural, error,
                         ", ".join(sorted(wanted)) or "no namespace yet (no policy reads there)")
                self._watch_namespaces(remote, wanted)
                return False
            if remote.namespaces.get(namespace) is None or namespace in remote.refused:
                return False
            told = self.refused(cluster, namespace) is not None  # the other kind's refusal said it already
            remote.refused[namespace] = str(error)
            return not told

    def _on_remote_listed(self, cluster: str, kind: str, namespace: str | None) -> None:
        was_refused = refused = False
        with self._scopes_lock:
            remote = self.remote_kinds[cluster][kind]
            watched = namespace is not None and remote.namespaces.get(namespace) is not None
            if watched:
                was_refused = remote.refused.pop(namespace or "", None) is not None
                refused = any(namespace in r.refused for r in self.remote_kinds[cluster].values())
        if not watched or namespace is None:
            return
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

