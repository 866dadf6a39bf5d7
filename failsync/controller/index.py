"""The loop's policy index: which policies are managed, and which policies each service touches.

Owns: the two sources of policies (the policy files, and in drop-in mode the adopted
TrafficSplits; a policy file wins over an adopted object of the same name), the merged
set by ``namespace/name``, and the index (namespace, service) -> policy keys. Every
update touches one key (or the keys of the files that changed), never the whole set:
starting with 10,000 adopted TrafficSplits is 10,000 small updates, not 10,000 rebuilds.
Each update that changes the set is told to ``listeners`` (the remote caches rescope on it).
Never does: read the cluster, reconcile, or decide.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from failsync.core.model import Policy, share_values


@dataclass
class IndexChange:
    """What an update did: keys added or changed (to reconcile) and policies no longer managed."""

    changed: list[Policy] = field(default_factory=list)
    removed: list[Policy] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.removed)


class PolicyIndex:
    """Thread-safe; reads are cheap snapshots, updates are per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, Policy] = {}
        self._adopted: dict[str, Policy] = {}
        self._policies: dict[str, Policy] = {}
        # A service's one policy key (the policy's own string), a tuple of them when more than one: 25,000
        # one-element sets weighed 5 MB, one-element tuples 1.6 MB; a service rarely has more than one policy.
        self._by_service: dict[tuple[str, str], str | tuple[str, ...]] = {}
        #: Told each update that changed the managed policies, after it (outside the index's lock).
        self.listeners: list[Callable[[IndexChange], None]] = []

    def get(self, key: str) -> Policy | None:
        """The managed policy ``key`` (``namespace/name``), or None."""
        return self._policies.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._policies

    def __len__(self) -> int:
        return len(self._policies)

    def keys(self) -> list[str]:
        """A snapshot of every managed key."""
        with self._lock:
            return list(self._policies)

    def snapshot(self) -> dict[str, Policy]:
        """A copy of the managed policies by key."""
        with self._lock:
            return dict(self._policies)

    def adopted(self, key: str) -> Policy | None:
        """The policy of the hand-written object adopted as ``key``, or None."""
        return self._adopted.get(key)

    def has_file_policy(self, key: str) -> bool:
        """Whether a policy file defines ``key`` (an adopted object of that name then stays unmanaged)."""
        return key in self._files

    def keys_for(self, services: Iterable[tuple[str, str]]) -> set[str]:
        """Keys of the policies that have any of ``services`` (namespace, name) as a backend."""
        with self._lock:
            return {key for service in services for key in _keys(self._by_service.get(service))}

    def set_files(self, policies: Mapping[str, Policy]) -> IndexChange:
        """Take the policy files' policies as they are now; only keys that differ are touched."""
        change = IndexChange()
        with self._lock:
            keys = [key for key in self._files.keys() | policies.keys()
                    if self._files.get(key) != policies.get(key)]
            self._files = dict(policies)
            for key in keys:
                self._refresh_locked(key, change)
        return self._told(change)

    def set_adopted(self, key: str, policy: Policy | None) -> IndexChange:
        """Take (or, with None, drop) the policy of one adopted TrafficSplit or route."""
        change = IndexChange()
        with self._lock:
            if self._adopted.get(key) == policy:
                return change
            if policy is None:
                self._adopted.pop(key, None)
            else:
                self._adopted[key] = policy
            self._refresh_locked(key, change)
        return self._told(change)

    def _told(self, change: IndexChange) -> IndexChange:
        if change:
            for listener in self.listeners:
                listener(change)
        return change

    def _refresh_locked(self, key: str, change: IndexChange) -> None:
        effective = self._files.get(key) or self._adopted.get(key)
        previous = self._policies.get(key)
        if effective == previous:
            return
        if previous is not None:
            self._unindex_locked(key, previous)
        if effective is None:
            del self._policies[key]
            assert previous is not None
            change.removed.append(previous)
            return
        self._policies[key] = share_values(effective)
        key = effective.key  # the one copy of the string, shared with the policy
        for service in dict.fromkeys(effective.services):
            service_key = (effective.namespace, service)
            found = self._by_service.get(service_key)
            self._by_service[service_key] = key if found is None else (*_keys(found), key)
        change.changed.append(effective)

    def _unindex_locked(self, key: str, policy: Policy) -> None:
        for service in dict.fromkeys(policy.services):
            service_key = (policy.namespace, service)
            rest = tuple(k for k in _keys(self._by_service.get(service_key)) if k != key)
            if rest:
                self._by_service[service_key] = rest[0] if len(rest) == 1 else rest
            else:
                self._by_service.pop(service_key, None)


def _keys(found: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """The policy keys of one entry of the service index."""
    return () if found is None else (found,) if isinstance(found, str) else found
