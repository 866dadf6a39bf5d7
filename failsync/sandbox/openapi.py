"""``/openapi/v2`` and ``/openapi/v3`` of one cluster, from the schemas it validates with.

Owns: the swagger 2.0 document (definitions of the served built-in kinds from
``builtin_schemas`` and of every served CRD version from its ``openAPIV3Schema``), the v3
root (one entry per served group/version, with a content hash in its URL as the real server
gives) and each group/version's OpenAPI 3.0 document (paths whose operations carry
``x-kubernetes-group-version-kind`` and the ``fieldValidation`` parameter, so kubectl
validates server-side, and ``components.schemas`` that ``kubectl explain`` reads).
Documents are cached per registry revision. Never does: HTTP or protobuf (``openapi_proto``).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import threading

from failsync.sandbox import builtin_schemas
from failsync.sandbox.discovery import VERSION
from failsync.sandbox.resources import Registry, ResourceType

_V2_REFS = "#/definitions/"
_V3_REFS = "#/components/schemas/"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_LIST_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
_SHARED = [_OBJECT_META, _LIST_META, "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
           "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions", "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"]
_QUERY_OPTIONS = {
    "create": ("dryRun", "fieldManager", "fieldValidation"),
    "update": ("dryRun", "fieldManager", "fieldValidation"),
    "patch": ("dryRun", "fieldManager", "fieldValidation", "force"),
    "delete": ("dryRun", "gracePeriodSeconds", "propagationPolicy"),
    "list": ("labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch",
             "timeoutSeconds", "watch", "allowWatchBookmarks", "sendInitialEvents"),
    "get": (),
}
_PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml"]


def definition_name(resource: ResourceType) -> str:
    """The definition a served kind has in the documents (``io.smi-spec.split.v1alpha4.TrafficSplit``)."""
    if not resource.custom:
        return builtin_schemas.definition_name(resource.group, resource.version, resource.kind) or ""
    reversed_group = ".".join(reversed(resource.group.split(".")))
    return f"{reversed_group}.{resource.version}.{resource.kind}"


def _gvk(resource: ResourceType, kind: str | None = None) -> list[dict]:
    return [{"group": resource.group, "kind": kind or resource.kind, "version": resource.version}]


def _retarget(node, prefix: str):
    """A copy of a built-in definition with its ``#/definitions/`` refs under ``prefix``."""
    if isinstance(node, dict):
        return {key: (prefix + value[len(_V2_REFS):] if key == "$ref" and isinstance(value, str) else
                      _retarget(value, prefix)) for key, value in node.items()}
    if isinstance(node, list):
        return [_retarget(item, prefix) for item in node]
    return node


def _custom_definitions(resource: ResourceType, prefix: str, *, v2: bool) -> dict[str, dict]:
    """The object and list definitions of one CRD version."""
    raw = getattr(resource.schema, "raw", None) or {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    body = copy.deepcopy(raw)
    if v2:
        body = _v2_safe(body)
    properties = body.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string", "description": "APIVersion defines the versioned schema of this "
                                                                 "representation of an object."}
    properties["kind"] = {"type": "string", "description": "Kind is a string value representing the REST resource "
                                                           "this object represents."}
    properties["metadata"] = {"$ref": prefix + _OBJECT_META, "description": "Standard object's metadata."}
    body["type"] = "object"
    body["x-kubernetes-group-version-kind"] = _gvk(resource)
    name = definition_name(resource)
    listed = {"type": "object", "required": ["items"], "x-kubernetes-group-version-kind": _gvk(resource,
                                                                                                resource.list_kind),
              "description": f"{resource.list_kind} is a list of {resource.kind}",
              "properties": {"apiVersion": properties["apiVersion"], "kind": properties["kind"],
                             "items": {"type": "array", "items": {"$ref": prefix + name},
                                       "description": f"List of {resource.plural}."},
                             "metadata": {"$ref": prefix + _LIST_META}}}
    return {name: body, f"{name}List": listed}


def _v2_safe(node):
    """Swagger 2.0 cannot say what these say (kube-apiserver drops them from v2 too)."""
    if isinstance(node, list):
        return [_v2_safe(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key in ("nullable", "oneOf", "anyOf", "not", "x-kubernetes-validations"):
            continue
        result[key] = {k: _v2_safe(v) for k, v in value.items()} if key == "properties" else _v2_safe(value)
    if result.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
    if result.get("type") == "array" and "items" not in result:
        result.pop("type")
    return result


def _definitions(resources: list[ResourceType], prefix: str, *, v2: bool) -> dict[str, dict]:
    builtin = [definition_name(r) for r in resources if not r.custom]
    builtin += [builtin_schemas.definition_name(r.group, r.version, r.list_kind) or "" for r in resources
                if not r.custom]
    found = {name: (body if prefix == _V2_REFS else _retarget(body, prefix))
             for name, body in builtin_schemas.closure(builtin + _SHARED).items()}
    for resource in resources:
        if resource.custom:
            found.update(_custom_definitions(resource, prefix, v2=v2))
    return dict(sorted(found.items()))


def _cache_key(registry: Registry) -> tuple:
    return id(registry), registry.revision


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=32)
def _v2(key: tuple, registry: Registry) -> dict:
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]}, "paths": {},
            "definitions": _definitions(list(registry.resources), _V2_REFS, v2=True)}


def v2_document(registry: Registry) -> dict:
    """The swagger 2.0 document (definitions of every served kind)."""
    with _LOCK:
        return _v2(_cache_key(registry), registry)


def _url_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _parameter(name: str, where: str = "query", type_: str = "string") -> dict:
    return {"name": name, "in": where, "schema": {"type": type_}, **({"required": True} if where == "path" else {}),
            "uniqueItems": True}


def _operation(resource: ResourceType, action: str, verb: str, *, schema_ref: str | None) -> dict:
    content = {"application/json": {"schema": {"$ref": schema_ref}}} if schema_ref else {}
    operation = {"operationId": f"{action}{resource.kind}", "tags": [resource.group or "core"],
                 "parameters": [_parameter(name) for name in _QUERY_OPTIONS[verb]],
                 "responses": {"200": {"description": "OK", **({"content": content} if content else {})},
                               "401": {"description": "Unauthorized"}},
                 "x-kubernetes-action": action, "x-kubernetes-group-version-kind": _gvk(resource)[0]}
    if verb in ("create", "update", "patch"):
        # kubectl apply sends a strategic merge patch exactly when the PATCH operation lists it: never for CRs
        types = ([t for t in _PATCH_TYPES if not (resource.custom and "strategic" in t)] if verb == "patch"
                 else ["application/json", "application/yaml"])
        operation["requestBody"] = {"required": True, "content": {
            kind: {"schema": {"$ref": schema_ref or _V3_REFS + "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}
            for kind in types}}
    return operation


def _paths(resource: ResourceType) -> dict[str, dict]:
    base = "/" + _url_path(resource.group, resource.version)
    scoped = f"{base}/namespaces/{{namespace}}/{resource.plural}" if resource.namespaced else \
        f"{base}/{resource.plural}"
    ref = _V3_REFS + definition_name(resource)
    list_ref = _V3_REFS + definition_name(resource) + "List" if resource.custom else \
        _V3_REFS + (builtin_schemas.definition_name(resource.group, resource.version, resource.list_kind) or "")
    verbs = set(resource.verbs)
    collection: dict = {"parameters": [_parameter("namespace", "path")] if resource.namespaced else []}
    if "list" in verbs:
        collection["get"] = _operation(resource, "list", "list", schema_ref=list_ref)
    if "create" in verbs:
        collection["post"] = _operation(resource, "post", "create", schema_ref=ref)
    item: dict = {"parameters": collection["parameters"] + [_parameter("name", "path")]}
    if "get" in verbs:
        item["get"] = _operation(resource, "get", "get", schema_ref=ref)
    if "update" in verbs:
        item["put"] = _operation(resource, "put", "update", schema_ref=ref)
    if "patch" in verbs:
        item["patch"] = _operation(resource, "patch", "patch", schema_ref=ref)
    if "delete" in verbs:
        item["delete"] = _operation(resource, "delete", "delete", schema_ref=None)
    paths = {scoped: collection, f"{scoped}/{{name}}": item}
    for sub in resource.subresources:
        if sub == "status":
            paths[f"{scoped}/{{name}}/status"] = {"parameters": item["parameters"],
                                                  "get": _operation(resource, "get", "get", schema_ref=ref),
                                                  "put": _operation(resource, "put", "update", schema_ref=ref),
                                                  "patch": _operation(resource, "patch", "patch", schema_ref=ref)}
    return paths


@functools.lru_cache(maxsize=256)
def _v3_group_version(key: tuple, registry: Registry, group: str, version: str) -> tuple[dict, str] | None:
    served = registry.of_group_version(group, version)
    if not served:
        return None
    paths: dict = {}
    for resource in served:
        paths.update(_paths(resource))
    document = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
                "paths": paths, "components": {"schemas": _definitions(served, _V3_REFS, v2=False)}}
    digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest().upper()
    return document, digest


def v3_group_version(registry: Registry, group: str, version: str) -> dict | None:
    """The OpenAPI 3.0 document of one served group/version, or None."""
    with _LOCK:
        found = _v3_group_version(_cache_key(registry), registry, group, version)
    return None if found is None else found[0]


def v3_root(registry: Registry) -> dict:
    """``/openapi/v3``: where each served group/version's document is, with its hash."""
    paths = {}
    with _LOCK:
        for group, version in registry.group_versions:
            found = _v3_group_version(_cache_key(registry), registry, group, version)
            if found is not None:
                path = _url_path(group, version)
                paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={found[1]}"}
    return {"paths": paths}


@functools.lru_cache(maxsize=32)
def _v2_bytes(key: tuple, registry: Registry, protobuf: bool) -> bytes:
    doc = _v2(key, registry)
    if protobuf:
        from failsync.sandbox import openapi_proto  # noqa: PLC0415 - only kubectl asks for it

        return openapi_proto.document(doc)
    return json.dumps(doc, separators=(",", ":")).encode()


def v2_bytes(registry: Registry, *, protobuf: bool) -> bytes:
    """``/openapi/v2`` as sent: protobuf (what kubectl asks for) or JSON."""
    with _LOCK:
        return _v2_bytes(_cache_key(registry), registry, protobuf)


def v3_bytes(registry: Registry, group: str, version: str) -> bytes | None:
    """One group/version's v3 document as JSON bytes, or None when not served."""
    with _LOCK:
        found = _v3_group_version(_cache_key(registry), registry, group, version)
        if found is None:
            return None
        encoded = _V3_JSON.get(found[1])
        if encoded is None:
            encoded = _V3_JSON[found[1]] = json.dumps(found[0], separators=(",", ":")).encode()
        return encoded


_V3_JSON: dict[str, bytes] = {}  # by content hash: identical documents of every cluster share one encoding
