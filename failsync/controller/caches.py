"""The loop's caches: one watcher (LIST + WATCH into a ``Store``) per kind the policies need.

Owns: which kinds are watched (each TrafficSplit apiVersion in use, EndpointSlices or
Endpoints by health source, Services), what each cache keeps of an object (its
projection), the TrafficSplit versions the server does not serve (found once, by
discovery, and reported per policy instead of raising in a thread), whether every
cache has listed once, and the ready (and, for SPEC §12, total) counts of a policy's backends.
Never does: decide, reconcile or write; it tells the loop of every change.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from failsync.backoff import RetryPolicy
from failsync.core import health
from failsync.core.model import HealthSource, Policy, Target
from failsync.errors import ApiError
from failsync.kube import ENDPOINT_SLICES, ENDPOINTS, SERVICES, KubeClient, Resource
from failsync.kube.watch import Change, Store, Watcher, detached, shared
from failsync.supervisor import Spawn
from failsync.sync import kind_of, resolve_source

log = logging.getLogger(__name__)


def _service_of_slice(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    metadata = obj.get("metadata") or {}
    service = (metadata.get("labels") or {}).get(health.SERVICE_NAME_LABEL)
    return (shared(metadata.get("namespace") or "default"), shared(service)) if service else None


def _slice_readiness(obj: Mapping[str, Any]) -> health.SliceView:
    """What the ready count needs of an EndpointSlice, its strings copied out of the decoded LIST."""
    return health.slice_readiness(obj, keep=detached)  # addresses: unique, so copied, not shared


# Values unique to one object: copied, not shared (an interned entry would only add to them). Not
# the name: a target is mostly named as its service (shared anyway), and names repeat across namespaces.
_UNIQUE_VALUES = frozenset({"uid", "resourceVersion", "creationTimestamp", "generation"})


#: Parts of cached objects that repeat from object to object (a TrafficSplit's spec and backends, a
#: route's rules, backendRefs, parentRefs, status conditions and path matches, the managed-by label):
#: one copy of each value, shared by every cached object that has it (hash-consing). Safe because no
#: reader changes a cached object in place (each copies what it changes). Built bottom up: a node is
#: keyed by its plain values and the identities of its (already shared) children, so no key is deep.
#: Never an object's metadata (its uid and resourceVersion make it unique) nor annotations (unique
#: values). Bounded, so a cluster of unique values cannot grow it without end; entries are never
#: dropped, so the identity of a shared node is never reused by another.
_NODES: dict[tuple[Any, ...], Any] = {}
_SHARED_IDS: set[int] = set()  # ids of the values of ``_NODES``
_NODE_LIMIT = 8192
_PLAIN = (str, int, bool, type(None))  # not float: -0.0 == 0.0 would share one for the other
#: Mappings unique to one object: never shared themselves (their children may be).
_OWN = frozenset({"metadata"})


def _node_key(node: dict[str, Any] | list[Any]) -> tuple[Any, ...] | None:
    """What tells ``node`` apart from every other value: its type, then per item (a mapping's key first)
    the value's type and the value, or for a shared child its identity; None when a child is not shared."""
    parts: list[Any] = [type(node)]
    for key, value in (node.items() if type(node) is dict else enumerate(node)):
        kind = type(value)
        if kind in _PLAIN:
            parts += (key, kind, value) if type(node) is dict else (kind, value)  # the type too: true is not 1
        elif id(value) in _SHARED_IDS:
            parts += (key, kind, id(value)) if type(node) is dict else (kind, id(value))
        else:
            return None
    return tuple(parts)


def _shared_node(node: Any) -> Any:
    """The shared copy of ``node`` (``node`` itself the first time, or when it cannot be shared)."""
    key = _node_key(node)
    if key is None:
        return node
    found = _NODES.get(key)
    if found is not None or len(_NODES) >= _NODE_LIMIT:
        return found if found is not None else node
    # One step (watchers put from their own threads): only the copy kept is ever taken for shared, so
    # an identity in ``_SHARED_IDS`` always belongs to a value ``_NODES`` keeps alive.
    found = _NODES.setdefault(key, node)
    if found is node:
        _SHARED_IDS.add(id(node))
    return found


def _interned(value: Any, unique: bool = False, share: bool = True, own: bool = False) -> Any:
    """A copy of a decoded JSON value sharing its mapping keys, and its short repeated string values
    (namespaces, kinds, service names, label and annotation values), with every other cached object;
    repeated parts are shared whole (``_shared_node``), but for ``own`` ones (the object itself, its metadata).

    Each watch event is its own JSON document, so without this 10,000 cached TrafficSplits
    each hold private copies of "apiVersion", "metadata", "backends" and the rest.
    """
    if isinstance(value, dict):
        copy = {sys.intern(key) if isinstance(key, str) else key:
                _interned(item, key in _UNIQUE_VALUES, share and key != "annotations", key in _OWN)
                for key, item in value.items()}
        return _shared_node(copy) if share and not own else copy
    if isinstance(value, list):
        items = [_interned(item, share=share) for item in value]
        return _shared_node(items) if share and not own else items
    return detached(value) if unique else shared(value)


#: Server-set metadata the loop never reads. managedFields alone are a dozen nested mappings: the
#: object failsync just wrote (put into the cache before its watch event) carries them.
_DROPPED_METADATA = frozenset({"managedFields", "creationTimestamp", "generation"})
#: What ``route_acceptance`` reads of a route's status: each parent's ref, controller and conditions,
#: of each condition its type, status and reason (not its message, time or observedGeneration).
_PARENT_FIELDS = ("parentRef", "controllerName", "conditions")
_CONDITION_FIELDS = ("type", "status", "reason")


def _picked(value: Any, fields: tuple[str, ...]) -> Any:
    """``value`` with only ``fields`` when it is a mapping (anything else as it is: diagnosed elsewhere)."""
    return {key: value[key] for key in fields if key in value} if isinstance(value, Mapping) else value


def _route_status(status: Mapping[str, Any]) -> dict[str, Any]:
    parents = status.get("parents")
    if not isinstance(parents, list):
        return dict(status)
    kept = []
    for parent in parents:
        parent = _picked(parent, _PARENT_FIELDS)
        if isinstance(parent, dict) and isinstance(parent.get("conditions"), list):
            parent["conditions"] = [_picked(c, _CONDITION_FIELDS) for c in parent["conditions"]]
        kept.append(parent)
    return {**status, "parents": kept}


def _live_object(obj: Mapping[str, Any]) -> Any:
    """What the loop reads of a live target (TrafficSplit or route), shared as ``_interned`` shares it:
    everything the diff, the ownership check, adoption and Events read; not server-set metadata
    nor the parts of a route's status nothing reads."""
    metadata = obj.get("metadata")
    kept = dict(obj)
    if isinstance(metadata, Mapping):
        kept["metadata"] = {key: value for key, value in metadata.items() if key not in _DROPPED_METADATA}
    status = obj.get("status")
    if isinstance(status, Mapping) and "parents" in status:
        kept["status"] = _route_status(status)
    return _interned(kept, own=True)


def _present(obj: Mapping[str, Any]) -> bool:
    """Services are watched only to re-trigger their policies: the cache keeps their keys, not their content."""
    return True


def _projection(resource: Resource) -> Any:
    """What the cache of ``resource`` keeps of each object (None: the whole object)."""
    if resource == ENDPOINT_SLICES:
        return _slice_readiness
    if resource == ENDPOINTS:
        return health.endpoint_counts  # (ready, all) is all the loop reads of an Endpoints
    if resource == SERVICES:
        return _present
    return _live_object  # TrafficSplits and routes: the live object, diffed against the desired one


class PolicyCounts(NamedTuple):
    """What a reconcile reads of the caches for one policy, from one look at them: the ready counts the
    decision gets, all endpoints (None when the policy needs only ready ones) and what remote health
    says of its backends (the sentences its decision's reason gets)."""

    ready: dict[str, int]
    total: dict[str, int] | None
    notes: tuple[str, ...]


class Caches:
    """The watchers of one loop; ``ensure_for`` starts what a policy needs (watchers are never stopped early)."""

    def __init__(self, client: KubeClient, *, retry: RetryPolicy, spawn: Spawn, watch_timeout: float,
                 on_change: Callable[[Resource, Change], None], on_resync: Callable[[], None],
                 on_restart: Callable[[Resource, str], None]) -> None:
        self.client = client
        self.retry = retry
        self.spawn = spawn
        self.watch_timeout = watch_timeout
        self.on_change = on_change
        self.on_resync = on_resync
        self.on_restart = on_restart
        self.slices_served = False
        self.started = False
        self._lock = threading.Lock()
        self.watchers: dict[Resource, Watcher] = {}
        #: Targets (kind, apiVersion) the server does not serve, with the error saying so.
        self.unserved: dict[Target, str] = {}
        #: Kinds whose first LIST ``synced`` does not wait for (the loop's Services: no reconcile reads them).
        self.unawaited: frozenset[Resource] = frozenset()

    def discover(self) -> None:
        """Ask the server what it serves (raises ApiError while it cannot answer)."""
        self.slices_served = self.client.serves_endpoint_slices()

    def target_resource(self, target: Target) -> Resource | None:
        """The resource of a policy's target (a TrafficSplit version, a route kind), or None when not served."""
        target = kind_of(target)
        if target in self.unserved:
            return None
        try:
            return self.client.target_resource(target)
        except ApiError as error:
            with self._lock:
                self.unserved[target] = str(error)
            return None

    def resources_for(self, policy: Policy) -> list[Resource]:
        """The kinds a policy reads: its target kind (when served), its health source, Services."""
        resources = []
        target = self.target_resource(policy.target)
        if target is not None:
            resources.append(target)
        resources.extend(self._health_resources([resolve_source(policy, self.slices_served)]))
        return resources

    def _health_resources(self, sources: Iterable[HealthSource]) -> list[Resource]:
        found = []
        for source in sources:
            if source is HealthSource.ENDPOINTSLICES and self.slices_served:
                found.append(ENDPOINT_SLICES)
            elif source is HealthSource.ENDPOINTS:
                found.append(ENDPOINTS)
        return [*found, SERVICES]

    def start(self, resources: Iterable[Resource]) -> None:
        """Start watching (once ``started``): the kinds every loop watches, before any policy asks."""
        self.started = True
        default = HealthSource.ENDPOINTSLICES if self.slices_served else HealthSource.ENDPOINTS
        self.ensure([*resources, *self._health_resources([default])])

    def ensure_for(self, policy: Policy) -> None:
        """Start a watcher for every kind ``policy`` needs that is not watched yet."""
        if self.started:
            self.ensure(self.resources_for(policy))

    def ensure(self, resources: Iterable[Resource]) -> None:
        """Start a watcher for each of ``resources`` not watched yet."""
        for resource in resources:
            with self._lock:
                if resource in self.watchers:
                    continue
                watcher = Watcher(
                    self.client, resource, store=Store(_service_of_slice if resource == ENDPOINT_SLICES else None,
                                                       project=_projection(resource)),
                    on_change=lambda change, r=resource: self.on_change(r, change), on_resync=self.on_resync,
                    on_restart=lambda reason, r=resource: self.on_restart(r, reason),
                    watch_timeout=self.watch_timeout, retry=self.retry, spawn=self.spawn)
                self.watchers[resource] = watcher
            watcher.start()

    @property
    def synced(self) -> bool:
        """Whether every watcher has listed once (the caches are usable), but those of ``unawaited``."""
        return self.started and all(w.synced.is_set() for r, w in list(self.watchers.items()) if r not in self.unawaited)

    def unsynced(self) -> int:
        """Watches whose cache is not in step: not listed yet (a Services watch waits for the start-up
        pass to end), or to be listed again (after a 410 or a lost connection) until that LIST is in."""
        return sum(1 for w in list(self.watchers.values()) if w.resource_version is None)

    def store(self, resource: Resource | None) -> Store | None:
        """The cache of a watched kind, or None when it is not watched."""
        watcher = self.watchers.get(resource) if resource is not None else None
        return watcher.store if watcher else None

    def target_store(self, policy: Policy) -> Store | None:
        """The cache of ``policy``'s target kind (None when not served or not watched)."""
        return self.store(self.target_resource(policy.target))

    def counts(self, policy: Policy) -> PolicyCounts:
        """What a reconcile of ``policy`` reads, in one call (remote-aware caches judge its remote-read
        backends once for counts, totals and notes together; these caches have no notes)."""
        return PolicyCounts(self.ready_counts(policy), self.total_counts(policy), ())

    def ready_counts(self, policy: Policy) -> dict[str, int]:
        """Ready endpoints of each backend of ``policy``, from the caches."""
        counts = {}
        if resolve_source(policy, self.slices_served) is HealthSource.ENDPOINTSLICES:
            store = self.store(ENDPOINT_SLICES)
            for service in policy.services:
                counts[service] = health.count_ready(store.by_index((policy.namespace, service))) if store else 0
        else:
            store = self.store(ENDPOINTS)
            for service in policy.services:
                counts[service] = (store.get(f"{policy.namespace}/{service}") or (0, 0))[0] if store else 0
        return counts

    def total_counts(self, policy: Policy) -> dict[str, int] | None:
        """All endpoints (ready or not) of each backend; None when the policy needs only ready ones (SPEC §12)."""
        if not policy.needs_totals:
            return None
        if resolve_source(policy, self.slices_served) is HealthSource.ENDPOINTSLICES:
            store = self.store(ENDPOINT_SLICES)
            return {s: health.count_all(store.by_index((policy.namespace, s))) if store else 0
                    for s in policy.services}
        store = self.store(ENDPOINTS)
        return {s: (store.get(f"{policy.namespace}/{s}") or (0, 0))[1] if store else 0 for s in policy.services}

    def stop(self) -> None:
        """Stop every watcher (each ends at its next event or timeout; the threads are daemons)."""
        for watcher in list(self.watchers.values()):
            watcher.stop()
