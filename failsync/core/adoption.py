"""Drop-in mode: reading live TrafficSplits and routes as failsync values (SPEC §3, §10).

Owns: turning a hand-written TrafficSplit (like the Linkerd failover guide's) or
HTTPRoute/GRPCRoute into a Policy with origin ADOPTED, reading the live weights of any
of them, and matching label selectors such as ``--selector``.

Primary: the ``failover.linkerd.io/primary-service`` annotation, else the first
backend; every other backend is a fallback of priority 1; all other settings
are the policy defaults. In adopted mode failsync owns only
``spec.backends[].weight`` (see ``diffing.Ownership.WEIGHTS``): it never adds its
labels or annotations to a hand-written object.

Never does: I/O; never decides weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from failsync.core import targets
from failsync.core.model import LINKERD_PRIMARY_ANNOTATION, Backend, Origin, Policy, Target
from failsync.core.selectors import Requirement, SelectorError, labels_match, parse_label_selector
from failsync.errors import Location, PolicyError


def _where(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', 'TrafficSplit')} {meta.get('namespace')}/{meta.get('name')}"


def adopt(obj: Mapping[str, Any]) -> Policy:
    """The Policy a hand-written TrafficSplit stands for; PolicyError when it cannot be one."""
    where = _where(obj)
    meta = obj.get("metadata") or {}
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise PolicyError("expected a mapping with service and backends", Location(where, key="spec"))
    backends = spec.get("backends")
    if not isinstance(backends, list) or not backends:
        raise PolicyError("expected a non-empty list of backends", Location(where, key="spec.backends"))
    services: list[str] = []
    for index, backend in enumerate(backends):
        service = backend.get("service") if isinstance(backend, Mapping) else None
        if not isinstance(service, str) or not service:
            raise PolicyError("expected a backend with a service name",
                              Location(where, key=f"spec.backends[{index}].service"))
        if service in services:
            raise PolicyError(f"backend {service!r} is listed twice",
                              Location(where, key=f"spec.backends[{index}].service"))
        services.append(service)
    primary = (meta.get("annotations") or {}).get(LINKERD_PRIMARY_ANNOTATION) or services[0]
    if primary not in services:
        raise PolicyError(f"primary service {primary!r} is not one of the backends ({', '.join(services)})",
                          Location(where, key=f"metadata.annotations.{LINKERD_PRIMARY_ANNOTATION}"))
    apex = spec.get("service")
    return Policy(
        name=str(meta.get("name")),
        namespace=str(meta.get("namespace")),
        service=apex if isinstance(apex, str) and apex else primary,
        primary=primary,
        fallbacks=tuple(Backend(service, priority=1) for service in services if service != primary),
        target=Target(kind=str(obj.get("kind") or "TrafficSplit"), api_version=str(obj.get("apiVersion"))),
        origin=Origin.ADOPTED,
        location=Location(where),
    )


#: Metadata the API server keeps up to date on every write, which adopting never reads.
_SERVER_METADATA = frozenset({"resourceVersion", "generation", "managedFields", "creationTimestamp", "uid"})


def adoption_view(obj: Mapping[str, Any]) -> tuple[Any, ...]:
    """Everything adopting ``obj`` may read: the object but for its weights, its status and the
    metadata the server keeps. Two versions with equal views stand for the same policy, so the
    echo of failsync's own weight patch need not be adopted again."""
    meta = obj.get("metadata")
    if isinstance(meta, Mapping):
        meta = {key: value for key, value in meta.items() if key not in _SERVER_METADATA}
    spec = obj.get("spec")
    if isinstance(spec, Mapping):
        spec = {**spec}
        if "backends" in spec:  # a TrafficSplit's
            spec["backends"] = _unweighted(spec["backends"])
        if isinstance(spec.get("rules"), list):  # a route's
            spec["rules"] = [{**rule, "backendRefs": _unweighted(rule["backendRefs"])}
                             if isinstance(rule, Mapping) and "backendRefs" in rule else rule for rule in spec["rules"]]
    return obj.get("apiVersion"), obj.get("kind"), meta, spec


def _unweighted(entries: Any) -> Any:
    """A list of backends (or backendRefs) without their weights."""
    if not isinstance(entries, list):
        return entries
    return [{key: value for key, value in entry.items() if key != "weight"} if isinstance(entry, Mapping) else entry
            for entry in entries]


def live_weights(obj: Mapping[str, Any] | None, services: tuple[str, ...] | None = None) -> dict[str, int] | None:
    """The weights a live TrafficSplit or route carries, per backend service (see ``targets.weights_of``)."""
    return targets.weights_of(obj, services)


def adopt_route(obj: Mapping[str, Any]) -> Policy:
    """The Policy a hand-written HTTPRoute/GRPCRoute stands for; PolicyError when it cannot be one.

    Primary: the ``failsync.io/primary-service`` annotation, else the first backendRef of the
    first rule; the backends are those of the first rule naming the primary, in order.
    """
    where = _where(obj)
    meta = obj.get("metadata") or {}
    rules = (obj.get("spec") or {}).get("rules") if isinstance(obj.get("spec"), Mapping) else None
    if not isinstance(rules, list) or not rules:
        raise PolicyError("expected a route with rules and backendRefs", Location(where, key="spec.rules"))
    primary = targets.primary_of_route(obj)
    if primary is None:
        raise PolicyError("expected the first rule to name a backendRef (or the "
                          f"{targets.ROUTE_PRIMARY_ANNOTATION} annotation)", Location(where, key="spec.rules[0]"))
    services = targets.route_backends(obj, primary)
    if not services:
        raise PolicyError(f"primary service {primary!r} is not a backendRef of any rule",
                          Location(where, key=f"metadata.annotations.{targets.ROUTE_PRIMARY_ANNOTATION}"))
    if len(set(services)) != len(services):
        raise PolicyError("a backend is listed twice in the rule naming the primary",
                          Location(where, key="spec.rules"))
    return Policy(
        name=str(meta.get("name")),
        namespace=str(meta.get("namespace")),
        service=targets.route_parent_service(obj) or primary,
        primary=primary,
        fallbacks=tuple(Backend(service, priority=1) for service in services if service != primary),
        target=Target(kind=str(obj.get("kind")), api_version=str(obj.get("apiVersion"))),
        origin=Origin.ADOPTED,
        location=Location(where),
    )


@dataclass(frozen=True)
class Selector:
    """A parsed label selector (``--selector``), with the API server's grammar."""

    text: str
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with ``labels`` is selected."""
        return labels_match(self.requirements, labels)


@lru_cache(maxsize=64)  # drop-in mode adopts each object under the same few selectors
def parse_selector(text: str) -> Selector:
    """Parse a label selector as the API server does; PolicyError naming ``--selector`` and the problem."""
    try:
        return Selector(text, parse_label_selector(text))
    except SelectorError as error:
        raise PolicyError(f"invalid label selector {text!r}: {error}", Location("--selector")) from None
