"""The resource registry: which kinds the sandbox serves, at which group/versions, and how.

Owns: one ``ResourceType`` per served (group, version, resource), the rules each follows
(scope, verbs, short names, generation policy, PUT semantics, DELETE answer), the built-in
resources, and the per-cluster ``Registry`` (built-ins plus the resources of installed
CRDs, which ``crds`` derives) with the lookups used by routing and ``Cluster.apply``.
Never does: storage or HTTP. Per-kind behaviour (defaults, conversion between versions,
validation) lives in ``kinds``; custom resources follow their CRD's schema (``schema``).
"""

from __future__ import annotations

import re
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
    storage_api_version: str = ""        # where objects are stored when not at this version ("" = this one)
    # prune and default an object written at another version (custom resources)
    on_read: Callable[[dict], dict] | None = field(default=None, compare=False)
    printer_columns: tuple = field(default=(), compare=False)  # additionalPrinterColumns of a CRD version
    schema: object = field(default=None, compare=False)        # the compiled structural schema (``schema.Structural``)

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


RESOURCES: tuple[ResourceType, ...] = (
    _core("namespaces", "namespace", "Namespace", namespaced=False, short_names=("ns",), subresources=("status",),
          verbs=("create", "delete", "get", "list", "patch", "update", "watch"), put_creates=False,
          default=kinds.default_namespace, status_subresource=True),
    _core("services", "service", "Service", short_names=("svc",), categories=("all",), subresources=("status",),
          verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
          default=kinds.default_service, status_subresource=True),
    _core("endpoints", "endpoints", "Endpoints", short_names=("ep",), put_creates=True, default=kinds.default_endpoints),
    _core("events", "event", "Event", short_names=("ev",), put_creates=True),
    _core("serviceaccounts", "serviceaccount", "ServiceAccount", short_names=("sa",)),
    ResourceType("events.k8s.io", "v1", "events", "event", "Event", True, "core/events", short_names=("ev",),
                 put_creates=True, storage_api_version="v1", to_storage=kinds.event_to_core,
                 from_storage=kinds.event_from_core,
                 validate=kinds.validate_events_v1),
    ResourceType("apps", "v1", "deployments", "deployment", "Deployment", True, "apps/deployments",
                 short_names=("deploy",), categories=("all",), subresources=("scale", "status"), generation="spec",
                 delete_returns_status=True, status_subresource=True, default=kinds.default_deployment,
                 validate=kinds.validate_deployment),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", True,
                 "discovery/endpointslices", generation="content", validate=kinds.validate_endpointslice),
    ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease", True, "coordination/leases",
                 put_requires_rv=True, put_creates=True),
)

def _pruning(resource: ResourceType) -> ResourceType:
    """The resource with its defaults led by pruning to the kind's published OpenAPI schema."""
    from failsync.sandbox import builtin_schemas, schema  # noqa: PLC0415 - loaded once, on first use

    kind_default = resource.default
    group, version, kind = resource.group, resource.version, resource.kind

    def default(obj: dict) -> dict:
        structural = builtin_schemas.structural(group, version, kind)
        if structural is not None:
            obj, _causes = schema.coerce(structural, obj, kind, version)  # built-ins: pruning only, no value checks
        return kind_default(obj)

    return replace(resource, default=default)


RESOURCES = tuple(_pruning(resource) for resource in RESOURCES)
_BUILTIN_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BUILTIN_BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    """A built-in resource served at ``/apis/group/version/plural`` (or ``/api/v1/plural``), if any."""
    return _BUILTIN_BY_PATH.get((group, version, plural))


def by_kind(api_version: str, kind: str) -> ResourceType:
    """The built-in resource for an object's apiVersion and kind; KeyError when not built in."""
    try:
        return _BUILTIN_BY_KIND[(api_version, kind)]
    except KeyError:
        raise KeyError(f"the sandbox does not serve {kind} at {api_version}") from None


_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple:
    """Sort key of Kubernetes version priority: GA > beta > alpha, higher numbers first, others last."""
    match = _VERSION.match(version)
    if not match:
        return (1, version)
    major, stage, minor = match.groups()
    return (0, {None: 0, "beta": 1, "alpha": 2}[stage], -int(major), -int(minor or 0))


class Registry:
    """What one cluster serves: the built-in resources plus those of its installed CRDs.

    ``install`` swaps the custom set in one assignment, so readers on other threads see the
    old set or the new one, never a mix.
    """

    def __init__(self, builtins: tuple[ResourceType, ...] = RESOURCES) -> None:
        self._builtins = tuple(builtins)
        self.install(())

    def install(self, custom: tuple[ResourceType, ...] | list[ResourceType]) -> None:
        """Serve exactly these custom resources (every version of every established CRD) from now on."""
        self.revision = getattr(self, "revision", 0) + 1  # documents built from the registry are cached per revision
        every = self._builtins + tuple(custom)
        custom_versions = sorted(dict.fromkeys((r.group, r.version) for r in custom),
                                 key=lambda gv: (gv[0], version_priority(gv[1])))
        builtin_versions = list(dict.fromkeys((r.group, r.version) for r in self._builtins))
        self._state = (every, {(r.group, r.version, r.plural): r for r in every},
                       {(r.api_version, r.kind): r for r in every},
                       tuple(builtin_versions + [gv for gv in custom_versions if gv not in builtin_versions]))

    @property
    def resources(self) -> tuple[ResourceType, ...]:
        """Every served resource, built-ins first."""
        return self._state[0]

    @property
    def group_versions(self) -> tuple[tuple[str, str], ...]:
        """Served group/versions in discovery order; a group's first version is its preferred one."""
        return self._state[3]

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The resource served at ``/apis/group/version/plural``, if any."""
        return self._state[1].get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType:
        """The resource for an object's apiVersion and kind; KeyError when not served."""
        try:
            return self._state[2][(api_version, kind)]
        except KeyError:
            raise KeyError(f"the sandbox does not serve {kind} at {api_version}") from None

    def versions_of(self, group: str) -> list[str]:
        """Served versions of a group, preferred first."""
        return [version for g, version in self.group_versions if g == group]

    def served_storage_type(self, store_key: str) -> ResourceType | None:
        """The resource whose version objects under ``store_key`` are stored at; None when none is served
        (a deleted CRD's kind)."""
        candidates = [r for r in self.resources if r.store_key == store_key]
        for resource in candidates:
            if resource.storage_api_version in ("", resource.api_version):
                return resource
        return candidates[0] if candidates else None

    def of_group_version(self, group: str, version: str) -> list[ResourceType]:
        """Resources served at one group/version, in registry order."""
        return [r for r in self.resources if r.group == group and r.version == version]


def to_view(resource: ResourceType, stored: dict) -> dict:
    """The stored object as served at ``resource``'s version (a new top-level dict).

    A custom resource stored at another version is pruned and defaulted with this version's
    schema, as kube-apiserver does after a conversion (strategy None rewrites apiVersion only).
    """
    view = {"apiVersion": resource.api_version, "kind": resource.kind,
            **{k: v for k, v in resource.from_storage(stored).items() if k not in ("apiVersion", "kind")}}
    if resource.on_read is not None and stored.get("apiVersion") != resource.api_version:
        view = resource.on_read(view)
    return view


def to_store(resource: ResourceType, view: dict) -> dict:
    """An object received at ``resource``'s version converted to the stored form."""
    return {"apiVersion": resource.storage_api_version or resource.api_version, "kind": resource.kind,
            **{k: v for k, v in resource.to_storage(view).items() if k not in ("apiVersion", "kind")}}
