"""Ready endpoint counts from Endpoints and EndpointSlice objects (SPEC §4.1).

Owns: what "ready" means for a backend service. Takes plain dicts shaped like the
Kubernetes API returns them; never talks to a cluster and never decides weights.

Counting rules:
- Endpoints: the distinct IPs in ``subsets[].addresses``; ``notReadyAddresses`` never count.
- EndpointSlices: endpoints whose ``conditions.ready`` is not false (absent/nil counts as
  ready, as the Kubernetes API documents), de-duplicated by address because the API
  allows the same endpoint to appear in several slices during updates. Dual-stack
  services have one family of slices per ``addressType`` listing the same pods, so
  the count is the largest family, never the sum of families.
- A missing object (None, no slices) means zero ready endpoints.
- All endpoints (for ``minReadyPercent`` and gradual spillover, SPEC §12): the same,
  counting the not-ready ones too (``notReadyAddresses``; ``conditions.ready: false``).
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def ready_from_endpoints(endpoints: Mapping[str, Any] | None) -> int:
    """Ready endpoints of one v1 Endpoints object: distinct ``subsets[].addresses[].ip``."""
    if not endpoints:
        return 0
    ready: set[object] = set()
    for subset in endpoints.get("subsets") or ():
        for index, address in enumerate((subset or {}).get("addresses") or ()):
            # An address without an IP is malformed but still an address the API reported.
            ready.add((address or {}).get("ip") or (id(subset), index))
    return len(ready)


def endpoint_counts(endpoints: Mapping[str, Any] | None) -> tuple[int, int]:
    """(ready, all) endpoints of one v1 Endpoints object: distinct IPs of addresses, and of both lists."""
    if not endpoints:
        return 0, 0
    ready = ready_from_endpoints(endpoints)
    others: set[object] = set()
    for subset in endpoints.get("subsets") or ():
        for index, address in enumerate((subset or {}).get("notReadyAddresses") or ()):
            others.add((address or {}).get("ip") or ("not-ready", id(subset), index))
    ready_ips = {(a or {}).get("ip") for s in endpoints.get("subsets") or () for a in (s or {}).get("addresses") or ()}
    return ready, ready + len(others - ready_ips)


#: One endpoint of a cached slice, as a set member that tells addresses apart exactly as their strings
#: do: one canonical dotted-quad IPv4 address as its number (32 bytes, not a 60-byte string), another
#: single address as its string, several as the tuple of those, none as ``()``.
EndpointKey = Any


@dataclass(frozen=True, slots=True)
class SliceReadiness:
    """All the ready count needs of one EndpointSlice: its address family and, for each ready
    endpoint, its key (``EndpointKey``); and the same for its endpoints that are not ready (they
    count in the total only). An IPv4 slice whose endpoints are all ready is kept as the plain
    tuple of its ready keys (``SliceView``): most slices are, and the object beside it cost more."""

    family: str
    ready: tuple[EndpointKey, ...]
    not_ready: tuple[EndpointKey, ...] = ()


#: What a cache keeps of one EndpointSlice: a ``SliceReadiness``, or an all-ready IPv4 slice's keys.
SliceView = SliceReadiness | tuple[EndpointKey, ...]
_IPV4 = sys.intern("IPv4")


def _compact_address(address: str, keep: Callable[[str], str]) -> EndpointKey:
    try:
        packed = socket.inet_aton(address)
    except (OSError, ValueError):  # not IPv4 (or a NUL in it)
        return keep(address)
    # inet_aton also reads "10.1", "010.0.0.1" and trailing text: only the canonical spelling is a number.
    return int.from_bytes(packed, "big") if socket.inet_ntoa(packed) == address else keep(address)


def _endpoint_key(addresses: Any, keep: Callable[[str], str]) -> EndpointKey:
    if not addresses:
        return ()
    if len(addresses) == 1:
        return _compact_address(str(addresses[0]), keep)
    return tuple(_compact_address(str(address), keep) for address in addresses)


def slice_readiness(item: Mapping[str, Any], *, keep: Callable[[str], str] = str) -> SliceView:
    """The readiness of one EndpointSlice; ``keep`` is applied to every string kept (a cache
    may copy them out of a large decoded document)."""
    ready = []
    not_ready = []
    for endpoint in item.get("endpoints") or ():
        endpoint = endpoint or {}
        key = _endpoint_key(endpoint.get("addresses") or (), keep)
        if (endpoint.get("conditions") or {}).get("ready") is False:
            not_ready.append(key)
        else:
            ready.append(key)
    family = sys.intern(str(item.get("addressType") or "IPv4"))
    if family == _IPV4 and not not_ready:
        return tuple(ready)
    return SliceReadiness(family, tuple(ready), tuple(not_ready) if not_ready else ())


def _view(item: SliceView) -> tuple[str, tuple[EndpointKey, ...], tuple[EndpointKey, ...]]:
    return (_IPV4, item, ()) if type(item) is tuple else (item.family, item.ready, item.not_ready)  # type: ignore[union-attr]


def _count_views(slices: Iterable[SliceView], *, ready_only: bool) -> int:
    addressed: dict[str, set[EndpointKey]] = {}
    unaddressed: dict[str, int] = {}
    for item in slices:
        name, ready, not_ready = _view(item)
        family = addressed.setdefault(name, set())
        for key in (ready if ready_only else (*ready, *not_ready)):
            if key == ():
                unaddressed[name] = unaddressed.get(name, 0) + 1
            else:
                family.add(key)
    return max((len(found) + unaddressed.get(name, 0) for name, found in addressed.items()), default=0)


def count_ready(slices: Iterable[SliceView]) -> int:
    """Ready endpoints over the slices of one service: distinct addresses, largest family."""
    return _count_views(slices, ready_only=True)


def count_all(slices: Iterable[SliceView]) -> int:
    """All endpoints, ready or not, over the slices of one service: distinct addresses, largest family."""
    return _count_views(slices, ready_only=False)


def _address_key(addresses: Any) -> object:
    """What ``slice_readiness`` keeps of an endpoint's addresses, as a set member: one address as its
    string (the common case, no tuple built), several as the tuple of their strings."""
    if type(addresses) in (list, tuple) and len(addresses) == 1 and type(addresses[0]) is str:
        return addresses[0]
    return tuple(str(address) for address in addresses)


def _count_raw(slices: Iterable[Mapping[str, Any]], *, ready_only: bool) -> int:
    """``count_ready`` (``ready_only``) or ``count_all`` of the raw slices of one service, without a
    ``SliceReadiness`` per slice: a one-shot pass counts every slice of the cluster once."""
    addressed: dict[str, set[object]] = {}
    unaddressed: dict[str, int] = {}
    for item in slices:
        name = str(item.get("addressType") or "IPv4")
        family = addressed.setdefault(name, set())
        for endpoint in item.get("endpoints") or ():
            if not endpoint:
                unaddressed[name] = unaddressed.get(name, 0) + 1  # reported without addresses: still one
                continue
            if ready_only and (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            addresses = endpoint.get("addresses")
            if addresses:
                family.add(_address_key(addresses))
            else:
                unaddressed[name] = unaddressed.get(name, 0) + 1
    return max((len(found) + unaddressed.get(name, 0) for name, found in addressed.items()), default=0)


def ready_from_slices(slices: Iterable[Mapping[str, Any]]) -> int:
    """Ready endpoints over the EndpointSlices of one service (conditions.ready not false)."""
    return _count_raw(slices, ready_only=True)


def _slices_by_service(slices: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """Slices grouped by (namespace, ``kubernetes.io/service-name``); slices without the label are left out."""
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for item in slices:
        metadata = item.get("metadata") or {}
        service = (metadata.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if service:
            key = (metadata.get("namespace") or "default", service)
            group = grouped.get(key)
            if group is None:
                grouped[key] = [item]
            else:
                group.append(item)
    return grouped


def ready_by_service(*, endpoints: Iterable[Mapping[str, Any]] = (),
                     slices: Iterable[Mapping[str, Any]] = ()) -> dict[tuple[str, str], int]:
    """Ready counts keyed by (namespace, service name).

    Endpoints are keyed by their own name; slices are grouped by the
    ``kubernetes.io/service-name`` label (slices without it are ignored). When a
    service has both, its slices win, as ``health.source: auto`` prefers them.
    """
    counts: dict[tuple[str, str], int] = {}
    for item in endpoints:
        metadata = item.get("metadata") or {}
        if metadata.get("name"):
            counts[(metadata.get("namespace") or "default", metadata["name"])] = ready_from_endpoints(item)
    for key, group in _slices_by_service(slices).items():
        counts[key] = _count_raw(group, ready_only=True)
    return counts


def total_by_service(*, endpoints: Iterable[Mapping[str, Any]] = (),
                     slices: Iterable[Mapping[str, Any]] = ()) -> dict[tuple[str, str], int]:
    """All endpoints (ready or not) keyed by (namespace, service name), grouped as ``ready_by_service``."""
    totals: dict[tuple[str, str], int] = {}
    for item in endpoints:
        metadata = item.get("metadata") or {}
        if metadata.get("name"):
            totals[(metadata.get("namespace") or "default", metadata["name"])] = endpoint_counts(item)[1]
    for key, group in _slices_by_service(slices).items():
        totals[key] = _count_raw(group, ready_only=False)
    return totals
