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

import re
from dataclasses import dataclass
from typing import Any, Mapping

from failsync.core import targets
from failsync.core.model import LINKERD_PRIMARY_ANNOTATION, Backend, Origin, Policy, Target
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


_REQUIREMENT = re.compile(
    r"^\s*(?P<not>!)?\s*(?P<key>[A-Za-z0-9_.\-/]+)"
    r"(?:\s*(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9_.\-]*)"
    r"|\s+(?P<set>in|notin)\s*\((?P<values>[^)]*)\))?\s*$")


@dataclass(frozen=True)
class Selector:
    """A parsed label selector (equality- and set-based), as kubectl understands it."""

    text: str
    requirements: tuple[tuple[str, str, frozenset[str]], ...]

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with ``labels`` is selected."""
        labels = labels or {}
        for key, op, values in self.requirements:
            present = key in labels
            if op == "exists" and not present:
                return False
            if op == "absent" and present:
                return False
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and present and labels[key] in values:
                return False
        return True


def _split(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def parse_selector(text: str) -> Selector:
    """Parse ``k=v,k!=v,k,!k,k in (a,b),k notin (a,b)``; PolicyError naming the bad part."""
    requirements = []
    for part in _split(text):
        if not part.strip():
            if text.strip():
                raise PolicyError(f"empty requirement in label selector {text!r}", Location("--selector"))
            continue
        match = _REQUIREMENT.match(part)
        if not match or (match["not"] and (match["op"] or match["set"])):
            raise PolicyError(f"cannot parse {part.strip()!r} in label selector {text!r}; expected "
                              f"key=value, key!=value, key, !key, key in (a,b) or key notin (a,b)",
                              Location("--selector"))
        key = match["key"]
        if match["not"]:
            requirements.append((key, "absent", frozenset()))
        elif match["op"] in ("=", "=="):
            requirements.append((key, "in", frozenset({match["value"]})))
        elif match["op"] == "!=":
            requirements.append((key, "notin", frozenset({match["value"]})))
        elif match["set"]:
            values = frozenset(v.strip() for v in match["values"].split(",") if v.strip())
            requirements.append((key, match["set"], values))
        else:
            requirements.append((key, "exists", frozenset()))
    return Selector(text, tuple(requirements))
