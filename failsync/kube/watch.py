"""Watching one kind: LIST, then WATCH from the list's resourceVersion, feeding an
in-memory cache and calling a handler for every change.

Owns: the informer loop (list, watch with bookmarks, keep the last resourceVersion,
re-list on 410 Gone and report a resync, reconnect with exponential backoff and
jitter on connection errors, 5xx and 429 honouring Retry-After; after a lost connection or a
"too large resource version" answer re-list, and say so when the server's resourceVersion
went back: restarted empty or restored from a backup), the cache
(``Store``, keyed ``namespace/name``, with an optional secondary index and an
optional projection: the cache may keep only what its reader needs of each object,
plus its resourceVersion), and skipping malformed objects and events without ever
crashing.
Never does: decide, render or write anything; the handler does that elsewhere.
"""

from __future__ import annotations

import logging
import sys
import random
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

from failsync.backoff import RetryPolicy
from failsync.errors import ApiError, Gone, ServerError, Unreachable
from failsync.kube.client import KubeClient
from failsync.kube.errors import is_temporary
from failsync.kube.resources import Resource
from failsync.supervisor import Spawn, plain_thread

log = logging.getLogger(__name__)

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name`` of an object (``name`` alone when cluster-scoped)."""
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else metadata["name"]


def detached(value: Any) -> Any:
    """A copy of a decoded string that keeps no decoded JSON document alive (other values as they are).

    CPython gives a memory arena back only once every object in it is gone: one string kept from a
    LIST of 25,000 objects pins the memory of its neighbours long after the list is freed.
    """
    return (value + " ")[:-1] if isinstance(value, str) else value


#: Strings up to this length are shared by ``shared``; longer ones are mostly unique (state annotations).
_SHARED_LENGTH = 64


def shared(value: Any) -> Any:
    """``detached``, and for a short string the one copy of that text every cache shares (``sys.intern``):
    namespaces, kinds, service names, label and annotation values repeat across objects and fields.
    The copy is interned, not the decoded string, so the shared copy pins no document either; for
    values unique to one object (uid, resourceVersion) use ``detached``, as an interned entry costs more."""
    if not isinstance(value, str):
        return value
    copy = (value + " ")[:-1]
    return sys.intern(copy) if len(copy) <= _SHARED_LENGTH else copy


def _is_mapping(value: object) -> bool:
    """``isinstance(value, Mapping)``, decoded JSON (a dict) first: the check through ``typing.Mapping``
    costs ~1 us, and every listed object and watch event took three (0.2-0.3 s of CPU per 10,000 policies)."""
    return type(value) is dict or isinstance(value, Mapping)


def is_well_formed(obj: object) -> bool:
    """An object the cache can hold: a mapping whose metadata has a string name."""
    if not _is_mapping(obj):
        return False
    metadata = obj.get("metadata")  # type: ignore[attr-defined]
    return _is_mapping(metadata) and isinstance(name := metadata.get("name"), str) and bool(name)


@dataclass(frozen=True)
class Change:
    """One change to the cache: ``type`` ADDED, MODIFIED or DELETED, with the value before and after.

    The values are what the store keeps (the objects, or their projections); ``indexed`` holds
    the secondary index keys of the value before and after (with an index).
    """

    type: str
    key: str
    old: Any
    new: Any
    indexed: tuple[Any, ...] = ()

    @property
    def object(self) -> Mapping[str, Any]:
        """The object as it is now (or as it was last seen, when deleted)."""
        return self.new if self.new is not None else self.old  # type: ignore[return-value]


class Store:
    """A thread-safe cache of one kind, keyed ``namespace/name``.

    ``index`` (optional) maps an object to a secondary key (e.g. the service an
    EndpointSlice belongs to), so ``by_index`` answers without a scan. ``project``
    (optional) turns an object into what the cache keeps of it (never None); the
    resourceVersion is kept beside it, so changes are still told apart.
    """

    def __init__(self, index: Callable[[Mapping[str, Any]], Any] | None = None,
                 project: Callable[[Mapping[str, Any]], Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, Any] = {}
        self._versions: dict[str, str | int | None] = {}  # see ``_compact_version``
        self._project = project
        self._index_fn = index
        # index key -> (the index key, then the keys under it): a tuple, not a dict (most services have
        # one or two EndpointSlices; a dict per service cost 4 times as much at 10,000 policies).
        self._index: dict[Any, tuple[Any, ...]] = {}
        self._indexed: dict[str, Any] = {}  # key -> its secondary index key (the one copy in ``_index``)

    def get(self, key: str) -> Any:
        """The cached object (or its projection), or None."""
        return self._objects.get(key)

    def version(self, key: str) -> str | None:
        """The resourceVersion of the cached object, or None."""
        version = self._versions.get(key)
        return str(version) if isinstance(version, int) else version

    def token(self, key: str) -> str | int | None:
        """The resourceVersion of the cached object as the store keeps it (``_compact_version``'s form:
        the one copy, for a reader that remembers it), or None."""
        return self._versions.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._objects

    def values(self) -> list[Any]:
        """A snapshot of every cached object (or projection)."""
        with self._lock:
            return list(self._objects.values())

    def keys(self) -> list[str]:
        """A snapshot of every cached key."""
        with self._lock:
            return list(self._objects)

    def by_index(self, value: Any) -> list[Any]:
        """Objects (or projections) whose secondary index key is ``value``."""
        with self._lock:
            return [self._objects[key] for key in self._index.get(value, ())[1:]]

    def __len__(self) -> int:
        return len(self._objects)

    def put(self, obj: Mapping[str, Any]) -> Change:
        """Insert or replace; the Change says which."""
        key = object_key(obj)
        value = obj if self._project is None else self._project(obj)
        listed = _version(obj)
        kept = _version(value) if self._project is not None and _is_mapping(value) else None
        # The projection's own copy when it has one (one string, not two), else a compact one.
        version = kept if kept is not None and kept == listed else _compact_version(listed)
        with self._lock:
            old = self._objects.get(key)
            self._objects[key] = value
            self._versions[key] = version
            indexed: tuple[Any, ...] = ()
            if self._index_fn is not None:
                before = self._unindex(key) if old is not None else None
                bucket = self._index.get(after := self._index_fn(obj))
                after = bucket[0] if bucket else after  # one copy of the index key, whatever its objects
                self._index[after] = (after, *bucket[1:], key) if bucket else (after, key)
                self._indexed[key] = after
                indexed = (before, after) if old is not None else (after,)
        return Change(ADDED if old is None else MODIFIED, key, old, value, indexed)

    def remove(self, key: str) -> Change | None:
        """Delete by key; None when it was not cached."""
        with self._lock:
            old = self._objects.pop(key, None)
            self._versions.pop(key, None)
            indexed: tuple[Any, ...] = ()
            if old is not None and self._index_fn is not None:
                indexed = (self._unindex(key),)
        return None if old is None else Change(DELETED, key, old, None, indexed)

    def _unindex(self, key: str) -> Any:
        value = self._indexed.pop(key, None)
        bucket = self._index.get(value)
        if bucket is not None:
            rest = tuple(k for k in bucket[1:] if k != key)
            if rest:
                self._index[value] = (bucket[0], *rest)
            else:
                del self._index[value]
        return value

    def replace(self, objects: Iterable[Mapping[str, Any]]) -> Iterator[Change]:
        """Make the cache hold exactly ``objects`` (after a LIST), yielding each change as it is made.

        Lazy: nothing happens until it is consumed. ``objects`` is read one at a time, so a LIST
        read page by page never has to be whole in memory; until the end, the cache holds the
        objects seen so far beside the old rest, and the removals come last.
        """
        seen = set()
        for obj in objects:
            key = object_key(obj)
            seen.add(key)
            if key not in self._objects or self.version(key) != _version(obj):
                yield self.put(obj)
            del obj  # not kept while the next is read (it may be the last of a page otherwise freed)
        for key in set(self.keys()) - seen:
            change = self.remove(key)
            if change:
                yield change


def _compact_version(version: str | None) -> str | int | None:
    """A resourceVersion as the store keeps it: a number when it spells one exactly (etcd revisions:
    half the size of the string, for each of the 50,000 Services and EndpointSlices of 10,000 policies),
    else a copy of the string (it is opaque to clients)."""
    if isinstance(version, str) and version.isascii() and version.isdecimal() and (version == "0" or version[0] != "0"):
        return int(version)
    return detached(version)


def _as_int(version: str | None) -> int | None:
    """A resourceVersion as a number (they are etcd revisions in practice; opaque ones are not compared)."""
    try:
        return int(version) if version is not None else None
    except ValueError:
        return None


def _too_large(error: ApiError) -> bool:
    """kube-apiserver's answer to a watch from a resourceVersion it has not reached."""
    return "too large resource version" in str(error).lower()


def _version(obj: Mapping[str, Any]) -> str | None:
    return (obj.get("metadata") or {}).get("resourceVersion")


def _slim(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """Drop managedFields: failsync never reads them and they dominate the cache's memory."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "managedFields" in metadata:
        metadata = {k: v for k, v in metadata.items() if k != "managedFields"}
        return {**obj, "metadata": metadata}
    return obj


class Watcher:
    """LIST + WATCH one resource in a daemon thread, keeping ``store`` current.

    ``on_change(change)`` runs on the watcher's thread for every change (keep it
    fast: enqueue work); ``on_resync()`` after every (re-)list, so the caller can
    reconcile everything once more. ``on_restart(reason)`` is told why a stream was
    restarted: ``closed`` (the server ended it), ``expired`` (410 Gone: re-list),
    ``connection``, ``server-error`` (5xx/429), ``client-error`` or ``malformed``.
    """

    def __init__(self, client: KubeClient, resource: Resource, *, store: Store | None = None,
                 namespace: str | None = None, label_selector: str | None = None,
                 on_change: Callable[[Change], None] = lambda change: None,
                 on_resync: Callable[[], None] = lambda: None,
                 on_restart: Callable[[str], None] = lambda reason: None,
                 retry: RetryPolicy = RetryPolicy(0.1, 5.0), watch_timeout: float = 120.0,
                 spawn: Spawn = plain_thread) -> None:
        self.client = client
        self.resource = resource
        self.store = store if store is not None else Store()
        self.namespace = namespace
        self.label_selector = label_selector
        self.on_change = on_change
        self.on_resync = on_resync
        self.on_restart = on_restart
        self.backoff = retry.backoff()
        self.watch_timeout = watch_timeout
        self.resource_version: str | None = None
        self._highest: int | None = None  # the highest resourceVersion seen: a re-list below it went back
        self._trouble: str | None = None  # why the stream last restarted, until it works again
        self.synced = threading.Event()
        self._stopping = threading.Event()
        self._end_stream: Callable[[], None] | None = None  # ends the open stream (``stop`` from another thread)
        self._spawn = spawn
        #: When set by the owner: the first WATCH after the first LIST waits until this is set (the loop's
        #: start-up pass, whose writes would each come back as an event). No event is lost: the watch
        #: starts from the list's resourceVersion (a 410 by then re-lists, as always).
        self.watch_after: threading.Event | None = None

    @property
    def name(self) -> str:
        """What this watcher watches, for logs and metrics."""
        return self.resource.qualified

    def start(self) -> "Watcher":
        """Start the list/watch loop in a daemon thread (``spawn``: the loop's supervisor)."""
        self._spawn(f"watch-{self.name}", self.run)
        return self

    def stop(self) -> None:
        """Stop the loop: the open stream is ended, so the thread ends at once rather than at the
        stream's next event or timeout (a remote namespace no longer read frees its thread)."""
        self._stopping.set()
        end = self._end_stream
        if end is not None:
            end()

    def run(self) -> None:
        """List, then watch until stopped; never raises."""
        while not self._stopping.is_set():
            try:
                if self.resource_version is None:
                    self._relist()
                gate = self.watch_after
                while gate is not None and not gate.wait(0.05):
                    if self._stopping.is_set():
                        return
                self.watch_after = None
                self._watch()
                self._restart("closed")
            except Gone:
                log.info("watch of %s expired at resourceVersion %s (410 Gone): re-listing",
                         self.name, self.resource_version)
                self.resource_version = None
                self._restart("expired")
            except Unreachable as error:
                # The server may come back with older state (restarted empty, restored from a backup):
                # re-list, so a resourceVersion that went back is seen, instead of watching from ours.
                self.resource_version = None
                self._restart("connection", error)
            except ServerError as error:
                if _too_large(error):  # we are ahead of the server: its state went back; re-list
                    self.resource_version = None
                self._restart("server-error", error, retry_after=error.retry_after)
            except ApiError as error:
                self._restart("server-error" if is_temporary(error) else "client-error", error)
            except ValueError as error:  # a watch line that is not JSON
                self._restart("malformed", error)
            except Exception as error:  # never let one bad answer end the loop
                log.exception("watch of %s failed unexpectedly; retrying", self.name)
                self._restart("client-error", error)

    def _restart(self, reason: str, error: Exception | None = None, *, retry_after: float | None = None) -> None:
        if self._stopping.is_set():
            return
        self.on_restart(reason)
        delay = self.backoff.next_delay(retry_after)
        trouble = f"{reason}: {error}" if error else reason
        # One WARNING per change of the trouble (an outage is one line, not one per retry).
        level = logging.DEBUG if reason == "closed" or trouble == self._trouble else logging.WARNING
        if reason != "closed":
            self._trouble = trouble
        log.log(level, "watch of %s restarting (%s) in %.2fs", self.name, trouble, delay)
        self._stopping.wait(delay)

    def _recovered(self) -> None:
        if self._trouble is not None:
            log.info("watch of %s is back (after %s)", self.name, self._trouble)
            self._trouble = None
        self.backoff.reset()

    def _relist(self) -> None:
        # Page by page into the store: each page is projected and dropped before the next is
        # decoded (holding every page of a 25,000-item list until the end peaks at over 100 MB,
        # which CPython keeps long after). Each change is told at once: when a later page fails,
        # the next re-list finds the objects already cached unchanged, so it would not tell them.
        resource_version: str | None = None

        def listed() -> Iterator[Mapping[str, Any]]:
            nonlocal resource_version
            pages = self.client.list_pages(self.resource, namespace=self.namespace,
                                           label_selector=self.label_selector)
            while (page := next(pages, None)) is not None:
                resource_version, items = page.resource_version, page.items
                page = None
                yield from self._well_formed(items)
                # Dropped before the next page is fetched and decoded: one page alive, not two
                # (a ``for page in ...`` keeps the last page until the next one is whole).
                items = ()

        for change in self.store.replace(listed()):
            self._deliver(change)
        self.resource_version = resource_version  # only once the whole list is in: else re-list
        self._check_rewind(resource_version)
        self.synced.set()
        self._recovered()
        log.debug("listed %d %s at resourceVersion %s", len(self.store), self.name, self.resource_version)
        self.on_resync()

    def _well_formed(self, items: Iterable[Any]) -> Iterator[Mapping[str, Any]]:
        for item in items:
            if is_well_formed(item):
                yield _slim(item)
            else:
                log.warning("skipping a malformed %s in a list: %.200r", self.resource.kind, item)

    def _check_rewind(self, listed: str | None) -> None:
        """Say so when a LIST comes back older than what was seen (the server's state went back)."""
        version = _as_int(listed)
        if version is None:
            return
        if self._highest is not None and version < self._highest:
            log.warning("the API server's %s went back: listed at resourceVersion %d after %d was seen "
                        "(restarted empty, or restored from a backup?); the cache now holds what it serves "
                        "and every policy is reconciled again", self.name, version, self._highest)
            self.on_restart("rewound")
            self._highest = version
        else:
            self._highest = max(version, self._highest or 0)

    def _watch(self) -> None:
        timeout = int(self.watch_timeout * (1 + random.random()))  # spread reconnects, as client-go does
        events = self.client.watch(self.resource, namespace=self.namespace, label_selector=self.label_selector,
                                   resource_version=self.resource_version, timeout_seconds=timeout,
                                   on_open=self._opened)
        try:
            for event in events:
                if self._stopping.is_set():
                    return
                self._handle(event.type, event.object)
        finally:
            self._end_stream = None  # its connection may go back to the pool: never end it later

    def _opened(self, end: Callable[[], None]) -> None:
        self._end_stream = end
        if self._stopping.is_set():  # stopped while the stream was being opened
            end()

    def _handle(self, kind: str, obj: Any) -> None:
        if kind == "BOOKMARK":
            version = _version(obj) if _is_mapping(obj) else None
            if version:
                self.resource_version = version
            return
        if kind not in (ADDED, MODIFIED, DELETED) or not is_well_formed(obj):
            log.warning("skipping a malformed watch event of %s: %s %.200r", self.name, kind, obj)
            return
        version = _version(obj)
        if version:
            self.resource_version = version
        key = object_key(obj)
        if kind != DELETED and version and key in self.store and self.store.version(key) == version:
            return  # already cached (the writer put what the server answered): nothing changed, nothing copied
        change = self.store.remove(key) if kind == DELETED else self.store.put(_slim(obj))
        self._recovered()
        if change is not None:
            self._deliver(change)

    def _deliver(self, change: Change) -> None:
        try:
            self.on_change(change)
        except Exception:
            log.exception("handler for %s %s failed", self.name, change.key)
