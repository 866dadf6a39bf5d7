"""Per-kind behaviour: server defaults, conversion between served versions, validation.

Owns: what each kind looks like beyond generic metadata — Namespace/Service/Deployment
defaults, the core/v1 <-> events.k8s.io/v1 Event views, the TrafficSplit version
conversions (v1alpha1 Quantity weights), and validation returning Status causes.
Never does: storage, HTTP, or deciding which kinds exist (that is ``resources``).

Validators return a list of causes ``{"reason", "message", "field"}``; empty = valid.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from failsync.sandbox.status import field_cause


def identity(obj: dict) -> dict:
    """No conversion."""
    return obj


def no_causes(_obj: dict) -> list:
    """No validation beyond the generic metadata checks."""
    return []


def _invalid(field: str, value: Any, why: str) -> dict[str, str]:
    shown = f'"{value}"' if isinstance(value, str) else ("null" if value is None else str(value).lower()
                                                         if isinstance(value, bool) else str(value))
    return field_cause(field, "FieldValueInvalid", f"Invalid value: {shown}: {why}")


def _required(field: str) -> dict[str, str]:
    return field_cause(field, "FieldValueRequired", "Required value")


def _type_error(field: str, value: Any, wanted: str) -> dict[str, str]:
    shown = type(value).__name__ if not isinstance(value, str) else "string"
    names = {"dict": "object", "list": "array", "int": "integer", "float": "number", "bool": "boolean",
             "NoneType": "null"}
    return field_cause(field, "FieldValueTypeInvalid",
                       f'Invalid value: "{names.get(shown, shown)}": {field} in body must be of type {wanted}: '
                       f'"{names.get(shown, shown)}"')


# --- defaults ---------------------------------------------------------------------------------

def default_namespace(obj: dict) -> dict:
    """Label ``kubernetes.io/metadata.name``, finalizer ``kubernetes``, phase Active."""
    obj = copy.deepcopy(obj)
    metadata = obj.setdefault("metadata", {})
    metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata.get("name", "")
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    return obj


def default_service(obj: dict) -> dict:
    """type ClusterIP, sessionAffinity None, port protocol TCP, targetPort = port."""
    obj = copy.deepcopy(obj)
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    obj.setdefault("status", {}).setdefault("loadBalancer", {})
    return obj


def default_endpoints(obj: dict) -> dict:
    """Endpoint ports default to protocol TCP."""
    obj = copy.deepcopy(obj)
    for subset in obj.get("subsets") or []:
        for port in (subset or {}).get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
    return obj


def default_deployment(obj: dict) -> dict:
    """replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit 10, progressDeadlineSeconds 600."""
    obj = copy.deepcopy(obj)
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("strategy", {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    return obj


def default_httproute(obj: dict) -> dict:
    """backendRefs: group "", kind Service, weight 1."""
    obj = copy.deepcopy(obj)
    for rule in (obj.get("spec") or {}).get("rules") or []:
        for ref in (rule or {}).get("backendRefs") or []:
            if isinstance(ref, dict):
                ref.setdefault("group", "")
                ref.setdefault("kind", "Service")
                ref.setdefault("weight", 1)
    return obj


# --- Events: core/v1 is stored, events.k8s.io/v1 is a view ------------------------------------

_EVENT_RENAMES = (("note", "message"), ("regarding", "involvedObject"), ("deprecatedSource", "source"),
                  ("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp"),
                  ("deprecatedCount", "count"), ("reportingController", "reportingComponent"))


def event_from_core(obj: dict) -> dict:
    """core/v1 Event -> events.k8s.io/v1 Event."""
    view = dict(obj)
    for new, old in _EVENT_RENAMES:
        if old in view:
            view[new] = view.pop(old)
    return view


def event_to_core(view: dict) -> dict:
    """events.k8s.io/v1 Event -> core/v1 Event."""
    obj = dict(view)
    for new, old in _EVENT_RENAMES:
        if new in obj:
            obj[old] = obj.pop(new)
    return obj


def validate_events_v1(view: dict) -> list:
    """events.k8s.io/v1 requires eventTime."""
    return [] if view.get("eventTime") else [_required("eventTime")]


# --- built-in validation ----------------------------------------------------------------------

def validate_deployment(obj: dict) -> list:
    """replicas non-negative; selector required and matching the template labels."""
    causes = []
    spec = obj.get("spec") or {}
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        causes.append(_type_error("spec.replicas", replicas, "integer"))
    elif replicas < 0:
        causes.append(_invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(_required("spec.selector"))
    else:
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        wanted = selector.get("matchLabels") or {}
        if any(labels.get(key) != value for key, value in wanted.items()):
            causes.append(_invalid("spec.template.metadata.labels", labels,
                                   "`selector` does not match template `labels`"))
    return causes


def validate_endpointslice(obj: dict) -> list:
    """addressType required and one of IPv4/IPv6/FQDN; each endpoint needs an address."""
    causes = []
    if obj.get("addressType") not in ("IPv4", "IPv6", "FQDN"):
        causes.append(_required("addressType") if obj.get("addressType") is None else field_cause(
            "addressType", "FieldValueNotSupported",
            f'Unsupported value: "{obj.get("addressType")}": supported values: "FQDN", "IPv4", "IPv6"'))
    for index, endpoint in enumerate(obj.get("endpoints") or []):
        if not (endpoint or {}).get("addresses"):
            causes.append(_required(f"endpoints[{index}].addresses"))
    return causes


# --- TrafficSplit -----------------------------------------------------------------------------

_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_SUFFIX = {None: Decimal(1), "m": Decimal("0.001"), "k": Decimal(1000), "M": Decimal(10) ** 6,
           "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "Ki": Decimal(1024), "Mi": Decimal(1024) ** 2,
           "Gi": Decimal(1024) ** 3, "Ti": Decimal(1024) ** 4}


def parse_quantity(value: Any) -> Decimal:
    """A Kubernetes Quantity ("1", "500m", 2) as a Decimal; ValueError when malformed."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(value)
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2)]
    except InvalidOperation:
        raise ValueError(value) from None


def _validate_split(obj: dict, weight_check) -> list:
    causes = []
    spec = obj.get("spec")
    if spec is None:
        return []
    if not isinstance(spec, dict):
        return [_type_error("spec", spec, "object")]
    service = spec.get("service")
    if service is not None and not isinstance(service, str):
        causes.append(_type_error("spec.service", service, "string"))
    backends = spec.get("backends")
    if backends is None:
        return causes
    if not isinstance(backends, list):
        return causes + [_type_error("spec.backends", backends, "array")]
    for index, backend in enumerate(backends):
        where = f"spec.backends[{index}]"
        if not isinstance(backend, dict):
            causes.append(_type_error(where, backend, "object"))
            continue
        if "service" not in backend:
            causes.append(_required(f"{where}.service"))
        elif not isinstance(backend["service"], str) or not backend["service"]:
            causes.append(_type_error(f"{where}.service", backend["service"], "string")
                          if not isinstance(backend["service"], str)
                          else _invalid(f"{where}.service", "", "must be a non-empty string"))
        causes.extend(weight_check(f"{where}.weight", backend))
    return causes


def _int_weight(field: str, backend: dict) -> list:
    if "weight" not in backend:
        return [_required(field)]
    weight = backend["weight"]
    if not isinstance(weight, int) or isinstance(weight, bool):
        return [_type_error(field, weight, "integer")]
    if weight < 0:
        return [_invalid(field, weight, f"{field} in body should be greater than or equal to 0")]
    return []


def _quantity_weight(field: str, backend: dict) -> list:
    if "weight" not in backend:
        return []
    try:
        value = parse_quantity(backend["weight"])
    except ValueError:
        return [_invalid(field, backend["weight"], "quantities must match the regular expression "
                                                   "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    if value < 0:
        return [_invalid(field, backend["weight"], f"{field} in body should be greater than or equal to 0")]
    return []


def validate_trafficsplit_int(obj: dict) -> list:
    """v1alpha2-v1alpha4: backends a list of {service, weight}, weights non-negative integers."""
    return _validate_split(obj, _int_weight)


def validate_trafficsplit_quantity(obj: dict) -> list:
    """v1alpha1: backend weights are non-negative Quantities, all fields optional."""
    return _validate_split(obj, _quantity_weight)


def split_drop_matches(stored: dict) -> dict:
    """v1alpha4 -> v1alpha2: ``spec.matches`` does not exist in v1alpha2 and is pruned."""
    if "matches" not in (stored.get("spec") or {}):
        return stored
    view = dict(stored)
    view["spec"] = {key: value for key, value in stored["spec"].items() if key != "matches"}
    return view


def split_v1alpha1_to_storage(view: dict) -> dict:
    """v1alpha1 Quantity weights -> integers: whole numbers as they are, else all in milli-units.

    Ratios are what a weight means, so when any weight is fractional ("500m") every weight of
    the object is scaled by 1000 ("500m" -> 500, "1" -> 1000).
    """
    backends = (view.get("spec") or {}).get("backends")
    if not isinstance(backends, list):
        return view
    values = [parse_quantity(b["weight"]) if isinstance(b, dict) and "weight" in b else None for b in backends]
    scale = 1 if all(v is None or v == v.to_integral_value() for v in values) else 1000
    stored = copy.deepcopy(view)
    for backend, value in zip(stored["spec"]["backends"], values):
        if value is not None:
            backend["weight"] = int(value * scale)
    return split_drop_matches(stored)


def split_v1alpha1_from_storage(stored: dict) -> dict:
    """Integers -> v1alpha1 Quantity strings ("1", "0")."""
    view = split_drop_matches(stored)
    backends = (view.get("spec") or {}).get("backends")
    if not isinstance(backends, list):
        return view
    view = copy.deepcopy(view)
    for backend in view["spec"]["backends"]:
        if isinstance(backend, dict) and isinstance(backend.get("weight"), int):
            backend["weight"] = str(backend["weight"])
    return view


# --- HTTPRoute --------------------------------------------------------------------------------

def validate_httproute(obj: dict) -> list:
    """backendRefs: name required, at most 16 per rule, weight 0..1,000,000."""
    causes = []
    for r_index, rule in enumerate((obj.get("spec") or {}).get("rules") or []):
        refs = (rule or {}).get("backendRefs") or []
        if len(refs) > 16:
            causes.append(field_cause(f"spec.rules[{r_index}].backendRefs", "FieldValueTooMany",
                                      f"Too many: {len(refs)}: must have at most 16 items"))
        for b_index, ref in enumerate(refs):
            where = f"spec.rules[{r_index}].backendRefs[{b_index}]"
            if not isinstance(ref, dict) or not ref.get("name"):
                causes.append(_required(f"{where}.name"))
                continue
            weight = ref.get("weight", 1)
            if not isinstance(weight, int) or isinstance(weight, bool):
                causes.append(_type_error(f"{where}.weight", weight, "integer"))
            elif not 0 <= weight <= 1_000_000:
                causes.append(_invalid(f"{where}.weight", weight,
                                       f"{where}.weight in body should be less than or equal to 1000000"
                                       if weight > 0 else
                                       f"{where}.weight in body should be greater than or equal to 0"))
    return causes
