"""Server-side ``Table`` output (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``).

Owns: the column definitions and cells kube-apiserver's table convertors give for the
built-in kinds the sandbox serves (namespaces, services, serviceaccounts, endpoints, endpointslices,
deployments, events, leases, CRDs) with the wide columns at priority 1, the columns of a
CRD version (``additionalPrinterColumns`` with their JSONPath; Name and Age when none), the
row ``object`` per ``includeObject`` (None, Metadata = PartialObjectMetadata, Object), and
human ages as apimachinery's ``HumanDuration``. Never does: HTTP or storage.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from typing import Any, Callable

from failsync.sandbox.resources import ResourceType

_NAME = {"name": "Name", "type": "string", "format": "name", "priority": 0,
         "description": "Name must be unique within a namespace. Is required when creating resources, although "
                        "some resources may allow a client to request the generation of an appropriate name "
                        "automatically. Name is primarily intended for creation idempotence and configuration "
                        "definition. Cannot be updated."}
_AGE = {"name": "Age", "type": "string", "format": "", "priority": 0,
        "description": "CreationTimestamp is a timestamp representing the server time when this object was created."}


def wants_table(accept: str | None) -> bool:
    """Whether an Accept header asks for a meta.k8s.io Table (v1 or v1beta1)."""
    return bool(accept) and "as=Table" in accept and "g=meta.k8s.io" in accept


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        return f"{minutes}m" if whole % 60 == 0 else f"{minutes}m{whole % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, (hours // 24) % 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def _since(stamp: Any, now: float) -> str:
    if not isinstance(stamp, str) or not stamp:
        return "<unknown>"
    try:
        parsed = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return "<unknown>"
    return human_duration(now - parsed)


def _age(obj: dict, now: float) -> str:
    return _since(obj["metadata"].get("creationTimestamp"), now)


def _selector(match_labels: Any) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((match_labels or {}).items())) or "<none>"


def _some(addresses: list[str], limit: int = 3) -> str:
    if not addresses:
        return ""
    shown = ",".join(addresses[:limit])
    return shown + (f" + {len(addresses) - limit} more..." if len(addresses) > limit else "")


def _column(name: str, type_: str = "string", priority: int = 0, description: str = "", format_: str = "") -> dict:
    return {"name": name, "type": type_, "format": format_, "description": description, "priority": priority}


# --- built-in kinds: (columns after Name, cells after the name) ---------------------------------

def _namespace(obj: dict, now: float) -> list:
    return [(obj.get("status") or {}).get("phase", ""), _age(obj, now)]


def _service(obj: dict, now: float) -> list:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    external = spec.get("externalIPs") or []
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if kind == "LoadBalancer":
        shown = ",".join([i.get("ip") or i.get("hostname", "") for i in ingress] + external) or "<pending>"
    elif kind == "ExternalName":
        shown = spec.get("externalName", "")
    else:
        shown = ",".join(external) or "<none>"
    ports = ",".join(f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}" if p.get("nodePort") else
                     f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or ()) or "<none>"
    return [kind, spec.get("clusterIP") or "<none>", shown, ports, _age(obj, now), _selector(spec.get("selector"))]


def _endpoints(obj: dict, now: float) -> list:
    shown = []
    for subset in obj.get("subsets") or ():
        ports = [p.get("port") for p in subset.get("ports") or ()] or [None]
        for address in subset.get("addresses") or ():
            shown.extend(f"{address.get('ip')}:{port}" if port is not None else str(address.get("ip"))
                         for port in ports)
    return [_some(shown) or "<none>", _age(obj, now)]


def _endpointslice(obj: dict, now: float) -> list:
    ports = ",".join(str(p.get("port")) for p in obj.get("ports") or () if p.get("port") is not None) or "<unset>"
    addresses = [a for e in obj.get("endpoints") or () for a in e.get("addresses") or ()]
    return [obj.get("addressType", ""), ports, _some(addresses) or "<unset>", _age(obj, now)]


def _deployment(obj: dict, now: float) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return [f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}", status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0), _age(obj, now), ",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers),
            _selector((spec.get("selector") or {}).get("matchLabels"))]


def _event(obj: dict, now: float) -> list:
    regarding = obj.get("involvedObject") or obj.get("regarding") or {}
    source = obj.get("source") or obj.get("deprecatedSource") or {}
    last = obj.get("lastTimestamp") or obj.get("deprecatedLastTimestamp") or obj.get("eventTime") \
        or obj["metadata"].get("creationTimestamp")
    first = obj.get("firstTimestamp") or obj.get("deprecatedFirstTimestamp") or obj.get("eventTime") or last
    origin = ", ".join(part for part in (source.get("component") or obj.get("reportingComponent")
                                         or obj.get("reportingController"), source.get("host")) if part)
    return [_since(last, now), obj.get("type", ""), obj.get("reason", ""),
            f"{str(regarding.get('kind', '')).lower()}/{regarding.get('name', '')}", regarding.get("fieldPath", ""),
            origin, obj.get("message", obj.get("note", "")), _since(first, now),
            obj.get("count", obj.get("deprecatedCount", 1)) or 1, obj["metadata"]["name"]]


def _service_account(obj: dict, now: float) -> list:
    return [len(obj.get("secrets") or []), _age(obj, now)]


def _lease(obj: dict, now: float) -> list:
    return [(obj.get("spec") or {}).get("holderIdentity", ""), _age(obj, now)]


def _crd(obj: dict, now: float) -> list:
    return [obj["metadata"].get("creationTimestamp", "")]


_BUILTIN: dict[str, tuple[list[dict], Callable[[dict, float], list]]] = {
    "core/namespaces": ([_column("Status", description="The status of the namespace"), _AGE], _namespace),
    "core/services": ([_column("Type"), _column("Cluster-IP"), _column("External-IP"), _column("Port(s)"), _AGE,
                       _column("Selector", priority=1)], _service),
    "core/endpoints": ([_column("Endpoints"), _AGE], _endpoints),
    "discovery/endpointslices": ([_column("AddressType"), _column("Ports"), _column("Endpoints"), _AGE],
                                 _endpointslice),
    "apps/deployments": ([_column("Ready"), _column("Up-to-date", "integer"), _column("Available", "integer"), _AGE,
                          _column("Containers", priority=1), _column("Images", priority=1),
                          _column("Selector", priority=1)], _deployment),
    "core/events": ([_column("Last Seen"), _column("Type"), _column("Reason"), _column("Object"),
                     _column("Subobject", priority=1), _column("Source", priority=1), _column("Message"),
                     _column("First Seen", priority=1), _column("Count", "integer", priority=1),
                     _column("Name", priority=1)], _event),
    "coordination/leases": ([_column("Holder"), _AGE], _lease),
    "core/serviceaccounts": ([_column("Secrets", "integer"), _AGE], _service_account),
    "apiextensions/customresourcedefinitions": ([_column("Created At", "date")], _crd),
}

_NAMELESS = frozenset(("core/events",))  # kubectl get events leads with Last Seen; Name is a wide column


# --- custom resources: additionalPrinterColumns ---------------------------------------------------

_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\['([^']+)'\]")


def _json_path(obj: Any, path: str) -> Any:
    """A simple JSONPath (``.spec.rules[0].name``, ``.metadata.labels['a.b/c']``); None when absent."""
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    value = obj
    for field_name, index, quoted in _SEGMENT.findall(path):
        if index:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        else:
            value = value.get(field_name or quoted) if isinstance(value, dict) else None
        if value is None:
            return None
    return value


def _custom_cell(column: dict, obj: dict, now: float) -> Any:
    value = _json_path(obj, column.get("jsonPath", ""))
    if value is None:
        return None
    kind = column.get("type", "string")
    if kind == "date" and isinstance(value, str):
        return _since(value, now)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if kind == "string" and not isinstance(value, str):
        return json.dumps(value)
    return value


def columns(resource: ResourceType) -> list[dict]:
    """The column definitions of a resource's Table, Name first."""
    if resource.custom:
        printer = resource.printer_columns
        if not printer:
            return [_NAME, _AGE]
        return [_NAME] + [_column(c["name"], c.get("type", "string"), int(c.get("priority", 0)),
                                  c.get("description", ""), c.get("format", "")) for c in printer]
    found = _BUILTIN.get(resource.store_key)
    if resource.store_key in _NAMELESS:
        return list(found[0])
    return [_NAME] + (found[0] if found else [_AGE])


def cells(resource: ResourceType, obj: dict, now: float) -> list:
    """One row's cells, in column order."""
    name = obj["metadata"]["name"]
    if resource.custom:
        if not resource.printer_columns:
            return [name, _age(obj, now)]
        return [name] + [_custom_cell(column, obj, now) for column in resource.printer_columns]
    found = _BUILTIN.get(resource.store_key)
    if resource.store_key in _NAMELESS:
        return found[1](obj, now)
    return [name] + (found[1](obj, now) if found else [_age(obj, now)])


def _row_object(resource: ResourceType, obj: dict, include: str) -> dict | None:
    if include == "None":
        return None
    if include == "Object":
        return {"apiVersion": resource.api_version, "kind": resource.kind, **obj}
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(resource: ResourceType, objects: list[dict], metadata: dict, include: str | None = None, *,
          headers: bool = True) -> dict:
    """A meta.k8s.io/v1 Table of ``objects`` (as served), with list ``metadata``."""
    now = time.time()
    include = include or "Metadata"
    rows = []
    for obj in objects:
        row: dict = {"cells": cells(resource, obj, now)}
        shown = _row_object(resource, obj, include)
        if shown is not None:
            row["object"] = shown
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata,
            "columnDefinitions": columns(resource) if headers else [], "rows": rows}
