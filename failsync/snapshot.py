"""What one sync pass reads from the cluster: the live target objects and endpoint counts.

Owns: ``Snapshot`` (what was read), ``ClusterReader`` (one LIST per kind and apiVersion, per
namespace or cluster-wide, never a GET per policy; unserved kinds noted, not raised, so each
policy aimed at one fails alone), the health source a policy resolves to and its counts.
Never does: decide or write (``failsync.sync.SyncEngine`` builds on this reader).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from failsync.core import health
from failsync.core.model import HealthSource, Policy, Target
from failsync.core.targets import API_VERSIONS, TRAFFIC_SPLIT, is_route
from failsync.errors import NotFound
from failsync.kube import ENDPOINT_SLICES, ENDPOINTS, ROUTES, SERVICES, SMI_GROUP, KubeClient
from failsync.kube.errors import missing_crd

if TYPE_CHECKING:
    from failsync.clusters import RemoteCluster
    from failsync.core.remote_health import Mirror  # imported with --cluster only (SPEC §11)

#: Above this many namespaces, in the local cluster or a remote one, one cluster-wide LIST per kind
#: replaces the per-namespace ones.
NAMESPACE_LIST_LIMIT = 10


@dataclass
class Snapshot:
    """What one pass read: live target objects by Target (kind, apiVersion) and (namespace, name),
    and ready counts by source."""

    objects: dict[Target, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    #: Targets the server does not serve, with the reason (every policy aimed at one fails alone).
    unserved: dict[Target, str] = field(default_factory=dict)
    ready: dict[HealthSource, dict[tuple[str, str], int]] = field(default_factory=dict)
    #: All endpoints, ready or not, by source; read only when a policy needs them (SPEC §12).
    total: dict[HealthSource, dict[tuple[str, str], int]] = field(default_factory=dict)
    #: Local Services that are Linkerd mirrors, by (namespace, name); read only with remote clusters (SPEC §11).
    mirrors: dict[tuple[str, str], Mirror | None] = field(default_factory=dict)

    def live(self, policy: Policy) -> dict[str, Any] | None:
        """The live object of ``policy``'s target, or None when it is missing."""
        return self.objects.get(kind_of(policy.target), {}).get((policy.namespace, policy.name))


def kind_of(target: Target) -> Target:
    """``target`` without the route settings: what a LIST is made for (one per kind and apiVersion)."""
    return target if target.port is None else Target(target.kind, target.api_version)



def resolve_source(policy: Policy, slices_served: bool) -> HealthSource:
    """The concrete health source of a policy: ``auto`` prefers EndpointSlices when the cluster serves them."""
    if policy.health_source is HealthSource.AUTO:
        return HealthSource.ENDPOINTSLICES if slices_served else HealthSource.ENDPOINTS
    return policy.health_source



def counts_of(policy: Policy, snapshot: Snapshot, source: HealthSource) -> tuple[dict[str, int], dict[str, int] | None]:
    """Ready endpoints of each backend of ``policy`` in ``snapshot``, and all endpoints when the policy needs them."""
    counts = snapshot.ready.get(source, {})
    ready = {service: counts.get((policy.namespace, service), 0) for service in policy.services}
    totals = snapshot.total.get(source) if policy.needs_totals else None
    if totals is None:
        return ready, None
    return ready, {service: totals.get((policy.namespace, service), 0) for service in policy.services}



class ClusterReader:
    """LISTs what a pass decides from, through ``client``; ``clusters``: the other clusters health is read in."""

    client: KubeClient
    clusters: Mapping[str, "RemoteCluster"]

    def _scopes(self, namespaces: set[str], cluster_wide: bool) -> list[str | None]:
        # Above NAMESPACE_LIST_LIMIT namespaces one cluster-wide LIST per kind replaces the per-namespace
        # LISTs (the same limit as in remote clusters).
        if cluster_wide or len(namespaces) > NAMESPACE_LIST_LIMIT:
            return [None]
        return [*sorted(namespaces)]

    def read_snapshot(self, policies: Sequence[Policy], *, adopt: Sequence[Target] = (),
                      cluster_wide: bool = False, every_kind: bool = False) -> Snapshot:
        """LIST each target kind in use (once per kind and apiVersion) and the health kinds the policies need.

        ``adopt``: also these targets (drop-in mode). ``every_kind``: also every other target kind the
        server serves (prune must see an owned route whose policy is gone or now targets a TrafficSplit).
        """
        snapshot = Snapshot()
        scopes = self._scopes({p.namespace for p in policies}, cluster_wide)

        def targets() -> None:
            self.read_targets(snapshot, {kind_of(p.target) for p in policies} | set(adopt), scopes)
            if every_kind:
                self.read_other_kinds(snapshot, scopes)

        if not policies:
            targets()
        else:
            # The target LISTs on a thread of their own, next to the health LISTs: while one answer is
            # decoded here the server builds the other (the same requests, each on its own connection).
            # Discovery first, so that the two never both ask for it.
            self.client.serves_endpoint_slices()
            self._beside(targets, lambda: self.read_health(policies, snapshot, scopes))
        if self.clusters and policies:
            from failsync.clusters import mirrors_by_service  # only with remote clusters (SPEC §11)

            # The mirror labels live on the local Services: one LIST per scope, only when clusters are given.
            snapshot.mirrors.update(mirrors_by_service(
                item for scope in scopes for item in self.client.list(SERVICES, namespace=scope).items))
        return snapshot

    @staticmethod
    def _beside(first: Callable[[], None], second: Callable[[], None]) -> None:
        """Run ``first`` on another thread while ``second`` runs here; raise what ``first`` raised, else
        what ``second`` did (the error a sequential ``first(); second()`` would have raised first)."""
        failure: list[BaseException] = []

        def run() -> None:
            try:
                first()
            except BaseException as error:  # handed to the caller's thread below
                failure.append(error)

        thread = threading.Thread(target=run, name="snapshot-targets", daemon=True)
        thread.start()
        try:
            second()
        finally:
            thread.join()
            if failure:
                raise failure[0]

    def read_targets(self, snapshot: Snapshot, wanted: set[Target], scopes: list[str | None]) -> None:
        """LIST each of ``wanted`` once per scope into ``snapshot`` (unserved ones are noted there)."""
        for target in sorted(wanted, key=lambda t: (t.kind, t.api_version)):
            try:
                resource = self.client.target_resource(target)
            except NotFound as error:
                if target.kind == TRAFFIC_SPLIT and not self.client.discovery().groups.get(SMI_GROUP):
                    raise  # no TrafficSplit at all: the whole run fails, saying to install linkerd-smi
                snapshot.unserved[target] = str(error)
                continue
            found: dict[tuple[str, str], dict[str, Any]] = {}
            try:
                for scope in scopes:
                    for item in self.client.list(resource, namespace=scope).items:
                        meta = item.get("metadata") or {}
                        found[(meta.get("namespace") or scope or "default", meta.get("name", ""))] = item
            except NotFound:
                if target.kind == TRAFFIC_SPLIT:
                    raise
                # Discovery names groups and versions; a version can serve HTTPRoute without GRPCRoute.
                snapshot.unserved[target] = str(missing_crd(resource, self.client.server))
                continue
            snapshot.objects[target] = found

    def read_other_kinds(self, snapshot: Snapshot, scopes: list[str | None]) -> None:
        """LIST every served target kind ``snapshot`` has not read yet (to find objects a policy left behind)."""
        listed = {(t.kind, t.group) for t in (*snapshot.objects, *snapshot.unserved)}
        self.read_targets(snapshot, {t for t in self.served_targets() if (t.kind, t.group) not in listed}, scopes)

    def served_targets(self) -> set[Target]:
        """One served apiVersion of each target kind the server serves (one LIST of it sees every object)."""
        chosen: dict[tuple[str, str], Target] = {}
        for kind, versions in API_VERSIONS.items():
            for api_version in versions:
                target = Target(kind, api_version)
                if (kind, target.group) in chosen:
                    continue
                served = (self.client.serves_resource(ROUTES[(kind, api_version)]) if is_route(kind)
                          else self.client.discovery().serves(api_version))
                if served:
                    chosen[(kind, target.group)] = target
        return set(chosen.values())

    def read_health(self, policies: Sequence[Policy], snapshot: Snapshot, scopes: list[str | None]) -> None:
        """LIST EndpointSlices and/or Endpoints, once per kind per scope, for the sources in use."""
        if not policies:
            return
        served = self.client.serves_endpoint_slices()
        sources = {resolve_source(p, served) for p in policies}
        # Remote health needs the local mirrors' not-ready endpoints too (a gateway that is down).
        totals = bool(self.clusters) or any(p.needs_totals for p in policies)
        if HealthSource.ENDPOINTSLICES in sources and served:
            slices = [item for scope in scopes for item in self.client.list(ENDPOINT_SLICES, namespace=scope).items]
            snapshot.ready[HealthSource.ENDPOINTSLICES] = health.ready_by_service(slices=slices)
            if totals:
                snapshot.total[HealthSource.ENDPOINTSLICES] = health.total_by_service(slices=slices)
        if HealthSource.ENDPOINTS in sources:
            endpoints = [item for scope in scopes for item in self.client.list(ENDPOINTS, namespace=scope).items]
            snapshot.ready[HealthSource.ENDPOINTS] = health.ready_by_service(endpoints=endpoints)
            if totals:
                snapshot.total[HealthSource.ENDPOINTS] = health.total_by_service(endpoints=endpoints)
