"""PATCH bodies applied to an object: JSON Patch, JSON merge patch, strategic merge patch.

Owns: the three patch algorithms and the mapping of their failures to the real status
codes (malformed -> 400, failed JSON Patch operation -> 422). Never does: storage,
preconditions or HTTP. Every function returns a new object and leaves its inputs alone.

Strategic merge follows the Kubernetes patch merge keys for the lists failsync, kubectl
and the demo touch (containers/env/volumes by name, container ports by containerPort,
Service ports by port, ...) and honours the ``$patch``, ``$setElementOrder/``,
``$deleteFromPrimitiveList/`` and ``$retainKeys`` directives.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonpatch
import jsonpointer
import yaml

from failsync.sandbox.status import ApiError, bad_request, unprocessable, unsupported_media_type

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def decode_patch(body: bytes) -> Any:
    """Parse a patch body as JSON; 400 "error decoding patch" with the decoder's message otherwise."""
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        raise bad_request(f"error decoding patch: {error}") from None


def json_patch(obj: dict, body: bytes) -> dict:
    """RFC 6902 via the jsonpatch library: malformed -> 400, failing operation -> 422."""
    operations = decode_patch(body)
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        patch = jsonpatch.JsonPatch(operations)
        return patch.apply(obj, in_place=False)
    except jsonpatch.InvalidJsonPatch as error:
        raise bad_request(f"the server rejected our request due to an error in our request: {error}") from None
    except jsonpatch.JsonPatchTestFailed as error:
        raise unprocessable(f"the server rejected our request due to an error in our request: "
                            f"testing value failed: {error}") from None
    except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException, jsonpatch.JsonPatchException,
            KeyError, IndexError, TypeError) as error:
        raise unprocessable(f"the server rejected our request due to an error in our request: {error}") from None


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: null deletes a key, arrays and scalars replace."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def merge_patch(obj: dict, body: bytes) -> dict:
    """Apply a merge patch body; it must be a JSON object (400 otherwise)."""
    patch = decode_patch(body)
    if not isinstance(patch, dict):
        raise bad_request("the body of the request was not a JSON object")
    return merge(obj, patch)


# Patch merge keys by list field name; the value says which item key identifies an element.
# "ports" is resolved by content: containerPort for container ports, port for Service ports.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "hostAliases": "ip", "conditions": "type", "ownerReferences": "uid", "topologySpreadConstraints": "topologyKey",
    "envFrom": None, "tolerations": None, "args": None, "command": None,
}
PRIMITIVE_MERGE_LISTS = {"finalizers"}


def _ports_key(items: list) -> str | None:
    for item in items:
        if isinstance(item, dict):
            if "containerPort" in item:
                return "containerPort"
            if "port" in item:
                return "port"
    return None


def _merge_list(name: str, original: list, patch: list) -> list:
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_strip(item) for item in patch if not (isinstance(item, dict) and item.get("$patch") == "replace")]
    if name in PRIMITIVE_MERGE_LISTS:
        return list(original) + [item for item in patch if item not in original]
    key = _ports_key(patch + original) if name == "ports" else MERGE_KEYS.get(name)
    if key is None or not all(isinstance(item, dict) for item in patch + original):
        return [_strip(item) for item in patch]
    result = [copy.deepcopy(item) for item in original]
    for item in patch:
        if key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {key}")
        position = next((i for i, existing in enumerate(result) if existing.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if position is not None:
                result.pop(position)
        elif position is None:
            result.append(_strip(item))
        else:
            result[position] = strategic_merge(result[position], item)
    return result


def _strip(value: Any) -> Any:
    """A patch value with every ``$`` directive removed (for values inserted whole)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def _order(items: list, order: list, key: str | None) -> list:
    """Reorder ``items`` as ``$setElementOrder`` lists them; items not listed keep their place at the end."""
    def identity(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item

    wanted = [identity(entry) if isinstance(entry, dict) else entry for entry in order]
    ranked = sorted(range(len(items)), key=lambda i: (wanted.index(identity(items[i]))
                                                      if identity(items[i]) in wanted else len(wanted) + i))
    return [items[i] for i in ranked]


def strategic_merge(original: Any, patch: Any) -> Any:
    """Kubernetes strategic merge of ``patch`` onto ``original`` (both JSON values)."""
    if not isinstance(patch, dict) or not isinstance(original, dict):
        return _strip(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip(patch)
    if directive == "delete":
        return None
    result = dict(original)
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [item for item in result.get(name) or [] if item not in (value or [])]
        elif key.startswith("$"):
            continue
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            merged = strategic_merge(result[key], value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        else:
            result[key] = _strip(value)
    for key, order in patch.items():
        if key.startswith("$setElementOrder/") and isinstance(order, list):
            name = key.split("/", 1)[1]
            if isinstance(result.get(name), list):
                merge_key = _ports_key(order + result[name]) if name == "ports" else MERGE_KEYS.get(name)
                result[name] = _order(result[name], order, merge_key)
    if isinstance(retain, list):
        result = {key: value for key, value in result.items() if key in retain}
    return result


def strategic_merge_patch(obj: dict, body: bytes) -> dict:
    """Apply a strategic merge patch body (built-in kinds only; the caller answers 415 for others)."""
    patch = decode_patch(body)
    if not isinstance(patch, dict):
        raise bad_request("the body of the request was not a JSON object")
    merged = strategic_merge(obj, patch)
    return merged if isinstance(merged, dict) else {}


def apply_patch_object(body: bytes) -> dict:
    """Parse a server-side apply body (YAML or JSON) into an object; 400 when it is not one."""
    try:
        obj = yaml.safe_load(body.decode("utf-8") or "{}")
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise bad_request(f"error decoding YAML: {error}") from None
    if not isinstance(obj, dict):
        raise bad_request("the body of the request was not an object")
    return obj


def check_content_type(content_type: str, *, custom: bool) -> None:
    """415 UnsupportedMediaType unless the (charset-stripped) patch type is served for the kind."""
    accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH] if custom else [
        JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH]
    if content_type not in accepted:
        raise unsupported_media_type(content_type, accepted)


def apply(content_type: str, obj: dict, body: bytes, *, custom: bool) -> dict:
    """Apply a PATCH body of the given (charset-stripped) content type; 415 for unknown types."""
    if content_type == JSON_PATCH:
        return json_patch(obj, body)
    if content_type == MERGE_PATCH:
        return merge_patch(obj, body)
    if content_type == STRATEGIC_MERGE_PATCH and not custom:
        return strategic_merge_patch(obj, body)
    accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH] if custom else [
        JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH]
    raise unsupported_media_type(content_type, accepted)


__all__ = ["ApiError", "apply", "check_content_type", "merge", "strategic_merge", "JSON_PATCH", "MERGE_PATCH",
           "STRATEGIC_MERGE_PATCH", "APPLY_PATCH", "apply_patch_object"]
