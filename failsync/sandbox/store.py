"""Object storage of one cluster: objects, the global resourceVersion counter, the bounded
history of changes, and the watchers changes fan out to.

Owns: atomic commits (assign the next resourceVersion, store, record in history, offer to
watchers, run in-lock hooks such as the workload simulator), snapshots for LIST and the
"too old" rule for WATCH and continue tokens. Never does: HTTP, validation, defaults or
conversion between versions. Stored objects are never mutated in place: every commit
stores a new dict, so readers may serialise a snapshot outside the lock.
"""

from __future__ import annotations

import bisect
import heapq
import json
import queue
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from failsync.sandbox.selectors import FieldSelector, Requirement, fields_match, labels_match

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


@dataclass
class Change:
    """One committed change: type ADDED/MODIFIED/DELETED, the stored object after it, and before it."""

    revision: int
    type: str
    store_key: str
    obj: dict
    old: dict | None = None
    _encoded: dict = field(default_factory=dict, repr=False)

    def encode(self, event_type: str, version_key: object, view: Callable[[dict], dict]) -> bytes:
        """``{"type":T,"object":O}\\n`` for a served version; serialised once per (type, version_key).

        A MODIFIED change seen as DELETED (the watch's selector stopped matching) carries the
        previous object with this change's resourceVersion, as the watch cache sends it."""
        cache_key = (event_type, version_key)
        line = self._encoded.get(cache_key)
        if line is None:
            obj = self.obj
            if event_type == "DELETED" and self.type == "MODIFIED" and self.old is not None:
                obj = dict(self.old, metadata=dict(self.old["metadata"], resourceVersion=str(self.revision)))
            line = (json.dumps({"type": event_type, "object": view(obj)}, separators=(",", ":")) + "\n").encode()
            self._encoded[cache_key] = line
        return line


def detached(value: Any) -> Any:
    """A copy of a JSON-like value's dicts and lists, sharing only its immutable leaves (strings,
    numbers): a caller may edit it without changing stored state, and stored state without it.

    The one deep copy of the sandbox (Python callers' copies, the defaults of built-in kinds):
    1.7x faster than ``copy.deepcopy`` and as fast as a pickle round trip, which unlike it
    makes a new string of every key, so that each stored copy held its own ~40 key strings."""
    if type(value) is dict:
        return {key: detached(child) for key, child in value.items()}
    if type(value) is list:
        return [detached(child) for child in value]
    return value


def _key_of(obj: dict) -> Key:
    metadata = obj["metadata"]
    return metadata.get("namespace") or "", metadata["name"]


class Watcher:
    """One open watch: a filter and a queue of ``(event type, Change)`` pairs; ``None`` = closed."""

    def __init__(self, store_key: str, namespace: str | None, labels: tuple[Requirement, ...],
                 fields: FieldSelector) -> None:
        self.store_key = store_key
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.last_revision = 0

    def selects(self, obj: dict | None) -> bool:
        """Whether a stored object is in this watch's view."""
        if obj is None:
            return False
        metadata = obj["metadata"]
        if self.namespace and metadata.get("namespace") != self.namespace:
            return False
        return labels_match(self.labels, metadata.get("labels")) and fields_match(self.fields, obj)

    def event_type(self, change: Change) -> str | None:
        """The event this watcher sees for a change (selector transitions become ADDED/DELETED)."""
        now = change.type != "DELETED" and self.selects(change.obj)
        if change.type == "ADDED":
            return "ADDED" if now else None
        if change.type == "DELETED":
            return "DELETED" if self.selects(change.obj) else None
        before = self.selects(change.old)
        if now and before:
            return "MODIFIED"
        if now:
            return "ADDED"
        return "DELETED" if before else None

    def offer(self, change: Change) -> None:
        """Queue a change if this watcher sees it."""
        event_type = self.event_type(change)
        if event_type:
            self.events.put((event_type, change))

    def close(self) -> None:
        """Wake the stream and make it end."""
        self.events.put(None)


class Store:
    """Every object of one cluster, keyed by store key then (namespace, name)."""

    def __init__(self, history: int = 1000) -> None:
        self.lock = threading.RLock()
        self.revision = 0
        self._objects: dict[str, dict[Key, dict]] = {}
        # per kind, every stored key in (namespace, name) order, kept with bisect on create and
        # delete, so a LIST page starts at its continue key instead of re-sorting the kind
        self._keys: dict[str, list[Key]] = {}
        # Per kind, as the API server's watch cache is per resource: writes to one kind never
        # expire a watch or a continue token of another (a quiet kind keeps its old changes).
        self._history_length = max(1, history)
        self._histories: dict[str, deque[Change]] = {}
        self._floors: dict[str, int] = {}  # per kind: every change after this revision is still in history
        self._watchers: dict[str, set[Watcher]] = {}
        self.hooks: list[Callable[[Change], None]] = []  # run inside the lock after each commit
        self._advanced = threading.Condition(self.lock)  # notified on commits while someone waits
        self._revision_waiters = 0
        self._encoded: dict[Key, dict] = {}  # (ns, name) -> view key -> (stored obj, bytes)
        # Fault injection (``Faults.hold_watch_events``): per kind whose watch events are held back,
        # the changes committed since, which no watch has seen yet.
        self._held: dict[str, list[Change]] = {}

    # --- reads ---------------------------------------------------------------------------------
    def get(self, store_key: str, namespace: str, name: str) -> dict | None:
        """The stored object or None."""
        return self._objects.get(store_key, {}).get((namespace or "", name))

    def snapshot(self, store_key: str, namespace: str | None = None) -> tuple[list[dict], int]:
        """Objects of a kind (in one namespace or all), sorted by (namespace, name), and the revision."""
        with self.lock:
            return self.page(store_key, namespace)[0], self.revision

    def all_of(self, store_key: str) -> Iterable[dict]:
        """Every stored object of a kind (a copy of the list, unsorted)."""
        with self.lock:
            return list(self._objects.get(store_key, {}).values())

    def snapshot_at(self, store_key: str, namespace: str | None, revision: int) -> list[dict]:
        """Objects of a kind as they were at ``revision`` (sorted like ``snapshot``), rebuilt by
        undoing later changes from history; the caller checks ``too_old`` and the upper bound."""
        return self.page(store_key, namespace, revision=revision)[0]

    def page(self, store_key: str, namespace: str | None = None, *, after: Key | None = None,
             revision: int | None = None, select: Callable[[dict], bool] | None = None,
             limit: int = 0) -> tuple[list[dict], int | None, bool]:
        """Up to ``limit`` (0: all) objects of a kind in (namespace, name) order after the key
        ``after``, as they were at ``revision`` (None: now), that ``select`` accepts; returns them,
        how many more there are (None when ``select`` is given) and whether there are more.

        Walks the kind's sorted keys from ``after``, with the changes since ``revision`` undone
        from history, so a page costs its own length, not the kind's; the caller checks ``too_old``."""
        with self.lock:
            objects = self._objects.get(store_key, {})
            keys = self._keys.get(store_key, [])
            then = self._undone(store_key, revision) if revision is not None and revision < self.revision else {}
            low, high = 0, len(keys)
            if namespace:  # a namespace's keys are one run of the order
                low = bisect.bisect_left(keys, (namespace, ""))
                high = bisect.bisect_left(keys, (namespace + "\0", ""))
            if after is not None:
                low = max(low, bisect.bisect_right(keys, after))

            def in_range(key: Key) -> bool:
                return (not namespace or key[0] == namespace) and (after is None or key > after)

            # keys that were there at ``revision`` but are gone now join the walk in order
            gone = sorted(k for k, old in then.items() if old is not None and k not in objects and in_range(k))
            walk = (keys[i] for i in range(low, high))
            if gone:
                walk = heapq.merge(walk, gone)
            found: list[dict] = []
            more = False
            for key in walk:
                obj = then[key] if key in then else objects[key]
                if obj is None or (select is not None and not select(obj)):
                    continue
                if limit and len(found) == limit:
                    more = True
                    break
                found.append(obj)
            if select is not None:
                return found, None, more
            # without a selector the rest is counted, not walked: now's count, corrected for the undone changes
            total = high - low + sum((then[k] is not None) - (k in objects) for k in then if in_range(k))
            return found, total - len(found), more

    def _undone(self, store_key: str, revision: int) -> dict[Key, dict | None]:
        """Each key of a kind changed after ``revision``: its object at ``revision`` (None: absent)."""
        then: dict[Key, dict | None] = {}
        for change in reversed(self._histories.get(store_key, ())):  # oldest last: the state before the first change wins
            if change.revision <= revision:
                break
            then[_key_of(change.obj)] = None if change.type == "ADDED" or change.old is None else change.old
        return then

    def wait_for_revision(self, revision: int, timeout: float) -> bool:
        """Wait (up to ``timeout`` seconds) until the store has reached ``revision``."""
        with self.lock:
            if self.revision >= revision:
                return True
            self._revision_waiters += 1
            try:
                return self._advanced.wait_for(lambda: self.revision >= revision, timeout)
            finally:
                self._revision_waiters -= 1

    def encoded(self, view_key: object, obj: dict, encode: Callable[[dict], bytes]) -> bytes:
        """``encode(obj)`` for a stored object, computed once per stored version and view."""
        views = self._encoded.setdefault(_key_of(obj), {})
        hit = views.get(view_key)
        if hit is not None and hit[0] is obj:
            return hit[1]
        data = encode(obj)
        views[view_key] = (obj, data)
        return data

    def kinds(self) -> list[str]:
        """The store keys that have (or had) objects."""
        with self.lock:
            return list(self._objects)

    def too_old(self, store_key: str, revision: int) -> bool:
        """Whether changes of a kind after ``revision`` have already left its history window."""
        return revision < self._floors.get(store_key, 0)

    def oldest(self, store_key: str) -> int:
        """The oldest revision a watch of a kind may resume from."""
        return self._floors.get(store_key, 0)

    # --- writes --------------------------------------------------------------------------------
    def commit(self, store_key: str, event_type: str, obj: dict, old: dict | None = None) -> dict:
        """Store (or, for DELETED, remove) an object under the next revision; returns the stored dict.

        ``obj`` must be a fresh dict the caller no longer mutates; its metadata is copied.
        """
        with self.lock:
            self.revision += 1
            stored = dict(obj)
            stored["metadata"] = dict(obj["metadata"], resourceVersion=str(self.revision))
            objects = self._objects.setdefault(store_key, {})
            key = _key_of(stored)
            keys = self._keys.setdefault(store_key, [])
            if event_type == "DELETED":
                if objects.pop(key, None) is not None:
                    del keys[bisect.bisect_left(keys, key)]
                self._encoded.pop(key, None)  # (shared by kinds: at worst a cache miss)
            else:
                if key not in objects:
                    bisect.insort(keys, key)
                objects[key] = stored
            change = Change(self.revision, event_type, store_key, stored, old)
            history = self._histories.get(store_key)
            if history is None:
                history = self._histories[store_key] = deque(maxlen=self._history_length)
            if len(history) == self._history_length:
                self._floors[store_key] = history[0].revision
            history.append(change)
            held = self._held.get(store_key)
            if held is not None:
                held.append(change)
            else:
                for watcher in self._watchers.get(store_key, ()):
                    watcher.offer(change)
            for hook in self.hooks:
                hook(change)
            if self._revision_waiters:
                self._advanced.notify_all()
            return stored

    # --- watches -------------------------------------------------------------------------------
    def watch(self, watcher: Watcher, since: int | None) -> list[tuple[str, Change]]:
        """Register a watcher; returns its first events (synthetic ADDED when ``since`` is None,
        else the changes after ``since`` from history). The caller checks ``too_old`` first."""
        with self.lock:
            held = self._held.get(watcher.store_key)
            seen = held[0].revision - 1 if held else self.revision  # held changes come on release
            if since is None:
                objects = (self.snapshot_at(watcher.store_key, watcher.namespace, seen) if held
                           else self.snapshot(watcher.store_key, watcher.namespace)[0])
                first = [("ADDED", Change(int(o["metadata"]["resourceVersion"]), "ADDED", watcher.store_key, o))
                         for o in objects if watcher.selects(o)]
            else:
                first = []
                for change in self._histories.get(watcher.store_key, ()):
                    if since < change.revision <= seen:
                        event_type = watcher.event_type(change)
                        if event_type:
                            first.append((event_type, change))
            self._watchers.setdefault(watcher.store_key, set()).add(watcher)
            return first

    def unwatch(self, watcher: Watcher) -> None:
        """Forget a watcher (its stream ended)."""
        with self.lock:
            self._watchers.get(watcher.store_key, set()).discard(watcher)

    def close_watches(self) -> int:
        """End every open watch; returns how many there were."""
        with self.lock:
            watchers = [w for group in self._watchers.values() for w in group]
            for watcher in watchers:
                watcher.close()
            self._watchers.clear()
            return len(watchers)

    def idle_revision(self, watcher: Watcher) -> int | None:
        """The current revision if ``watcher`` has nothing queued (safe for a BOOKMARK), else None; while
        its kind's events are held, the revision before the first held change."""
        with self.lock:
            if not watcher.events.empty():
                return None
            held = self._held.get(watcher.store_key)
            return held[0].revision - 1 if held else self.revision

    def hold_events(self, store_key: str) -> None:
        """Hold back the watch events of a kind (fault injection): watches see none of its changes
        until ``release_events``, as behind a lagging watch cache; reads see them at once."""
        with self.lock:
            self._held.setdefault(store_key, [])

    def release_events(self) -> int:
        """Offer every held change to the watches of its kind, in order, and hold no more; returns how many."""
        with self.lock:
            held, self._held = self._held, {}
            for store_key, changes in held.items():
                for change in changes:
                    for watcher in self._watchers.get(store_key, ()):
                        watcher.offer(change)
            return sum(len(changes) for changes in held.values())

    def watcher_count(self) -> int:
        """How many watches are open."""
        with self.lock:
            return sum(len(group) for group in self._watchers.values())
