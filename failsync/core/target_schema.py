"""What a rendered object may contain: the target kind's schema and failsync's ownership marks.

Owns: the check ``rendering`` runs on every rendered object before anything is written.
A template is code, but it must not be able to write what failsync does not mean to:
fields outside the schema of its kind (the SMI TrafficSplit of its apiVersion, the Gateway
API route), a ``status``, or changed
ownership marks (``app.kubernetes.io/managed-by`` and ``failsync.io/policy``, which decide
what ``sync --prune`` may delete and what failsync may overwrite).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from failsync.core.model import MANAGED_BY_LABEL, MANAGED_BY_VALUE, POLICY_ANNOTATION, Policy
from failsync.core.targets import ROUTE_WEIGHT_MAX, TRAFFIC_SPLIT_WEIGHT_MAX, is_route

_TOP = frozenset({"apiVersion", "kind", "metadata", "spec"})
_METADATA = frozenset({"name", "namespace", "labels", "annotations"})
_BACKEND = frozenset({"service", "weight"})
_MATCH = frozenset({"apiGroup", "kind", "name"})
#: spec fields of each TrafficSplit version (SMI traffic-split v1alpha1..v1alpha4).
_SPEC = {
    "split.smi-spec.io/v1alpha1": frozenset({"service", "backends"}),
    "split.smi-spec.io/v1alpha2": frozenset({"service", "backends"}),
    "split.smi-spec.io/v1alpha3": frozenset({"service", "backends", "matches"}),
    "split.smi-spec.io/v1alpha4": frozenset({"service", "backends", "matches"}),
}
#: Route fields (Gateway API HTTPRoute/GRPCRoute v1 and v1beta1; Linkerd's HTTPRoute has the same shape).
_ROUTE_SPEC = frozenset({"parentRefs", "hostnames", "rules"})
_ROUTE_RULE = {"HTTPRoute": frozenset({"name", "matches", "filters", "backendRefs", "timeouts", "retry",
                                       "sessionPersistence"}),
               "GRPCRoute": frozenset({"name", "matches", "filters", "backendRefs", "sessionPersistence"})}
_PARENT_REF = frozenset({"group", "kind", "namespace", "name", "sectionName", "port"})
_BACKEND_REF = frozenset({"group", "kind", "namespace", "name", "port", "weight", "filters"})


def _unknown(value: Mapping[str, Any], allowed: frozenset[str], path: str) -> str | None:
    extra = sorted(str(key) for key in value if key not in allowed)
    if extra:
        where = f"{path}.{extra[0]}" if path else extra[0]
        return f"the field {where}, which {'is not in' if path else 'is not part of'} the schema " \
               f"(expected only {', '.join(sorted(allowed))})"
    return None


def _string_map(value: Any, path: str) -> str | None:
    if not isinstance(value, Mapping):
        return f"{path} as a {type(value).__name__}; expected a mapping of strings"
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            return f"{path}.{key} as a {type(item).__name__}; expected a string"
    return None


def _weight_problem(weight: Any, api_version: str, path: str) -> str | None:
    if api_version.endswith("/v1alpha1") and isinstance(weight, str):
        return None  # a Quantity ("1", "500m"); the API server checks its syntax
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= TRAFFIC_SPLIT_WEIGHT_MAX:
        return f"{path} = {weight!r}; expected an integer from 0 to {TRAFFIC_SPLIT_WEIGHT_MAX}"
    return None


def _spec_problem(spec: Any, api_version: str) -> str | None:
    if not isinstance(spec, Mapping):
        return f"spec as a {type(spec).__name__}; expected a mapping"
    problem = _unknown(spec, _SPEC[api_version], "spec")
    if problem:
        return problem
    if not isinstance(spec.get("service"), str):
        return "spec.service missing or not a string"
    backends = spec.get("backends")
    if not isinstance(backends, list):
        return "spec.backends missing or not a list"
    for index, backend in enumerate(backends):
        path = f"spec.backends[{index}]"
        if not isinstance(backend, Mapping):
            return f"{path} as a {type(backend).__name__}; expected a mapping"
        problem = _unknown(backend, _BACKEND, path)
        if problem:
            return problem
        if not isinstance(backend.get("service"), str):
            return f"{path}.service missing or not a string"
        problem = _weight_problem(backend.get("weight"), api_version, f"{path}.weight")
        if problem:
            return problem
    matches = spec.get("matches")
    if matches is not None:
        if not isinstance(matches, list):
            return "spec.matches as a non-list; expected a list of {apiGroup, kind, name}"
        for index, match in enumerate(matches):
            if not isinstance(match, Mapping):
                return f"spec.matches[{index}] as a {type(match).__name__}; expected a mapping"
            problem = _unknown(match, _MATCH, f"spec.matches[{index}]")
            if problem:
                return problem
    return None


def _list_of_mappings(value: Any, path: str) -> str | None:
    if not isinstance(value, list):
        return f"{path} missing or not a list"
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            return f"{path}[{index}] as a {type(item).__name__}; expected a mapping"
    return None


def _route_spec_problem(spec: Any, kind: str) -> str | None:
    if not isinstance(spec, Mapping):
        return f"spec as a {type(spec).__name__}; expected a mapping"
    problem = _unknown(spec, _ROUTE_SPEC, "spec")
    for field, allowed in (("parentRefs", _PARENT_REF), ("rules", _ROUTE_RULE[kind])):
        problem = problem or _list_of_mappings(spec.get(field), f"spec.{field}")
        for index, item in enumerate(spec.get(field) or ()):
            problem = problem or _unknown(item, allowed, f"spec.{field}[{index}]")
    if problem:
        return problem
    for r_index, rule in enumerate(spec["rules"]):
        path = f"spec.rules[{r_index}].backendRefs"
        refs = rule.get("backendRefs", [])
        problem = _list_of_mappings(refs, path)
        for index, ref in enumerate(refs if not problem else ()):
            where = f"{path}[{index}]"
            problem = problem or _unknown(ref, _BACKEND_REF, where)
            if not problem and not isinstance(ref.get("name"), str):
                problem = f"{where}.name missing or not a string"
            weight = ref.get("weight", 1)
            if not problem and (isinstance(weight, bool) or not isinstance(weight, int)
                                or not 0 <= weight <= ROUTE_WEIGHT_MAX):
                problem = f"{where}.weight = {weight!r}; expected an integer from 0 to {ROUTE_WEIGHT_MAX}"
        if problem:
            return problem
    return None


def with_ownership_marks(obj: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """``obj`` with failsync's ownership marks, added where a template left them out."""
    metadata = obj["metadata"]
    labels = metadata.get("labels")
    if not isinstance(labels, dict) or labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE:
        metadata["labels"] = {**(labels or {}), MANAGED_BY_LABEL: MANAGED_BY_VALUE}
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict) or annotations.get(POLICY_ANNOTATION) != policy.key:
        metadata["annotations"] = {**(annotations or {}), POLICY_ANNOTATION: policy.key}
    return obj


def rendered_object_problem(obj: Mapping[str, Any], policy: Policy) -> str | None:
    """What is wrong with ``obj`` as the object of ``policy`` (kind, apiVersion and name already checked), or None."""
    if "status" in obj:
        return "a status (failsync never writes status; the server and controllers own it)"
    problem = _unknown(obj, _TOP, "")
    if problem:
        return problem
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return "no metadata mapping"
    problem = _unknown(metadata, _METADATA, "metadata")
    if problem:
        return problem
    for field in ("labels", "annotations"):
        problem = _string_map(metadata.get(field) or {}, f"metadata.{field}")
        if problem:
            return problem
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    # Marks a template leaves out, failsync adds itself (``with_ownership_marks``); any other value is refused.
    if labels.get(MANAGED_BY_LABEL, MANAGED_BY_VALUE) != MANAGED_BY_VALUE:
        return (f"the label {MANAGED_BY_LABEL}={labels.get(MANAGED_BY_LABEL)!r}; expected {MANAGED_BY_VALUE!r} "
                f"(failsync's ownership mark; a template may not change it)")
    if annotations.get(POLICY_ANNOTATION, policy.key) != policy.key:
        return (f"the annotation {POLICY_ANNOTATION}={annotations.get(POLICY_ANNOTATION)!r}; expected "
                f"{policy.key!r} (failsync's ownership mark; a template may not change it)")
    if is_route(obj.get("kind")):
        return _route_spec_problem(obj.get("spec"), str(obj.get("kind")))
    api_version = obj.get("apiVersion")
    if api_version not in _SPEC:
        return None  # not a kind and version failsync knows: the kind check already failed
    return _spec_problem(obj.get("spec"), str(api_version))
