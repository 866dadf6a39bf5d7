"""The other clusters failsync reads health in (SPEC §11): ``--cluster NAME=CONTEXT`` or
``NAME=KUBECONFIG_FILE:CONTEXT``, a client for each, and one-shot reads of their readiness.

Owns: parsing the option (a clear error for a bad name, an unreadable file, an unknown
context, before any request), whether each cluster answered, and the one-shot read: one
LIST of EndpointSlices (or Endpoints) per cluster and namespace scope for the remote
services the policies need, turned into ``remote_health.RemoteReading`` values. The verdict
itself is ``failsync.core.remote_health``; the loop's watches live in
``failsync.controller.remote_caches``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from failsync.core import health
from failsync.core.model import HealthSource, Policy
from failsync.core.remote_health import (Mirror, PolicyHealth, RemoteReading, RemoteTarget, mirror_of, place,
                                         policy_health)
from failsync.errors import ApiError, FailsyncError, Forbidden
from failsync.kube import ENDPOINT_SLICES, ENDPOINTS, KubeClient, Resource
from failsync.loading import expand_path
from failsync.snapshot import NAMESPACE_LIST_LIMIT

log = logging.getLogger(__name__)

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")


class ClusterOptionError(FailsyncError):
    """A ``--cluster`` value failsync cannot use (exit 2, before any request)."""


@dataclass(frozen=True)
class ClusterSpec:
    """One ``--cluster``: its name, the kubeconfig it comes from (None: the global one) and the context."""

    name: str
    kubeconfig: str | None
    context: str

    def describe(self) -> str:
        """``east (context east of /path/kubeconfig)``."""
        return f"{self.name} (context {self.context}" + (f" of {self.kubeconfig})" if self.kubeconfig else ")")


def parse_cluster(text: str) -> ClusterSpec:
    """``NAME=CONTEXT`` or ``NAME=KUBECONFIG_FILE:CONTEXT`` (a context may itself hold ``:``, as EKS ARNs do:
    the file is the longest prefix before a ``:`` that is an existing file)."""
    name, sep, where = text.partition("=")
    usage = "expected --cluster NAME=CONTEXT or NAME=KUBECONFIG_FILE:CONTEXT"
    if not sep or not where:
        raise ClusterOptionError(f"--cluster {text!r}: {usage}")
    if len(name) > 63 or not _NAME.match(name):
        raise ClusterOptionError(f"--cluster {text!r}: the name {name!r} is not a DNS-1123 label (lowercase "
                                 f"letters, digits and '-'), as mirror.linkerd.io/cluster-name values are; {usage}")
    cuts = [index for index, char in enumerate(where) if char == ":"]
    for index in reversed(cuts):
        if expand_path(where[:index]).is_file():
            context = where[index + 1:]
            if not context:
                raise ClusterOptionError(f"--cluster {text!r}: no context after the file; {usage}")
            return ClusterSpec(name, str(expand_path(where[:index])), context)
    if cuts:
        file = where[:cuts[-1]]
        if "/" in file or file.startswith("~") or file.endswith((".yaml", ".yml", ".conf", "config")):
            raise ClusterOptionError(f"--cluster {text!r}: cannot read kubeconfig file {file}: no such file")
    return ClusterSpec(name, None, where)


def parse_clusters(values: Iterable[str]) -> tuple[ClusterSpec, ...]:
    """Every ``--cluster``, each name once."""
    specs: list[ClusterSpec] = []
    for value in values:
        spec = parse_cluster(value)
        if any(other.name == spec.name for other in specs):
            raise ClusterOptionError(f"--cluster {value!r}: cluster {spec.name!r} is given twice; expected each "
                                     f"name once")
        specs.append(spec)
    return tuple(specs)


@dataclass
class RemoteCluster:
    """One remote cluster: its client, and since when it has not answered (None: it answers)."""

    spec: ClusterSpec
    client: KubeClient
    unreachable_since: float | None = None
    problem: str | None = None
    #: Whether a request has been answered (status says "not contacted" otherwise).
    contacted: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def reachable(self) -> bool:
        return self.unreachable_since is None

    def mark(self, error: Exception | None, now: float) -> None:
        """Record the outcome of a request: answered (None) or failed with ``error``."""
        self.contacted = True
        if error is None:
            self.unreachable_since, self.problem = None, None
        else:
            if self.unreachable_since is None:
                self.unreachable_since = now
            self.problem = str(error)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``status -o json``)."""
        return {"name": self.name, "context": self.spec.context, "kubeconfig": self.spec.kubeconfig,
                "server": self.client.server, "reachable": self.reachable if self.contacted else None,
                "problem": self.problem}


def connect(specs: Sequence[ClusterSpec], default_kubeconfig: str | None, *,
            client_factory: Callable[[str | None, str], KubeClient] = KubeClient.from_kubeconfig
            ) -> dict[str, RemoteCluster]:
    """A client for every cluster (kubeconfig and context checked now: an unknown context fails here)."""
    clusters: dict[str, RemoteCluster] = {}
    for spec in specs:
        kubeconfig = spec.kubeconfig or default_kubeconfig
        if kubeconfig is None:
            raise ClusterOptionError(f"--cluster {spec.name}={spec.context}: no kubeconfig to find context "
                                     f"{spec.context!r} in; pass --kubeconfig or NAME=KUBECONFIG_FILE:CONTEXT")
        try:
            client = client_factory(kubeconfig, spec.context)
        except FailsyncError as error:
            raise ClusterOptionError(f"--cluster {spec.name}: {error}") from error
        clusters[spec.name] = RemoteCluster(spec, client)
    return clusters


@dataclass
class RemoteReads:
    """What one pass read in the remote clusters: ready (and all) endpoints by (cluster, namespace, service)."""

    ready: dict[tuple[str, str, str], int] = field(default_factory=dict)
    total: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: (cluster, namespace) scopes that were read (a cluster-wide read is (cluster, None)).
    read: set[tuple[str, str | None]] = field(default_factory=set)

    def reading(self, clusters: Mapping[str, RemoteCluster]) -> Callable[[RemoteTarget], RemoteReading]:
        """What is known of one remote target (unreachable: the cluster's since, and no count)."""
        def of(target: RemoteTarget) -> RemoteReading:
            cluster = clusters[target.cluster]
            if not cluster.reachable:
                return RemoteReading(None, None, cluster.unreachable_since)
            key = (target.cluster, target.namespace, target.service)
            if (target.cluster, target.namespace) not in self.read and (target.cluster, None) not in self.read:
                return RemoteReading(None)
            return RemoteReading(self.ready.get(key, 0), self.total.get(key, 0))
        return of


def needed_scopes(policies: Sequence[Policy], mirrors: Mapping[tuple[str, str], Mirror | None],
                  known: Iterable[str]) -> dict[str, set[str]]:
    """The namespaces each remote cluster must be read in for ``policies``."""
    known = tuple(known)
    scopes: dict[str, set[str]] = {}
    for policy in policies:
        for backend in policy.backends:
            target = place(policy, backend, mirrors.get((policy.namespace, backend.service)), known).target
            if target is not None:
                scopes.setdefault(target.cluster, set()).add(target.namespace)
    return scopes


def read_remote(clusters: Mapping[str, RemoteCluster], scopes: Mapping[str, set[str]], *,
                now: Callable[[], float] = time.time) -> RemoteReads:
    """One LIST of EndpointSlices (Endpoints where slices are not served) per cluster and namespace scope."""
    reads = RemoteReads()
    for name, namespaces in sorted(scopes.items()):
        cluster = clusters[name]
        wanted: list[str | None] = [*sorted(namespaces)] if len(namespaces) <= NAMESPACE_LIST_LIMIT else [None]
        try:
            slices = cluster.client.serves_endpoint_slices()
            resource = ENDPOINT_SLICES if slices else ENDPOINTS
            if wanted == [None]:
                try:
                    items = list(cluster.client.list(resource).items)
                except Forbidden:
                    # Rights granted per namespace (a Role in each backend namespace, as docs/multicluster.md
                    # allows): the cluster-wide LIST is refused, one LIST per namespace is not.
                    items, wanted = _list_per_namespace(cluster, resource, namespaces)
            else:
                items, wanted = _list_per_namespace(cluster, resource, namespaces)
        except ApiError as error:
            log.warning("cluster %s unreachable: %s", name, error)
            cluster.mark(error, now())
            continue
        cluster.mark(None, now())
        counted = ({"slices": items} if slices else {"endpoints": items})
        for (namespace, service), count in health.ready_by_service(**counted).items():
            reads.ready[(name, namespace, service)] = count
        for (namespace, service), count in health.total_by_service(**counted).items():
            reads.total[(name, namespace, service)] = count
        reads.read.update((name, scope) for scope in wanted)
    return reads


def _list_per_namespace(cluster: RemoteCluster, resource: Resource, namespaces: Iterable[str]
                        ) -> tuple[list[Any], list[str | None]]:
    """One LIST per namespace: the items, and the namespaces read (one without the rights is said and left
    unread, so its backends count as unhealthy while the others are read)."""
    items: list[Any] = []
    read: list[str | None] = []
    for namespace in sorted(namespaces):
        try:
            items += cluster.client.list(resource, namespace=namespace).items
        except Forbidden as error:
            log.warning("cluster %s answers but refuses reads in namespace %s (%s): backends read there count "
                        "as unhealthy", cluster.name, namespace, error)
            continue
        read.append(namespace)
    return items, read


def probe(clusters: Mapping[str, RemoteCluster], *, now: Callable[[], float] = time.time) -> None:
    """Ask every cluster not contacted yet whether it answers (one discovery request each; for ``status``)."""
    for cluster in clusters.values():
        if cluster.contacted:
            continue
        try:
            cluster.client.serves_endpoint_slices()
        except ApiError as error:
            cluster.mark(error, now())
        else:
            cluster.mark(None, now())


def mirrors_by_service(services: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mirror | None]:
    """The Linkerd mirrors among local Services, by (namespace, name)."""
    found: dict[tuple[str, str], Mirror | None] = {}
    for service in services:
        mirror = mirror_of(service)
        if mirror is not None:
            metadata = service.get("metadata") or {}
            found[(metadata.get("namespace") or "default", metadata.get("name", ""))] = mirror
    return found


#: Judges one policy's remote backends from its health source and local ready counts.
Judge = Callable[[Policy, HealthSource, Mapping[str, int]], PolicyHealth]


def remote_judge(clusters: Mapping[str, RemoteCluster], policies: Sequence[Policy],
                 mirrors: Mapping[tuple[str, str], Mirror | None],
                 local_totals: Mapping[HealthSource, Mapping[tuple[str, str], int]], *,
                 clock: Callable[[], float] = time.time) -> Judge | None:
    """Read the remote clusters ``policies`` need, once, and return a judge of each policy's remote
    backends; None when no cluster is given and no policy names one (Part 1's reads, unchanged)."""
    if not clusters and not any(b.remote for p in policies for b in p.backends):
        return None
    reads = read_remote(clusters, needed_scopes(policies, mirrors, clusters), now=clock)
    reading = reads.reading(clusters)
    now = clock()

    def judge(policy: Policy, source: HealthSource, ready: Mapping[str, int]) -> PolicyHealth:
        totals = local_totals.get(source, {})
        return policy_health(policy, lambda s: mirrors.get((policy.namespace, s)), ready,
                             lambda s: totals.get((policy.namespace, s), ready.get(s, 0)), clusters, reading, now)
    return judge
