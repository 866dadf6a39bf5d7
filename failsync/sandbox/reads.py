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
        error.details = dict(error.details or {}, causes=[{
            "reason": "NamespaceTerminating", "message": f"namespace {namespace} is being terminated",
            "field": "metadata.namespace"}])
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


_CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a consistent list result. You can start "
                     "a new list without the continue parameter")
_INCONSISTENT_CONTINUE = (_CONTINUE_EXPIRED + ", or use the continue token in this response to retrieve the remainder "
                          "of the results. Continuing with the provided token results in an inconsistent list - "
                          "objects that were created, modified, or deleted between the time the first chunk was "
                          "returned and now may show up in the list.")


def too_large(requested: int, current: int) -> ApiError:
    """504 Timeout "Too large resource version", as the watch cache answers after waiting in vain."""
    return ApiError(504, "Timeout", f"Timeout: Too large resource version: {requested}, current: {current}",
                    {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                     "retryAfterSeconds": 1}, {"Retry-After": "1"})


def _list_options(query: dict[str, str]) -> tuple[str, str]:
    """(resourceVersion, resourceVersionMatch) validated as ValidateListOptions does (422)."""
    version, match = query.get("resourceVersion") or "", query.get("resourceVersionMatch") or ""
    causes = []
    if match:
        if not version:
            causes.append(("FieldValueForbidden", "Forbidden: resourceVersionMatch is forbidden unless "
                                                  "resourceVersion is provided"))
        if query.get("continue"):
            causes.append(("FieldValueForbidden", "Forbidden: resourceVersionMatch is forbidden when continue is "
                                                  "provided"))
        if match not in ("Exact", "NotOlderThan"):
            causes.append(("FieldValueNotSupported", f'Unsupported value: "{match}": supported values: "Exact", '
                                                     '"NotOlderThan", ""'))
        if match == "Exact" and version == "0":
            causes.append(("FieldValueForbidden", 'Forbidden: resourceVersionMatch "exact" is forbidden for '
                                                  'resourceVersion "0"'))
    if causes:
        raise invalid("ListOptions", "meta.k8s.io", "", [{"reason": reason, "message": message,
                                                          "field": "resourceVersionMatch"}
                                                         for reason, message in causes])
    return version, match


def _parse_version(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f'invalid resource version: strconv.ParseUint: parsing "{raw}": invalid syntax') from None


def _reached(store: Store, revision: int, wait: float) -> None:
    """504 unless the store reaches ``revision`` within ``wait`` seconds."""
    if revision > store.revision and not store.wait_for_revision(revision, wait):
        raise too_large(revision, store.revision)


def _select(store: Store, resource: ResourceType, namespace: str | None, query: dict[str, str],
            wait: float) -> tuple[dict, list[dict]]:
    """The list metadata and the stored objects of one LIST page."""
    if query.get("sendInitialEvents"):
        raise invalid("ListOptions", "meta.k8s.io", "", [{
            "reason": "FieldValueForbidden", "field": "sendInitialEvents",
            "message": "Forbidden: sendInitialEvents is forbidden for list"}])
    token = query.get("continue")
    version, match = _list_options(query)
    if token and version not in ("", "0"):
        raise bad_request("specifying resource version is not allowed when using continue")
    labels, fields = _selectors(resource, query)
    try:
        limit = int(query.get("limit") or 0)
    except ValueError:
        raise bad_request(f"invalid limit: {query['limit']}") from None
    scope = namespace if resource.namespaced else None
    after: tuple[str, str] | None = None
    at: int | None = None  # a past revision to serve, None = the latest
    if token:
        at, after = _decode_token(token)
        if at < 0:
            at = None  # "continue from the latest", as a fresh token after an expired one says
        elif store.too_old(resource.store_key, at):
            error = expired(_INCONSISTENT_CONTINUE)
            error.list_metadata = {"continue": _encode_token(-1, after)}
            raise error
    elif version not in ("", "0"):
        requested = _parse_version(version)
        _reached(store, requested, wait)
        if match == "Exact":
            if store.too_old(resource.store_key, requested):
                raise expired(f"too old resource version: {requested} ({store.oldest(resource.store_key) + 1})")
            at = requested
    select = Watcher("", None, labels, fields).selects if (labels or fields) else None
    with store.lock:
        revision = store.revision if at is None or at >= store.revision else at
        selected, remaining, more = store.page(resource.store_key, scope, after=after, revision=revision,
                                               select=select, limit=max(limit, 0))
    metadata: dict = {"resourceVersion": str(revision)}
    if more:
        last = selected[-1]["metadata"]
        metadata["continue"] = _encode_token(revision, (last.get("namespace") or "", last["name"]))
        if remaining is not None:
            metadata["remainingItemCount"] = remaining
    return metadata, selected


def _item(resource: ResourceType, stored: dict) -> dict:
    """A list item: built-in items carry no kind/apiVersion, custom resources keep them."""
    if resource.custom:
        return to_view(resource, stored)
    view = resource.from_storage(stored)
    return {key: value for key, value in view.items() if key not in ("kind", "apiVersion")}


def list_objects(store: Store, resource: ResourceType, namespace: str | None, query: dict[str, str], *,
                 wait: float = 3.0) -> dict:
    """A ``<Kind>List`` honouring selectors, limit/continue (pages of one snapshot) and
    resourceVersion/resourceVersionMatch (504 after ``wait`` seconds for a future version)."""
    metadata, selected = _select(store, resource, namespace, query, wait)
    return {"kind": resource.list_kind, "apiVersion": resource.api_version, "metadata": metadata,
            "items": [_item(resource, o) for o in selected]}


def list_json(store: Store, resource: ResourceType, namespace: str | None, query: dict[str, str], *,
              wait: float = 3.0) -> bytes:
    """``list_objects`` serialised as compact JSON, each item encoded once per stored version."""
    metadata, selected = _select(store, resource, namespace, query, wait)
    view_key = (resource.group, resource.version, resource.plural)

    def encode(obj: dict) -> bytes:
        return json.dumps(_item(resource, obj), separators=(",", ":")).encode()

    head = json.dumps({"kind": resource.list_kind, "apiVersion": resource.api_version, "metadata": metadata},
                      separators=(",", ":")).encode()
    return b"".join((head[:-1], b',"items":[', b",".join(store.encoded(view_key, o, encode) for o in selected),
                     b"]}"))


@dataclass
class WatchPlan:
    """Where a watch starts: the registered watcher, its first events, and stream options."""

    watcher: Watcher
    first: list[tuple[str, Change]]
    timeout: float | None
    bookmarks: bool
    initial_events_end: bool  # sendInitialEvents: a BOOKMARK marks the end of the initial ADDED events
    revision: int = 0         # the store revision when the watch was registered


def open_watch(store: Store, resource: ResourceType, namespace: str | None, query: dict[str, str], *,
               wait: float = 3.0) -> WatchPlan:
    """Register a watcher per the query; ApiError(410) when resourceVersion left the history
    window, ApiError(504) when it is ahead of the store for ``wait`` seconds (both are sent
    as the stream's one ERROR event)."""
    labels, fields = _selectors(resource, query)
    if query.get("resourceVersionMatch") and not query.get("sendInitialEvents"):
        raise invalid("ListOptions", "meta.k8s.io", "", [{
            "reason": "FieldValueForbidden", "field": "resourceVersionMatch",
            "message": "Forbidden: resourceVersionMatch is forbidden for watch"}])
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
        since = _parse_version(raw_version)
        _reached(store, since, wait)
    watcher = Watcher(resource.store_key, namespace if resource.namespaced else None, labels, fields)
    with store.lock:
        if since is not None and store.too_old(resource.store_key, since):
            raise expired(f"too old resource version: {since} ({store.oldest(resource.store_key) + 1})")
        first = store.watch(watcher, since)
        revision = store.revision
    return WatchPlan(watcher, first, timeout, bookmarks, send_initial, revision)


__all__ = ["ApiError", "WatchPlan", "get", "list_json", "list_objects", "open_watch", "require_namespace", "scale_of",
           "too_large"]
