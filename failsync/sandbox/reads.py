"""The read verbs of the Kubernetes API over a ``Store``: GET, LIST (selectors, limit/continue)
and opening a WATCH (resourceVersion rules, the history window, sendInitialEvents).

Owns: list bodies, continue tokens, the Scale view of a Deployment and the rules for where a
watch starts. Never does: HTTP framing or streaming (``server``), or writes.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from failsync.sandbox.resources import ResourceType, to_view
from failsync.sandbox.selectors import SelectorError, parse_field_selector, parse_label_selector
from failsync.sandbox.status import ApiError, bad_request, expired, forbidden, invalid, not_found
from failsync.sandbox.store import Change, Store, Watcher

_NAMESPACES = "core/namespaces"


def require_namespace(store: Store, resource: ResourceType, namespace: str | None, name: str = "") -> None:
    """Before a create: 404 ``namespaces "x" not found`` when the namespace is missing, 403 (as the
    NamespaceLifecycle admission plugin answers) while it is being terminated."""
    if not (resource.namespaced and namespace):
        return
    stored = store.get(_NAMESPACES, "", namespace)
    if stored is None:
        raise not_found("namespaces", "", namespace)
    if stored["metadata"].get("deletionTimestamp"):
        subject = resource.group_resource + (f' "{name}"' if name else "")
        error = forbidden(f"{subject} is forbidden: unable to create new content in namespace {namespace} because it "
                          "is being terminated", resource.plural, resource.group, name)
        error.details["causes"] = [{"reason": "NamespaceTerminating", "message": f"namespace {namespace} is being "
                                    "terminated", "field": "metadata.namespace"}]
        raise error


def get(store: Store, resource: ResourceType, namespace: str, name: str) -> dict:
    """The object as served at the resource's version; 404 when missing."""
    stored = store.get(resource.store_key, namespace if resource.namespaced else "", name)
    if stored is None:
        raise not_found(resource.plural, resource.group, name)
    return to_view(resource, stored)


def scale_of(deployment: dict) -> dict:
    """The autoscaling/v1 Scale of a stored Deployment."""
    spec = deployment.get("spec") or {}
    match_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    metadata = deployment["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {key: metadata[key] for key in ("name", "namespace", "uid", "resourceVersion",
                                                         "creationTimestamp") if key in metadata},
            "spec": {"replicas": spec.get("replicas", 0)},
            "status": {"replicas": (deployment.get("status") or {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))}}


def _selectors(resource: ResourceType, query: dict[str, str]):
    try:
        return (parse_label_selector(query.get("labelSelector", "")),
                parse_field_selector(query.get("fieldSelector", ""), resource.store_key))
    except SelectorError as error:
        raise bad_request(str(error)) from None


def _encode_token(revision: int, after: tuple[str, str]) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": list(after)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[int, tuple[str, str]]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(raw["rv"]), (str(raw["start"][0]), str(raw["start"][1]))
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error):
        raise bad_request("invalid continue token") from None


def _item(resource: ResourceType, stored: dict) -> dict:
    """A list item: built-in items carry no kind/apiVersion, custom resources keep them."""
    if resource.custom:
        return to_view(resource, stored)
    view = resource.from_storage(stored)
    return {key: value for key, value in view.items() if key not in ("kind", "apiVersion")}


def list_objects(store: Store, resource: ResourceType, namespace: str | None, query: dict[str, str]) -> dict:
    """A ``<Kind>List`` honouring labelSelector, fieldSelector, limit and continue."""
    if query.get("sendInitialEvents"):
        raise invalid("ListOptions", "meta.k8s.io", "", [{
            "reason": "FieldValueForbidden", "field": "sendInitialEvents",
            "message": "Forbidden: sendInitialEvents is forbidden for list"}])
    token = query.get("continue")
    if token and query.get("resourceVersion"):
        raise bad_request("specifying resource version is not allowed when using continue")
    labels, fields = _selectors(resource, query)
    try:
        limit = int(query.get("limit") or 0)
    except ValueError:
        raise bad_request(f"invalid limit: {query['limit']}") from None
    objects, revision = store.snapshot(resource.store_key, namespace if resource.namespaced else None)
    if token:
        token_revision, after = _decode_token(token)
        if store.too_old(token_revision):
            raise expired("The provided continue parameter is too old to display a consistent list result. "
                          "You can start a new list without the continue parameter.")
        revision = token_revision
        objects = [o for o in objects if (o["metadata"].get("namespace") or "", o["metadata"]["name"]) > after]
    selected = [o for o in objects if _match(o, labels, fields)] if (labels or fields) else objects
    metadata: dict = {"resourceVersion": str(revision)}
    if limit > 0 and len(selected) > limit:
        last = selected[limit - 1]["metadata"]
        metadata["continue"] = _encode_token(revision, (last.get("namespace") or "", last["name"]))
        if not (labels or fields):
            metadata["remainingItemCount"] = len(selected) - limit
        selected = selected[:limit]
    return {"kind": resource.list_kind, "apiVersion": resource.api_version, "metadata": metadata,
            "items": [_item(resource, o) for o in selected]}


def _match(obj: dict, labels, fields) -> bool:
    watcher = Watcher("", None, labels, fields)
    return watcher.selects(obj)


@dataclass
class WatchPlan:
    """Where a watch starts: the registered watcher, its first events, and stream options."""

    watcher: Watcher
    first: list[tuple[str, Change]]
    timeout: float | None
    bookmarks: bool
    initial_events_end: bool  # sendInitialEvents: a BOOKMARK marks the end of the initial ADDED events
    revision: int = 0         # the store revision when the watch was registered


def open_watch(store: Store, resource: ResourceType, namespace: str | None, query: dict[str, str]) -> WatchPlan:
    """Register a watcher per the query; ApiError(410) when resourceVersion left the history window."""
    labels, fields = _selectors(resource, query)
    bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
    send_initial = query.get("sendInitialEvents") in ("true", "1")
    if query.get("sendInitialEvents") and (query.get("resourceVersionMatch") != "NotOlderThan" or not bookmarks):
        raise invalid("ListOptions", "meta.k8s.io", "", [{
            "reason": "FieldValueForbidden", "field": "resourceVersionMatch",
            "message": "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan "
                       "and allowWatchBookmarks"}])
    timeout = None
    if query.get("timeoutSeconds"):
        try:
            timeout = float(query["timeoutSeconds"])
        except ValueError:
            raise bad_request(f"invalid timeoutSeconds: {query['timeoutSeconds']}") from None
    raw_version = query.get("resourceVersion") or ""
    since: int | None
    if send_initial or raw_version in ("", "0"):
        since = None
    else:
        try:
            since = int(raw_version)
        except ValueError:
            raise bad_request(f'invalid resource version: strconv.ParseUint: parsing "{raw_version}": '
                              "invalid syntax") from None
    watcher = Watcher(resource.store_key, namespace if resource.namespaced else None, labels, fields)
    with store.lock:
        if since is not None and store.too_old(since):
            raise expired(f"too old resource version: {since} ({store.oldest + 1})")
        first = store.watch(watcher, since)
        revision = store.revision
    return WatchPlan(watcher, first, timeout, bookmarks, send_initial, revision)


__all__ = ["ApiError", "WatchPlan", "get", "list_objects", "open_watch", "require_namespace", "scale_of"]
