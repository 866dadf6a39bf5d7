"""URL paths -> what a request addresses, and the Kubernetes verb of a request.

Owns: parsing ``/api/v1/...`` and ``/apis/G/V/...`` paths (namespaced, cluster-wide and
cluster-scoped forms, subresources, legacy ``/watch/`` paths) and naming the verb
(get, list, watch, create, update, patch, delete, deletecollection) used by the request
log, fault injection and authorisation. Never does: I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from failsync.sandbox import resources
from failsync.sandbox.resources import ResourceType


@dataclass(frozen=True)
class Route:
    """A resource request: the resource type, namespace (None = all/cluster), name, subresource."""

    resource: ResourceType
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool = False


def parse(path: str, registry: resources.Registry | None = None) -> Route | None:
    """The route of a resource path, or None (discovery, admin and unknown paths).

    Resources come from ``registry`` (a cluster's built-ins and CRDs); without one, built-ins only.
    """
    lookup = registry.lookup if registry is not None else resources.lookup
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    legacy_watch = bool(rest) and rest[0] == "watch"
    if legacy_watch:
        rest = rest[1:]
    if not rest:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        candidate = lookup(group, version, rest[2])
        if candidate is not None and candidate.namespaced:
            namespace, rest = rest[1], rest[2:]
    resource = lookup(group, version, rest[0])
    if resource is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) >= 2 else None
    subresource = rest[2] if len(rest) == 3 else None
    if subresource is not None and subresource not in resource.subresources:
        return None
    if namespace is not None and not resource.namespaced:
        return None
    return Route(resource, namespace, name, subresource, legacy_watch)


def verb_of(method: str, route: Route | None, query: dict[str, str]) -> str:
    """The Kubernetes verb of a request; discovery and admin requests are ``get``."""
    method = method.upper()
    collection = route is not None and route.name is None
    if method == "GET":
        if route is not None and (route.legacy_watch or query.get("watch") in ("true", "1")):
            return "watch"
        return "list" if collection else "get"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "deletecollection" if collection else "delete"
    return method.lower()
