"""The target kinds a policy renders to, and where each keeps its weights (SPEC §10).

Owns: the catalogue of kinds and apiVersions (TrafficSplit, Gateway API HTTPRoute and
GRPCRoute, Linkerd's policy.linkerd.io HTTPRoute) with their defaults and weight limits,
and the one thing that differs between them once rendered: the path of the weights.
A TrafficSplit keeps them in ``spec.backends[].weight``; a route in
``spec.rules[].backendRefs[].weight``. ``weights_of`` reads them from a live object,
``with_weights`` writes them into a copy of one (drop-in mode: nothing else changes), and
``weights_view`` is the part of an object drop-in mode owns, in place, so a JSON Patch
between two views addresses the live object's own positions.

A hand-written route's weights are managed in every rule whose backendRefs all name the
policy's backends; other rules (and everything but ``weight``) are never touched.

Never does: I/O, rendering, deciding weights.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from decimal import Decimal

TRAFFIC_SPLIT = "TrafficSplit"
HTTP_ROUTE = "HTTPRoute"
GRPC_ROUTE = "GRPCRoute"
ROUTE_KINDS = (HTTP_ROUTE, GRPC_ROUTE)

SMI_GROUP = "split.smi-spec.io"
GATEWAY_GROUP = "gateway.networking.k8s.io"
LINKERD_POLICY_GROUP = "policy.linkerd.io"

#: apiVersions each kind may be rendered at, the default first.
API_VERSIONS: dict[str, tuple[str, ...]] = {
    TRAFFIC_SPLIT: tuple(f"{SMI_GROUP}/{v}" for v in ("v1alpha2", "v1alpha1", "v1alpha3", "v1alpha4")),
    HTTP_ROUTE: (f"{GATEWAY_GROUP}/v1", f"{GATEWAY_GROUP}/v1beta1",
                 f"{LINKERD_POLICY_GROUP}/v1beta3", f"{LINKERD_POLICY_GROUP}/v1beta2"),
    GRPC_ROUTE: (f"{GATEWAY_GROUP}/v1",),
}
KINDS = tuple(API_VERSIONS)

#: Gateway API: ``weight`` is an int32 from 0 to 1,000,000 (default 1 when absent); the sum of a
#: ``distribute`` policy's weights stays within it too.
ROUTE_WEIGHT_MAX = 1_000_000
#: SMI: an int32 (a Quantity at v1alpha1).
TRAFFIC_SPLIT_WEIGHT_MAX = 2**31 - 1
#: What a route backendRef without ``weight`` carries (Gateway API default).
ROUTE_DEFAULT_WEIGHT = 1

#: The annotation that names the primary of a hand-written route (drop-in for routes).
ROUTE_PRIMARY_ANNOTATION = "failsync.io/primary-service"
#: The label selector ``--adopt-routes`` uses by default.
DEFAULT_ROUTE_SELECTOR = "failsync.io/failover=enabled"


def is_route(kind: str | None) -> bool:
    """Whether ``kind`` is one of the route kinds (HTTPRoute, GRPCRoute)."""
    return kind in ROUTE_KINDS


def with_article(kind: str) -> str:
    """``kind`` as a reader says it: "an HTTPRoute", "a GRPCRoute", "a TrafficSplit"."""
    return f"an {kind}" if kind.startswith("HTTP") else f"a {kind}"


# -- reading weights -------------------------------------------------------------------------------

def _number(weight: Any) -> Decimal | None:
    """A weight as a number: an integer, or a Quantity string (``"1"``, ``"500m"``) as v1alpha1 spells it."""
    from decimal import Decimal, InvalidOperation  # here: integer weights (the usual case) never need it

    if isinstance(weight, bool):
        return None
    if isinstance(weight, int):
        return Decimal(weight)
    if isinstance(weight, str):
        text = weight.strip()
        scale = Decimal(1)
        if text.endswith("m"):
            text, scale = text[:-1], Decimal("0.001")
        try:
            return Decimal(text) * scale
        except InvalidOperation:
            return None
    return None


def _backend_refs(rule: Any) -> list[Any] | None:
    refs = rule.get("backendRefs") if isinstance(rule, Mapping) else None
    return refs if isinstance(refs, list) else None


def _ref_name(ref: Any) -> str | None:
    name = ref.get("name") if isinstance(ref, Mapping) else None
    return name if isinstance(name, str) and name else None


def managed_rules(obj: Mapping[str, Any] | None, services: tuple[str, ...] | None = None) -> Iterator[int]:
    """Indexes of the route rules whose weights failsync manages.

    With ``services``: the rules whose backendRefs are all among them (and not empty).
    Without: every rule (a rendered route has exactly one).
    """
    rules = ((obj or {}).get("spec") or {}).get("rules")
    if not isinstance(rules, list):
        return
    wanted = set(services) if services is not None else None
    for index, rule in enumerate(rules):
        refs = _backend_refs(rule)
        if refs is None:
            continue
        names = [_ref_name(ref) for ref in refs]
        if wanted is None or (names and all(name in wanted for name in names)):
            yield index


def _route_entries(obj: Mapping[str, Any] | None, services: tuple[str, ...] | None) -> list[tuple[str, Any]] | None:
    """(service, weight) of the first managed rule of a route; None when it has none."""
    rules = ((obj or {}).get("spec") or {}).get("rules")
    for index in managed_rules(obj, services):
        entries = []
        for ref in _backend_refs(rules[index]) or ():  # type: ignore[index]
            name = _ref_name(ref)
            if name is None:
                return None
            entries.append((name, ref.get("weight", ROUTE_DEFAULT_WEIGHT)))
        return entries
    return None


def _split_entries(obj: Mapping[str, Any] | None) -> list[tuple[str, Any]] | None:
    backends = ((obj or {}).get("spec") or {}).get("backends")
    if not isinstance(backends, list):
        return None
    entries = []
    for backend in backends:
        # ``type(...) is dict`` first: a decoded object's backend always is one, and the ABC check costs more.
        if (type(backend) is not dict and not isinstance(backend, Mapping)) or not isinstance(backend.get("service"), str):
            return None
        entries.append((backend["service"], backend.get("weight", 0)))
    return entries


def weights_of(obj: Mapping[str, Any] | None, services: tuple[str, ...] | None = None) -> dict[str, int] | None:
    """The weights a live object carries, per backend service; None when missing or malformed.

    A route is read from its first managed rule (see ``managed_rules``); with ``services``
    a backend the rule leaves out (``inactiveBackends: omit``) carries 0. Fractional
    TrafficSplit Quantities (``"500m"``) are scaled by 1000 for every backend, which keeps
    the proportions (weights are relative).
    """
    if obj is None:
        return None
    route = is_route(obj.get("kind"))
    entries = _route_entries(obj, services) if route else _split_entries(obj)
    if entries is None:
        return None
    if all(type(weight) is int and weight >= 0 for _, weight in entries):  # the usual case: no Decimal
        weights = dict(entries)
        if route and services is not None:
            return {service: weights.get(service, 0) for service in services}
        return weights
    found: dict[str, Decimal] = {}
    for service, weight in entries:
        number = _number(weight)
        if number is None or number < 0:
            return None
        found[service] = number
    if any(number != number.to_integral_value() for number in found.values()):
        weights = {service: int(number * 1000) for service, number in found.items()}
    else:
        weights = {service: int(number) for service, number in found.items()}
    if route and services is not None:
        return {service: weights.get(service, 0) for service in services}
    return weights


# -- drop-in mode: only the weights --------------------------------------------------------------

def weights_view(obj: Mapping[str, Any], services: tuple[str, ...]) -> dict[str, Any]:
    """The part of ``obj``'s spec drop-in mode owns: each weight, in the object's own positions.

    Entries failsync does not manage keep their position (as empty mappings) so that a JSON
    Patch between two views addresses the same list indexes as the live object.
    """
    spec = obj.get("spec") or {}
    if not is_route(obj.get("kind")):
        backends = spec.get("backends")
        if not isinstance(backends, list):
            return {}
        return {"backends": [{"service": (b or {}).get("service"), "weight": (b or {}).get("weight")}
                             for b in backends]}
    rules = spec.get("rules")
    if not isinstance(rules, list):
        return {}
    managed = set(managed_rules(obj, services))
    view_rules: list[dict[str, Any]] = []
    for index, rule in enumerate(rules):
        if index not in managed:
            view_rules.append({})
            continue
        view_rules.append({"backendRefs": [{"name": ref.get("name"), "weight": ref.get("weight")}
                                           for ref in _backend_refs(rule) or ()]})
    return {"rules": view_rules}


def with_weights(live: Mapping[str, Any], weights: Mapping[str, Any], services: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``live`` with each managed backend's weight set from ``weights``; nothing else changes."""
    desired = copy.deepcopy(dict(live))
    spec = desired.get("spec") or {}
    if not is_route(desired.get("kind")):
        for backend in spec.get("backends") or ():
            if isinstance(backend, dict):
                backend["weight"] = weights.get(str(backend.get("service")), 0)
        return desired
    rules = spec.get("rules")
    for index in managed_rules(desired, services):
        for ref in _backend_refs(rules[index]) or ():  # type: ignore[index]
            ref["weight"] = weights.get(ref.get("name"), 0)
    return desired


def primary_of_route(obj: Mapping[str, Any]) -> str | None:
    """The primary of a hand-written route: its annotation, else the first backendRef of the first rule."""
    annotated = ((obj.get("metadata") or {}).get("annotations") or {}).get(ROUTE_PRIMARY_ANNOTATION)
    if isinstance(annotated, str) and annotated:
        return annotated
    rules = (obj.get("spec") or {}).get("rules")
    if isinstance(rules, list) and rules:
        refs = _backend_refs(rules[0])
        if refs:
            return _ref_name(refs[0])
    return None


def route_parent_service(obj: Mapping[str, Any]) -> str | None:
    """The Service a GAMMA route is attached to (its first Service parentRef), or None."""
    for parent in (obj.get("spec") or {}).get("parentRefs") or ():
        if isinstance(parent, Mapping) and parent.get("kind") == "Service" and parent.get("group", "") in ("", "core"):
            name = parent.get("name")
            if isinstance(name, str) and name:
                return name
    return None


def route_backends(obj: Mapping[str, Any], primary: str) -> list[str]:
    """The services of the first rule that names ``primary``, in order (a hand-written route's backends)."""
    rules = (obj.get("spec") or {}).get("rules")
    for rule in rules if isinstance(rules, list) else ():
        names = [_ref_name(ref) for ref in _backend_refs(rule) or ()]
        if primary in names:
            return [name for name in names if name is not None]
    return []


# -- route status (set by the mesh) ----------------------------------------------------------------

def _condition(conditions: Any, kind: str) -> Mapping[str, Any] | None:
    for condition in conditions if isinstance(conditions, list) else ():
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return condition
    return None


def route_acceptance(obj: Mapping[str, Any] | None) -> tuple[bool, str] | None:
    """Whether any parent of a live route has ``Accepted=True`` and ``ResolvedRefs=True``, and what
    the parents say; None for a TrafficSplit or a missing object.

    A route no parent accepted is ignored by the mesh: moving its weights changes nothing.
    """
    if obj is None or not is_route(obj.get("kind")):
        return None
    parents = ((obj.get("status") or {}).get("parents")) or []
    if not isinstance(parents, list) or not parents:
        return False, "no parent has accepted the route (status.parents is empty: no mesh controller has seen it)"
    said = []
    for parent in parents:
        if not isinstance(parent, Mapping):
            continue
        ref = parent.get("parentRef") or {}
        name = f"{ref.get('kind', 'Gateway')} {ref.get('name', '?')}"
        accepted = _condition(parent.get("conditions"), "Accepted") or {}
        resolved = _condition(parent.get("conditions"), "ResolvedRefs") or {}
        if accepted.get("status") == "True" and resolved.get("status") == "True":
            return True, f"accepted by {name} ({parent.get('controllerName', 'a mesh controller')})"
        for condition, label in ((accepted, "Accepted"), (resolved, "ResolvedRefs")):
            if condition.get("status") != "True":
                reason = condition.get("reason") or "not reported"
                said.append(f"{name}: {label}={condition.get('status', 'Unknown')} ({reason})")
    return False, "no parent has Accepted=True and ResolvedRefs=True: " + "; ".join(said)
