"""The resource registry: which kinds the sandbox serves, at which group/versions, and how.

Owns: one ``ResourceType`` per served (group, version, resource), the rules each follows
(scope, verbs, short names, generation policy, PUT semantics, DELETE answer), and the
lookups used by routing and by ``Cluster.apply``. Never does: storage or HTTP. Per-kind
behaviour (defaults, conversion between versions, validation) lives in ``kinds``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from failsync.sandbox import kinds

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class ResourceType:
    """One resource served at one group/version; versions of one kind share ``store_key``."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    store_key: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    custom: bool = False                 # a custom resource (CRD-backed): no strategic merge, items keep kind
    generation: str = "none"             # "none" | "spec" (spec+annotations) | "content" (non-metadata + labels)
    put_requires_rv: bool = False        # PUT without resourceVersion -> 422
    put_creates: bool = False            # PUT on a missing object creates it
    delete_returns_status: bool = False  # generic store: DELETE answers a Status, not the object
    status_subresource: bool = False     # main-resource writes keep status; /status writes only status
    to_storage: Callable[[dict], dict] = field(default=kinds.identity, compare=False)
    from_storage: Callable[[dict], dict] = field(default=kinds.identity, compare=False)
    validate: Callable[[dict], list] = field(default=kinds.no_causes, compare=False)
    default: Callable[[dict], dict] = field(default=kinds.identity, compare=False)

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def group_resource(self) -> str:
        """``deployments.apps`` / ``services``: how messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _core(plural: str, singular: str, kind: str, namespaced: bool = True, **options) -> ResourceType:
    return ResourceType("", "v1", plural, singular, kind, namespaced, f"core/{plural}", **options)


def _crd_versions(base: ResourceType, versions: list[tuple[str, Callable, Callable, Callable]]) -> list[ResourceType]:
    return [replace(base, version=version, to_storage=to_storage, from_storage=from_storage, validate=validate)
            for version, to_storage, from_storage, validate in versions]


_TRAFFICSPLIT = ResourceType(
    "split.smi-spec.io", "v1alpha4", "trafficsplits", "trafficsplit", "TrafficSplit", True, "split/trafficsplits",
    short_names=("ts",), custom=True, generation="content", put_requires_rv=True, delete_returns_status=True)
_HTTPROUTE = ResourceType(
    "gateway.networking.k8s.io", "v1", "httproutes", "httproute", "HTTPRoute", True, "gateway/httproutes",
    categories=("gateway-api",), subresources=("status",), custom=True, generation="content", put_requires_rv=True,
    delete_returns_status=True, status_subresource=True, validate=kinds.validate_httproute,
    default=kinds.default_httproute)

RESOURCES: tuple[ResourceType, ...] = (
    _core("namespaces", "namespace", "Namespace", namespaced=False, short_names=("ns",), subresources=("status",),
          verbs=("create", "delete", "get", "list", "patch", "update", "watch"), put_creates=False,
          default=kinds.default_namespace, status_subresource=True),
    _core("services", "service", "Service", short_names=("svc",), categories=("all",), subresources=("status",),
          verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
          default=kinds.default_service, status_subresource=True),
    _core("endpoints", "endpoints", "Endpoints", short_names=("ep",), put_creates=True, default=kinds.default_endpoints),
    _core("events", "event", "Event", short_names=("ev",), put_creates=True),
    ResourceType("events.k8s.io", "v1", "events", "event", "Event", True, "core/events", short_names=("ev",),
                 put_creates=True, to_storage=kinds.event_to_core, from_storage=kinds.event_from_core,
                 validate=kinds.validate_events_v1),
    ResourceType("apps", "v1", "deployments", "deployment", "Deployment", True, "apps/deployments",
                 short_names=("deploy",), categories=("all",), subresources=("scale", "status"), generation="spec",
                 delete_returns_status=True, status_subresource=True, default=kinds.default_deployment,
                 validate=kinds.validate_deployment),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", True,
                 "discovery/endpointslices", generation="content", validate=kinds.validate_endpointslice),
    ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True, "coordination/leases",
                 put_requires_rv=True, put_creates=True),
    ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
                 "CustomResourceDefinition", False, "apiextensions/customresourcedefinitions",
                 short_names=("crd", "crds"), categories=("api-extensions",), verbs=READ_VERBS),
    *_crd_versions(_TRAFFICSPLIT, [
        ("v1alpha4", kinds.identity, kinds.identity, kinds.validate_trafficsplit_int),
        ("v1alpha3", kinds.identity, kinds.identity, kinds.validate_trafficsplit_int),
        ("v1alpha2", kinds.identity, kinds.split_drop_matches, kinds.validate_trafficsplit_int),
        ("v1alpha1", kinds.split_v1alpha1_to_storage, kinds.split_v1alpha1_from_storage,
         kinds.validate_trafficsplit_quantity),
    ]),
    _HTTPROUTE,
    replace(_HTTPROUTE, version="v1beta1"),
)

# Served group/versions in the order discovery lists them; the first version of a group is preferred.
GROUP_VERSIONS: tuple[tuple[str, str], ...] = tuple(dict.fromkeys((r.group, r.version) for r in RESOURCES))

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource served at ``/apis/group/version/plural`` (or ``/api/v1/plural``), if any."""
    return _BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> ResourceType:
    """The resource for an object's apiVersion and kind; KeyError when not served."""
    try:
        return _BY_KIND[(api_version, kind)]
    except KeyError:
        raise KeyError(f"the sandbox does not serve {kind} at {api_version}") from None


def versions_of(group: str) -> list[str]:
    """Served versions of a group, preferred first."""
    return [version for g, version in GROUP_VERSIONS if g == group]


def of_group_version(group: str, version: str) -> list[ResourceType]:
    """Resources served at one group/version, in registry order."""
    return [r for r in RESOURCES if r.group == group and r.version == version]


def storage_type(store_key: str) -> ResourceType:
    """The resource whose served form is the stored form (the first registered for the key)."""
    return _STORAGE[store_key]


_STORAGE = {}
for _resource in reversed(RESOURCES):
    if _resource.to_storage is kinds.identity and _resource.from_storage is kinds.identity:
        _STORAGE[_resource.store_key] = _resource


def to_view(resource: ResourceType, stored: dict) -> dict:
    """The stored object as served at ``resource``'s version (a new top-level dict)."""
    return {"apiVersion": resource.api_version, "kind": resource.kind,
            **{k: v for k, v in resource.from_storage(stored).items() if k not in ("apiVersion", "kind")}}


def to_store(resource: ResourceType, view: dict) -> dict:
    """An object received at ``resource``'s version converted to the stored form."""
    storage = _STORAGE[resource.store_key]
    return {"apiVersion": storage.api_version, "kind": storage.kind,
            **{k: v for k, v in resource.to_storage(view).items() if k not in ("apiVersion", "kind")}}
