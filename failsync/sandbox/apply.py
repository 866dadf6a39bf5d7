"""Server-side apply (PATCH ``application/apply-patch+yaml``) with field ownership.

Owns: turning an applied configuration into the new object and its ``managedFields`` as the
real field manager does: create when missing (201), 409 Conflict naming each field another
manager owns with a different value (``force=true`` takes them over), shared ownership when
values agree, and removal of the fields a manager stopped applying that nobody else owns.
Never does: storage (``writes`` stores the result) or HTTP.
"""

from __future__ import annotations

import json
from typing import Any

from failsync.sandbox import managed_fields, patches
from failsync.sandbox.managed_fields import Path
from failsync.sandbox.resources import ResourceType
from failsync.sandbox.status import ApiError, bad_request, field_cause, invalid

KUBECTL = "kubectl"  # the field manager of `kubectl apply --server-side`
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def require_manager(field_manager: str | None) -> str:
    """The fieldManager of an apply; 422 when missing, as the real server answers."""
    if not field_manager:
        raise invalid("PatchOptions", "meta.k8s.io", "", [field_cause(
            "fieldManager", "FieldValueRequired", "Required value: is required for apply patch")])
    return field_manager


def intent_of(resource: ResourceType, name: str, body: bytes) -> dict:
    """The applied configuration; 400 when it names another kind or object."""
    intent = patches.apply_patch_object(body)
    api_version, kind = intent.get("apiVersion"), intent.get("kind")
    if (api_version and api_version != resource.api_version) or (kind and kind != resource.kind):
        raise bad_request(f"the API version in the data ({api_version}) does not match the expected API version "
                          f"({resource.api_version})" if api_version != resource.api_version else
                          f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})")
    metadata = intent.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise bad_request("the body of the request was not a valid object")
    metadata = dict(metadata or {})
    if metadata.get("name") and metadata["name"] != name:
        raise bad_request(f'the name of the object ({metadata["name"]}) does not match the name on the URL ({name})')
    metadata["name"] = name
    return dict(intent, apiVersion=resource.api_version, kind=resource.kind, metadata=metadata)


def created_fields(resource: ResourceType, intent: dict, manager: str, time: str) -> list[dict]:
    """The managedFields of an object created by an apply: the applier owns what it applied."""
    applied = managed_fields.leaves(intent, custom=resource.custom)
    return [managed_fields.entry(manager, "Apply", resource.api_version, time, applied)] if applied else []


def _conflict(conflicts: list[tuple[dict, Path]]) -> ApiError:
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {managed_fields.manager_label(item)}",
               "field": managed_fields.path_text(path)} for item, path in conflicts]
    if len(conflicts) == 1:
        item, path = conflicts[0]
        message = (f"Apply failed with 1 conflict: conflict with {managed_fields.manager_label(item)}: "
                   f"{managed_fields.path_text(path)}")
    else:
        by_manager: dict[str, list[str]] = {}
        for item, path in conflicts:
            by_manager.setdefault(managed_fields.manager_label(item), []).append(managed_fields.path_text(path))
        lines = []
        for label in sorted(by_manager):
            lines.append(f"conflicts with {label}:")
            lines.extend(f"- {text}" for text in by_manager[label])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})


def _remove(obj: Any, path: Path) -> None:
    """Delete the field (or keyed/set list item) at ``path`` from ``obj`` in place, if present."""
    parent = obj
    for element in path[:-1]:
        parent = _child(parent, element)
        if parent is None:
            return
    last = path[-1]
    kind, _, rest = last.partition(":")
    if kind == "f" and isinstance(parent, dict):
        parent.pop(rest, None)
    elif isinstance(parent, list):
        parent[:] = [item for item in parent if not _matches(item, kind, rest)]


def _matches(item: Any, kind: str, rest: str) -> bool:
    if kind == "v":
        return item == json.loads(rest)
    if kind == "k" and isinstance(item, dict):
        return all(item.get(key) == value for key, value in json.loads(rest).items())
    return False


def _child(node: Any, element: str) -> Any:
    kind, _, rest = element.partition(":")
    if kind == "f":
        return node.get(rest) if isinstance(node, dict) else None
    if isinstance(node, list):
        return next((item for item in node if _matches(item, kind, rest)), None)
    return None


def apply(resource: ResourceType, live: dict, intent: dict, manager: str, *, force: bool, time: str,
          subresource: str | None = None) -> tuple[dict, list[dict]]:
    """The object after ``manager`` applied ``intent`` over ``live`` (both at the request's version)
    and its managedFields; 409 on conflicts unless ``force``. On the ``status`` subresource only
    status fields count, against the managers of status."""
    status = subresource == "status"
    applied = managed_fields.leaves(intent, custom=resource.custom, status=status)
    current = managed_fields.leaves(live, custom=resource.custom, status=status)
    entries = managed_fields.owners(live)
    previous: set[Path] = set()
    conflicts: list[tuple[dict, Path]] = []
    others: list[tuple[dict, set[Path]]] = []
    for item, paths in entries:
        if _mine(item, manager, subresource):
            previous = paths
            continue
        others.append((item, paths))
        if (item.get("subresource") == "status") != status:
            continue
        for path in sorted(paths & applied.keys()):
            if path in current and current[path] != applied[path]:
                conflicts.append((item, path))
    if conflicts and not force and not _upgrading_client_side_apply(resource, live, manager, conflicts):
        raise _conflict(conflicts)
    merge = patches.merge if resource.custom else patches.strategic_merge
    merged = merge(live, {k: v for k, v in intent.items() if k != "metadata"} | {
        "metadata": {k: v for k, v in intent["metadata"].items() if k != "managedFields"}})
    if manager == KUBECTL and LAST_APPLIED in ((live["metadata"].get("annotations") or {})) and not status:
        # kubectl's server-side apply keeps the client-side apply annotation in step, as the real server does
        applied_config = {k: v for k, v in intent.items()}
        annotations = {k: v for k, v in (intent["metadata"].get("annotations") or {}).items() if k != LAST_APPLIED}
        applied_config["metadata"] = dict(intent["metadata"], annotations=annotations)
        if not annotations:
            del applied_config["metadata"]["annotations"]
        merged["metadata"] = dict(merged["metadata"], annotations=dict(
            merged["metadata"].get("annotations") or {}, **{LAST_APPLIED: json.dumps(applied_config) + "\n"}))
    owned_by_others = set().union(*(paths for _item, paths in others)) if others else set()
    for path in sorted(previous - applied.keys(), key=len, reverse=True):
        still_wanted = any(p[:len(path)] == path for p in applied) or any(
            p[:len(path)] == path for p in owned_by_others)
        if not still_wanted:
            _remove(merged, path)
    taken = {path for _item, path in conflicts}
    result = []
    placed = False
    for item, paths in entries:
        if _mine(item, manager, subresource):
            if applied:
                result.append(managed_fields.entry(manager, "Apply", resource.api_version, time, applied,
                                                   subresource))
            placed = True
            continue
        if taken & paths:
            paths = paths - taken
            if not paths:
                continue
            item = dict(item, fieldsV1=managed_fields.to_fields_v1(paths))
        result.append(item)
    if not placed and applied:
        result.append(managed_fields.entry(manager, "Apply", resource.api_version, time, applied, subresource))
    return merged, result


def _upgrading_client_side_apply(resource: ResourceType, live: dict, manager: str,
                                 conflicts: list[tuple[dict, Path]]) -> bool:
    """kubectl's first server-side apply after client-side ones: conflicts on fields of the
    last-applied configuration are taken over without --force-conflicts (the real server's
    last-applied manager), so switching to server-side apply needs no flag."""
    raw = (live["metadata"].get("annotations") or {}).get(LAST_APPLIED)
    if manager != KUBECTL or not raw:
        return False
    try:
        last_applied = json.loads(raw)
    except ValueError:
        return False
    allowed = managed_fields.leaves(last_applied, custom=resource.custom) if isinstance(last_applied, dict) else {}
    return all(path in allowed for _item, path in conflicts)


def _mine(item: dict, manager: str, subresource: str | None) -> bool:
    return item.get("manager") == manager and item.get("operation") == "Apply" and item.get("subresource") == \
        subresource


__all__ = ["apply", "created_fields", "intent_of", "require_manager"]
