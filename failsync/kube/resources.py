"""The kinds failsync reads and writes, each a small ``Resource`` description
(apiVersion, kind, plural) the client builds URLs from.

Owns: the list of supported kinds and their REST names. Never does: requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from failsync.core.targets import API_VERSIONS, ROUTE_KINDS


@dataclass(frozen=True)
class Resource:
    """One REST resource: ``plural`` under ``api_version``, namespaced or not."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        """The API group ("" for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def qualified(self) -> str:
        """``plural.group`` as kubectl and RBAC messages spell it (``endpoints`` for the core group)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


SMI_GROUP = "split.smi-spec.io"
TRAFFIC_SPLIT_VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4")

TRAFFIC_SPLITS: dict[str, Resource] = {
    f"{SMI_GROUP}/{version}": Resource(f"{SMI_GROUP}/{version}", "TrafficSplit", "trafficsplits")
    for version in TRAFFIC_SPLIT_VERSIONS
}
#: Route kinds by (kind, apiVersion): Gateway API HTTPRoute/GRPCRoute and Linkerd's HTTPRoute (SPEC §10).
ROUTES: dict[tuple[str, str], Resource] = {
    (kind, api_version): Resource(api_version, kind, f"{kind.lower()}s")
    for kind in ROUTE_KINDS for api_version in API_VERSIONS[kind]
}
ENDPOINT_SLICES = Resource("discovery.k8s.io/v1", "EndpointSlice", "endpointslices")
ENDPOINTS = Resource("v1", "Endpoints", "endpoints")
SERVICES = Resource("v1", "Service", "services")
EVENTS = Resource("v1", "Event", "events")
#: failsync's own kind (SPEC §13): FailoverPolicy objects, read by `get` and `run --source cluster`.
FAILOVER_POLICIES = Resource("failsync.io/v1alpha1", "FailoverPolicy", "failoverpolicies")
