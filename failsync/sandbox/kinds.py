"""Per-kind behaviour: server defaults, conversion between served versions, validation.

Owns: what each built-in kind looks like beyond generic metadata — Namespace/Service/
Deployment defaults, the core/v1 <-> events.k8s.io/v1 Event views, and the validation
kube-apiserver's Go code does, returning Status causes. Never does: storage, HTTP, deciding
which kinds exist (``resources``), or custom resources (their CRD's schema, ``schema``).

Validators return a list of causes ``{"reason", "message", "field"}``; empty = valid.
"""

from __future__ import annotations

import hashlib
from typing import Any

from failsync.sandbox.status import field_cause
from failsync.sandbox.store import detached


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
    obj = detached(obj)
    metadata = obj.setdefault("metadata", {})
    metadata.setdefault("labels", {})["kubernetes.io/metadata.name"] = metadata.get("name", "")
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    return obj


def cluster_ip(namespace: str, name: str) -> str:
    """The address the sandbox allocates a Service, in kube-apiserver's default range 10.96.0.0/12.

    Derived from the name rather than drawn at random, so a PUT that leaves ``clusterIP`` out
    keeps the allocated one, as the real server does."""
    digest = hashlib.sha1(f"{namespace}/{name}".encode()).digest()
    return f"10.{96 + digest[0] % 16}.{digest[1]}.{digest[2] % 254 + 1}"


def node_port(metadata: dict, port: dict) -> int:
    """The node port the sandbox allocates a Service port, in the default range 30000-32767
    (derived from the names, as ``cluster_ip``)."""
    key = f"{metadata.get('namespace', '')}/{metadata.get('name', '')}/{port.get('protocol')}/{port.get('port')}"
    return 30000 + int.from_bytes(hashlib.sha1(key.encode()).digest()[:4], "big") % 2768


def default_service(obj: dict) -> dict:
    """type ClusterIP, sessionAffinity None, a cluster IP (single-stack IPv4) unless ExternalName,
    internalTrafficPolicy Cluster, node ports for NodePort and LoadBalancer Services, port
    protocol TCP, targetPort = port."""
    obj = detached(obj)
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        metadata = obj.get("metadata") or {}
        if not spec.get("clusterIP"):
            spec["clusterIP"] = cluster_ip(str(metadata.get("namespace", "")), str(metadata.get("name", "")))
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
        if spec["type"] == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
    node_ports = spec["type"] == "NodePort" or (spec["type"] == "LoadBalancer"
                                                 and spec.get("allocateLoadBalancerNodePorts") is not False)
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
                if node_ports and not port.get("nodePort"):
                    port["nodePort"] = node_port(obj.get("metadata") or {}, port)
    obj.setdefault("status", {}).setdefault("loadBalancer", {})
    return obj


def default_endpoints(obj: dict) -> dict:
    """Endpoint ports default to protocol TCP."""
    obj = detached(obj)
    for subset in obj.get("subsets") or []:
        for port in (subset or {}).get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
    return obj


def default_deployment(obj: dict) -> dict:
    """replicas 1, RollingUpdate 25%/25%, revisionHistoryLimit 10, progressDeadlineSeconds 600."""
    obj = detached(obj)
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("strategy", {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
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
    causes.extend(_pod_template_causes((spec.get("template") or {}).get("spec"), "spec.template.spec"))
    return causes


def _pod_template_causes(pod: Any, where: str) -> list:
    """A pod template needs containers, each with a name and an image (apps/v1 validation)."""
    containers = (pod or {}).get("containers") if isinstance(pod, dict) else None
    if not containers:
        return [_required(f"{where}.containers")]
    causes = []
    for index, container in enumerate(containers if isinstance(containers, list) else []):
        for key in ("name", "image"):
            if not (container or {}).get(key):
                causes.append(_required(f"{where}.containers[{index}].{key}"))
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
