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


@dataclass(frozen=True, slots=True)
class SliceReadiness:
    """All the ready count needs of one EndpointSlice: its address family and, for each ready
    endpoint, its addresses (empty for an endpoint the API reported without one); and the
    same for its endpoints that are not ready (they count in the total only)."""

    family: str
    ready: tuple[tuple[str, ...], ...]
    not_ready: tuple[tuple[str, ...], ...] = ()


def slice_readiness(item: Mapping[str, Any], *, keep: Callable[[str], str] = str) -> SliceReadiness:
    """The readiness of one EndpointSlice; ``keep`` is applied to every string kept (a cache
    may copy them out of a large decoded document)."""
    ready = []
    not_ready = []
    for endpoint in item.get("endpoints") or ():
        endpoint = endpoint or {}
        addresses = tuple(keep(address) for address in endpoint.get("addresses") or ())
        if (endpoint.get("conditions") or {}).get("ready") is False:
            not_ready.append(addresses)
        else:
            ready.append(addresses)
    return SliceReadiness(sys.intern(str(item.get("addressType") or "IPv4")), tuple(ready),
                          tuple(not_ready) if not_ready else ())


def count_ready(slices: Iterable[SliceReadiness]) -> int:
    """Ready endpoints over the slices of one service: distinct addresses, largest family."""
    addressed: dict[str, set[tuple[str, ...]]] = {}
    unaddressed: dict[str, int] = {}
    for item in slices:
        family = addressed.setdefault(item.family, set())
        for addresses in item.ready:
            if addresses:
                family.add(addresses)
            else:
                unaddressed[item.family] = unaddressed.get(item.family, 0) + 1
    return max((len(found) + unaddressed.get(name, 0) for name, found in addressed.items()), default=0)


def count_all(slices: Iterable[SliceReadiness]) -> int:
    """All endpoints, ready or not, over the slices of one service: distinct addresses, largest family."""
    addressed: dict[str, set[tuple[str, ...]]] = {}
    unaddressed: dict[str, int] = {}
    for item in slices:
        family = addressed.setdefault(item.family, set())
        for addresses in (*item.ready, *item.not_ready):
            if addresses:
                family.add(addresses)
            else:
                unaddressed[item.family] = unaddressed.get(item.family, 0) + 1
    return max((len(found) + unaddressed.get(name, 0) for name, found in addressed.items()), default=0)


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
