"""The write verbs of the Kubernetes API over a ``Store``: create, update (PUT), patch,
delete, deletecollection, and the ``scale`` / ``status`` subresources.

Owns: server-set metadata (uid, creationTimestamp, resourceVersion via the store,
generation), preconditions (stale resourceVersion -> 409), "no change -> no new
resourceVersion and no event", dry runs, and which Status each failure answers.
Never does: HTTP, parsing patch bodies (``patches``) or per-kind rules (``kinds``).
"""

from __future__ import annotations

import copy
import os
import random
import re
import time

from failsync.core.timestamps import format_time
from failsync.sandbox import apply as server_side_apply
from failsync.sandbox import deletion, managed_fields, patches
from failsync.sandbox.reads import list_objects, require_namespace, scale_of
from failsync.sandbox.resources import ResourceType, to_store, to_view
from failsync.sandbox.status import (ApiError, already_exists, bad_request, conflict, field_cause, internal,
                                     invalid, method_not_allowed, not_found, unsupported_media_type)
from failsync.sandbox.store import Store

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SERVER_METADATA = ("uid", "creationTimestamp", "generation", "resourceVersion", "deletionTimestamp",
                    "deletionGracePeriodSeconds", "managedFields", "selfLink")


# Writes through the Python API (test and demo set-up, ``Cluster.apply``) name no field manager and
# record no managedFields: they stand for objects that exist, not for a client's write. Every write
# over HTTP, and the simulated controllers' writes, name one.
DIRECT_MANAGER: str | None = None


_LAST_STAMP: tuple[int, str] = (-1, "")  # (second, its text): writes come many to the second


def timestamp(now: float | None = None) -> str:
    """The server clock (or ``now``) as metadata timestamps are written: RFC 3339 UTC, whole seconds."""
    global _LAST_STAMP
    second = int(time.time() if now is None else now)
    if second != _LAST_STAMP[0]:
        _LAST_STAMP = (second, format_time(second))
    return _LAST_STAMP[1]


_UID_BYTES: list[bytes] = []  # os.urandom drawn 4 KiB at a time: one system call per 256 uids, not per uid


def new_uid() -> str:
    """A random (version 4) UUID as text, as ``str(uuid.uuid4())`` without building a UUID object."""
    try:
        chunk = _UID_BYTES.pop()
    except IndexError:  # (a try, not a check: another thread may take the last one in between)
        pool = os.urandom(4096)
        _UID_BYTES.extend(pool[i:i + 16] for i in range(16, 4096, 16))
        chunk = pool[:16]
    raw = bytearray(chunk)
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _check_writable(resource: ResourceType, verb: str) -> None:
    if verb not in resource.verbs:
        raise method_not_allowed()


def _validate(resource: ResourceType, view: dict, name: str) -> None:
    causes = []
    if not _NAME.match(name) or len(name) > 253:
        causes.append(field_cause("metadata.name", "FieldValueInvalid",
                                  f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower '
                                  "case alphanumeric characters, '-' or '.', and must start and end with an "
                                  "alphanumeric character (e.g. 'example.com', regex used for validation is "
                                  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"))
    causes.extend(resource.validate(view))
    if causes:
        raise invalid(resource.kind, resource.group, name, causes)


def _body_metadata(resource: ResourceType, body: dict, namespace: str | None) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
        raise bad_request("the body of the request was not a valid object")
    metadata = dict(body.get("metadata") or {})
    if resource.namespaced:
        if metadata.get("namespace") and namespace and metadata["namespace"] != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        metadata["namespace"] = namespace or metadata.get("namespace") or ""
    else:
        metadata.pop("namespace", None)
    return metadata


def _generation(resource: ResourceType, old: dict, new: dict) -> int | None:
    if resource.generation == "none":
        return None
    generation = old["metadata"].get("generation", 1)
    if resource.generation == "spec":
        changed = (old.get("spec") != new.get("spec")
                   or old["metadata"].get("annotations") != new["metadata"].get("annotations"))
    else:
        ignored = {"metadata", "apiVersion", "kind"} | ({"status"} if resource.status_subresource else set())
        keys = (set(old) | set(new)) - ignored
        changed = any(old.get(key) != new.get(key) for key in keys)
        if resource.store_key == "discovery/endpointslices":
            changed = changed or old["metadata"].get("labels") != new["metadata"].get("labels")
    return generation + 1 if changed else generation


def _same(old: dict, new: dict) -> bool:
    """Nothing but the resourceVersion and managedFields timestamps differ (the real server then
    stores nothing and emits no event)."""
    def strip(obj: dict) -> dict:
        metadata = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        if "managedFields" in metadata:
            metadata["managedFields"] = [{k: v for k, v in item.items() if k != "time"} if isinstance(item, dict)
                                         else item for item in metadata["managedFields"]]
        return {**obj, "metadata": metadata}
    return strip(old) == strip(new)


def _managed_order(item: dict) -> tuple:
    # The real field manager's order: Apply before Update, then by time, manager and apiVersion.
    return item.get("operation", ""), item.get("time", ""), item.get("manager", ""), item.get("apiVersion", "")


def _owners_given(old: dict, given: object) -> list[dict]:
    """The managedFields a write starts from: the stored ones, unless the request changed them
    (as kubectl does to hand client-side apply fields to server-side apply); ``[{}]`` resets them."""
    current = old["metadata"].get("managedFields") or []
    if not isinstance(given, list) or given == current:
        return current
    return [item for item in given if isinstance(item, dict) and item.get("manager") and item.get("operation")]


def _with_managed_fields(metadata: dict, managed: list[dict]) -> dict:
    if managed:
        metadata["managedFields"] = sorted(managed, key=_managed_order) if len(managed) > 1 else managed
    else:
        metadata.pop("managedFields", None)
    return metadata


def create(store: Store, resource: ResourceType, namespace: str | None, body: dict, *,
           dry_run: bool = False, manager: str | None = DIRECT_MANAGER, managed: list[dict] | None = None) -> dict:
    """POST: 201 body; 409 AlreadyExists; 404 missing namespace; 500 with a resourceVersion set."""
    _check_writable(resource, "create")
    metadata = _body_metadata(resource, body, namespace)
    require_namespace(store, resource, metadata.get("namespace"), metadata.get("name") or "")
    if metadata.get("resourceVersion"):
        raise internal("resourceVersion should not be set on objects to be created")
    if not metadata.get("name"):
        if not metadata.get("generateName"):
            raise invalid(resource.kind, resource.group, "", [field_cause(
                "metadata.name", "FieldValueRequired", "Required value: name or generateName is required")])
        metadata["name"] = metadata["generateName"] + "".join(random.choices(_GENERATE_ALPHABET, k=5))
    for key in _SERVER_METADATA:
        metadata.pop(key, None)
    view = resource.default(dict(body, metadata=metadata, apiVersion=resource.api_version, kind=resource.kind))
    _validate(resource, view, metadata["name"])
    stored = to_store(resource, view)
    now = timestamp()
    stored["metadata"] = dict(stored["metadata"], uid=new_uid(), creationTimestamp=now)
    if resource.generation != "none":
        stored["metadata"]["generation"] = 1
    if resource.status_subresource and resource.store_key not in ("core/namespaces", "core/services"):
        stored.pop("status", None)
    if managed is None and manager:
        managed = managed_fields.record_update(None, stored, manager=manager, api_version=resource.api_version,
                                               time=now, custom=resource.custom)
    _with_managed_fields(stored["metadata"], managed or [])
    with store.lock:
        if store.get(resource.store_key, metadata.get("namespace", ""), metadata["name"]) is not None:
            raise already_exists(resource.plural, resource.group, metadata["name"])
        if dry_run:
            return to_view(resource, stored)
        return to_view(resource, store.commit(resource.store_key, "ADDED", stored))


def _scale_update(resource: ResourceType, old: dict, scale: dict) -> dict:
    replicas = (scale.get("spec") or {}).get("replicas", 0) if isinstance(scale, dict) else None
    name = old["metadata"]["name"]
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise invalid("Scale", "autoscaling", name, [field_cause(
            "spec.replicas", "FieldValueInvalid", f"Invalid value: {replicas}: must be greater than or equal to 0")])
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = replicas
    return new


def update(store: Store, resource: ResourceType, namespace: str | None, name: str, body: dict, *,
           subresource: str | None = None, dry_run: bool = False,
           manager: str | None = DIRECT_MANAGER) -> tuple[int, dict]:
    """PUT: (200, object) or (201, object) when it created; 409 stale; 404 missing (unless the kind creates)."""
    _check_writable(resource, "update")
    if subresource == "scale":
        metadata = dict((body or {}).get("metadata") or {}) if isinstance(body, dict) else {}
    else:
        metadata = _body_metadata(resource, body, namespace)
    if metadata.get("name") and metadata["name"] != name:
        raise bad_request(f'the name of the object ({metadata["name"]}) does not match the name on the URL ({name})')
    with store.lock:
        old = store.get(resource.store_key, namespace or "" if resource.namespaced else "", name)
        if old is None:
            if resource.put_creates and subresource is None:
                return 201, create(store, resource, namespace, dict(body, metadata={
                    **metadata, "name": name, "resourceVersion": None}), dry_run=dry_run, manager=manager)
            raise not_found(resource.plural, resource.group, name)
        expected = metadata.get("resourceVersion")
        if expected and expected != old["metadata"]["resourceVersion"]:
            raise conflict(resource.plural, resource.group, name)
        if not expected and resource.put_requires_rv and subresource is None:
            raise invalid(resource.kind, resource.group, name, [field_cause(
                "metadata.resourceVersion", "FieldValueInvalid",
                "Invalid value: 0x0: must be specified for an update")])
        if subresource == "scale":
            return 200, scale_of(_replace(store, resource, old, _scale_update(resource, old, body), dry_run,
                                          subresource="scale", manager=manager))
        new_view = dict(body, metadata=metadata, apiVersion=resource.api_version, kind=resource.kind)
        return 200, to_view(resource, _replace(store, resource, old, to_store(resource, new_view), dry_run,
                                               subresource=subresource, manager=manager))


def _replace(store: Store, resource: ResourceType, old: dict, new: dict, dry_run: bool, *,
             subresource: str | None = None, manager: str | None = DIRECT_MANAGER,
             managed: list[dict] | None = None) -> dict:
    """Store ``new`` in place of ``old`` keeping server metadata and recording ``manager``'s
    Update in managedFields (or the given ``managed``); no change -> ``old`` unchanged."""
    name = old["metadata"]["name"]
    if subresource == "status":
        new = dict(old, status=new.get("status")) if new.get("status") is not None else {
            k: v for k, v in old.items() if k != "status"}
    else:
        new = to_store(resource, resource.default(to_view(resource, new)))
        _validate(resource, to_view(resource, new), name)
        if resource.status_subresource:
            new = dict(new, status=old["status"]) if "status" in old else {k: v for k, v in new.items()
                                                                             if k != "status"}
    owners = _owners_given(old, (new.get("metadata") or {}).get("managedFields"))
    metadata = {k: v for k, v in (new.get("metadata") or {}).items() if k not in _SERVER_METADATA}
    for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
        if key in old["metadata"]:
            metadata[key] = old["metadata"][key]
    if resource.namespaced:
        metadata["namespace"] = old["metadata"]["namespace"]
    metadata["name"] = name
    metadata["resourceVersion"] = old["metadata"]["resourceVersion"]
    new = dict(new, metadata=metadata)
    generation = _generation(resource, old, new)
    if generation is not None:
        metadata["generation"] = generation
    if managed is None and manager:
        managed = managed_fields.record_update(
            dict(old, metadata=dict(old["metadata"], managedFields=owners)), new, manager=manager,
            api_version=resource.api_version, time=timestamp(), custom=resource.custom,
            subresource=subresource if subresource == "status" else None)
    _with_managed_fields(metadata, managed if managed is not None else owners)
    deletion.check_update(resource, old, new)
    if _same(old, new):
        return old
    if dry_run:
        return new
    return deletion.commit_update(store, resource.store_key, old, new)


def patch(store: Store, resource: ResourceType, namespace: str | None, name: str, content_type: str, body: bytes,
          *, subresource: str | None = None, dry_run: bool = False, field_manager: str | None = None,
          manager: str | None = DIRECT_MANAGER, force: bool = False) -> tuple[int, dict]:
    """PATCH with any supported content type; a resourceVersion in the result is a precondition (409).

    ``field_manager`` is the request's ``fieldManager`` (required for apply); ``manager`` the
    one recorded for other patches when the request names none."""
    _check_writable(resource, "patch")
    content_type = content_type.split(";")[0].strip().lower()
    if force and content_type != patches.APPLY_PATCH:
        raise invalid("PatchOptions", "meta.k8s.io", "", [field_cause(
            "force", "FieldValueForbidden", "Forbidden: may not be specified for non-apply patch")])
    with store.lock:
        old = store.get(resource.store_key, (namespace or "") if resource.namespaced else "", name)
        if content_type == patches.APPLY_PATCH:
            return _server_side_apply(store, resource, namespace, name, old, body, field_manager, force, dry_run,
                                      subresource)
        if old is None:
            patches.check_content_type(content_type, custom=resource.custom)  # 415 before 404, as the server does
            raise not_found(resource.plural, resource.group, name)
        current = scale_of(old) if subresource == "scale" else to_view(resource, old)
        patched = patches.apply(content_type, current, body, custom=resource.custom)
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata", {}), dict):
            raise bad_request("the patched object is not a valid object")
        expected = (patched.get("metadata") or {}).get("resourceVersion")
        if expected and expected != old["metadata"]["resourceVersion"]:
            raise conflict(resource.plural, resource.group, name)
        if (patched.get("metadata") or {}).get("name", name) != name:
            raise bad_request(f"the name of the object does not match the name on the URL ({name})")
        manager = field_manager or manager
        if subresource == "scale":
            return 200, scale_of(_replace(store, resource, old, _scale_update(resource, old, patched), dry_run,
                                          subresource="scale", manager=manager))
        patched.setdefault("metadata", {})
        return 200, to_view(resource, _replace(store, resource, old, to_store(resource, patched), dry_run,
                                               subresource=subresource, manager=manager))


def _server_side_apply(store: Store, resource: ResourceType, namespace: str | None, name: str, old: dict | None,
                       body: bytes, field_manager: str | None, force: bool, dry_run: bool,
                       subresource: str | None) -> tuple[int, dict]:
    """Apply an applied configuration: create (201) or merge it with field ownership (200, or 409);
    on ``/status`` only the status is applied (and the object must exist)."""
    manager = server_side_apply.require_manager(field_manager)
    if subresource == "scale":
        raise unsupported_media_type(patches.APPLY_PATCH, [patches.JSON_PATCH, patches.MERGE_PATCH])
    intent = server_side_apply.intent_of(resource, name, body)
    if subresource == "status":
        if old is None:
            raise not_found(resource.plural, resource.group, name)
        merged, managed = server_side_apply.apply(resource, to_view(resource, old), intent, manager, force=force,
                                                  time=timestamp(), subresource="status")
        return 200, to_view(resource, _replace(store, resource, old, to_store(resource, merged), dry_run,
                                               subresource="status", managed=managed))
    if old is None:
        return 201, create(store, resource, namespace, intent, dry_run=dry_run,
                           managed=server_side_apply.created_fields(resource, intent, manager, timestamp()))
    merged, managed = server_side_apply.apply(resource, to_view(resource, old), intent, manager, force=force,
                                              time=timestamp())
    merged["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
    return 200, to_view(resource, _replace(store, resource, old, to_store(resource, merged), dry_run,
                                           managed=managed))


def delete(store: Store, resource: ResourceType, namespace: str | None, name: str, options: dict | None = None, *,
           dry_run: bool = False) -> tuple[int, dict]:
    """DELETE: (status code, body) as ``deletion.delete`` answers it."""
    _check_writable(resource, "delete")
    return deletion.delete(store, resource, namespace, name, options, dry_run=dry_run, now=timestamp)


def delete_collection(store: Store, resource: ResourceType, namespace: str | None, query: dict[str, str],
                      options: dict | None = None, *, dry_run: bool = False) -> dict:
    """DELETE on a collection: every selected object; answers the list of deleted objects."""
    _check_writable(resource, "deletecollection")
    deletion.propagation_policy(options or {})
    with store.lock:
        listed = list_objects(store, resource, namespace, {k: v for k, v in query.items()
                                                          if k in ("labelSelector", "fieldSelector")})
        for item in listed["items"]:
            delete(store, resource, item["metadata"].get("namespace"), item["metadata"]["name"], options,
                   dry_run=dry_run)
    return listed


__all__ = ["ApiError", "create", "delete", "delete_collection", "patch", "timestamp", "update"]
