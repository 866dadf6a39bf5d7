"""Health from where a backend really runs (SPEC §11): see through Linkerd's mirrors to the remote service.

Owns: which cluster, namespace and service a backend's health is read in (its policy's
``health.cluster``, else a Linkerd mirror's labels when failsync knows that cluster, else the
local service), and the verdict for one remote-read backend from the local mirror's endpoints
and the remote ready count, with the grace an unreachable cluster gets and the sentence that
says why. Pure: takes plain values and dicts shaped like the Kubernetes API returns them;
never talks to a cluster and never decides weights (``weights.decide`` gets the counts this
module says a backend has).

Rules:
- healthy = the remote service has at least ``minReady`` ready endpoints AND, where the local
  mirror has endpoints (gateway mode), at least one is ready (the path through the gateway is
  alive); a remote-discovery mirror (or one with no local endpoints at all) is judged by the
  remote count alone;
- a cluster that cannot be reached keeps its last known count for ``remoteGraceSeconds``
  from the moment it became unreachable, then its backends are unhealthy.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from failsync.core.model import Backend, Policy

MIRRORED_LABEL = "mirror.linkerd.io/mirrored-service"
CLUSTER_LABEL = "mirror.linkerd.io/cluster-name"
FQ_NAME_ANNOTATION = "mirror.linkerd.io/remote-svc-fq-name"
#: Remote-discovery mirrors carry one of these (the first is Linkerd's; SPEC §11 names the second).
REMOTE_DISCOVERY_LABELS = ("multicluster.linkerd.io/remote-discovery", "mirror.linkerd.io/remote-discovery")


@dataclass(frozen=True)
class Mirror:
    """What a local Service's Linkerd labels say: the cluster it mirrors and the remote service."""

    cluster: str
    remote_service: str | None
    remote_namespace: str | None
    remote_discovery: bool


def mirror_of(service: Mapping[str, Any] | None) -> Mirror | None:
    """The mirror a local Service is (``mirrored-service: "true"`` with a cluster name), or None."""
    metadata = (service or {}).get("metadata") or {}
    labels = metadata.get("labels") or {}
    if labels.get(MIRRORED_LABEL) != "true" or not labels.get(CLUSTER_LABEL):
        return None
    fq_name = str((metadata.get("annotations") or {}).get(FQ_NAME_ANNOTATION) or "")
    parts = fq_name.split(".")
    remote_service, remote_namespace = (parts[0], parts[1]) if len(parts) >= 2 and all(parts[:2]) else (None, None)
    return Mirror(str(labels[CLUSTER_LABEL]), remote_service, remote_namespace,
                  any(label in labels for label in REMOTE_DISCOVERY_LABELS))


@dataclass(frozen=True)
class RemoteTarget:
    """Where one backend's health is read: cluster, namespace, service; and why (``policy`` or ``mirror``)."""

    cluster: str
    namespace: str
    service: str
    by: str
    remote_discovery: bool = False


@dataclass(frozen=True)
class Placement:
    """Where a backend's health lives: ``target`` (None: the local endpoints), a ``note`` saying
    why the local endpoints are used for a mirror, or an ``error`` (an unknown cluster name)."""

    target: RemoteTarget | None = None
    note: str | None = None
    error: str | None = None


#: Where most backends' health lives: their local endpoints (one shared value, not one per call).
_LOCAL = Placement()


def place(policy: Policy, backend: Backend, mirror: Mirror | None, known_clusters: Iterable[str]) -> Placement:
    """Where ``backend``'s health is read, given its local Service's mirror labels and the clusters failsync reads."""
    # Called per backend on every reconcile: the known names are sorted only for the error (and the ABC's
    # isinstance is the one of collections.abc: typing's alias goes through two more Python-level calls).
    known = known_clusters if isinstance(known_clusters, Collection) else tuple(known_clusters)
    remote = backend.remote
    if remote is not None:
        if remote.cluster not in known:
            names = ", ".join(sorted(set(known))) if known else "none (give --cluster NAME=CONTEXT)"
            return Placement(error=f"backend {backend.service}: health.cluster {remote.cluster!r} is not a "
                                   f"cluster failsync reads; known clusters: {names}")
        service = remote.service or (mirror.remote_service if mirror else None) or backend.service
        namespace = remote.namespace or (mirror.remote_namespace if mirror else None) or policy.namespace
        return Placement(RemoteTarget(remote.cluster, namespace, service, "policy",
                                      bool(mirror and mirror.remote_discovery)))
    if mirror is None:
        return _LOCAL
    if mirror.cluster not in known:
        return Placement(note=f"{backend.service}: a mirror of cluster {mirror.cluster}, which failsync does not "
                              f"read (add --cluster {mirror.cluster}=CONTEXT); using its local endpoints")
    return Placement(RemoteTarget(mirror.cluster, mirror.remote_namespace or policy.namespace,
                                  mirror.remote_service or backend.service, "mirror", mirror.remote_discovery))


@dataclass(frozen=True)
class RemoteReading:
    """What failsync knows of a remote service: its ready (and all) endpoints, None when never read;
    ``unreachable_since`` set while its cluster cannot be reached (the counts are then the last known)."""

    ready: int | None
    total: int | None = None
    unreachable_since: float | None = None


@dataclass(frozen=True)
class BackendHealth:
    """The verdict on one remote-read backend: the counts the decision gets, and the sentence why.
    ``revisit_at``: when the grace of an unreachable cluster ends (the verdict changes then)."""

    service: str
    healthy: bool
    ready: int
    total: int
    reason: str
    revisit_at: float | None = None


def assess(service: str, target: RemoteTarget, local_ready: int, local_total: int, reading: RemoteReading, *,
           min_ready: int, grace_seconds: float, now: float) -> BackendHealth:
    """Whether ``service`` (read remotely at ``target``) is healthy, from its local mirror endpoints and the remote reading."""
    where = target.cluster
    revisit_at = None
    if reading.unreachable_since is not None:
        down_for = max(0.0, now - reading.unreachable_since)
        if reading.ready is None:
            return BackendHealth(service, False, 0, 0, f"{service}: {where} unreachable for {down_for:.0f}s "
                                                       f"and never read: unhealthy")
        if down_for >= grace_seconds:
            return BackendHealth(service, False, 0, 0, f"{service}: {where} unreachable for {down_for:.0f}s, "
                                                       f"past the {grace_seconds:g}s grace: unhealthy")
        revisit_at = reading.unreachable_since + grace_seconds
        known = (f"{where} unreachable for {down_for:.0f}s; last known {reading.ready} ready, kept for "
                 f"the {grace_seconds:g}s grace")
    elif reading.ready is None:
        return BackendHealth(service, False, 0, 0, f"{service}: {target.namespace}/{target.service} "
                                                   f"not read in {where}: unhealthy")
    else:
        known = f"{reading.ready} ready in {where}"
    remote_ready = reading.ready
    remote_total = max(reading.total if reading.total is not None else remote_ready, remote_ready)
    if target.remote_discovery or local_total == 0:
        path_alive, path = True, "remote discovery" if target.remote_discovery else "no local endpoints"
    else:
        path_alive = local_ready > 0
        path = "gateway up" if path_alive else f"gateway down ({local_ready} of {local_total} local endpoints ready)"
    healthy = path_alive and remote_ready >= min_ready
    counted = remote_ready if path_alive else 0
    return BackendHealth(service, healthy, counted, remote_total if path_alive else 0,
                         f"{service}: {known}, {path}", revisit_at)


def combined_counts(services: Iterable[str], ready: Mapping[str, int], total: Mapping[str, int] | None,
                    verdicts: Mapping[str, BackendHealth]) -> tuple[dict[str, int], dict[str, int] | None]:
    """The counts the decision gets: the local ones, with each remote-read backend's replaced by its verdict's."""
    services = tuple(services)
    counted = {s: verdicts[s].ready if s in verdicts else ready.get(s, 0) for s in services}
    if total is None:
        return counted, None
    return counted, {s: verdicts[s].total if s in verdicts else total.get(s, 0) for s in services}


def explained(reason: str, sentences: Iterable[str]) -> str:
    """A decision's reason followed by what remote health said (each backend's sentence)."""
    said = "; ".join(sentences)
    return f"{reason} ({said})" if said else reason


@dataclass(frozen=True)
class PolicyHealth:
    """Remote health for one policy: each remote-read backend's verdict, the sentences the decision's
    reason gets (verdicts, and mirrors read locally), an error (an unknown cluster), and when to look again."""

    verdicts: Mapping[str, BackendHealth]
    notes: tuple[str, ...] = ()
    error: str | None = None
    targets: Mapping[str, RemoteTarget] | None = None
    revisit_at: float | None = None


def policy_health(policy: Policy, mirror: Callable[[str], Mirror | None], local_ready: Mapping[str, int],
                  local_total: Callable[[str], int], known_clusters: Iterable[str],
                  reading: Callable[[RemoteTarget], RemoteReading], now: float) -> PolicyHealth:
    """Place every backend of ``policy`` and judge the remote-read ones. ``mirror`` gives a backend's local
    mirror labels, ``local_total`` all its local endpoints and ``reading`` what is known remotely: each is
    asked only where needed (the totals for backends read remotely alone), once per backend."""
    known = known_clusters if isinstance(known_clusters, Collection) else tuple(known_clusters)
    verdicts: dict[str, BackendHealth] = {}
    targets: dict[str, RemoteTarget] = {}
    notes: list[str] = []
    for backend in policy.backends:
        service = backend.service
        placed = place(policy, backend, mirror(service), known)
        if placed.error is not None:
            return PolicyHealth({}, error=placed.error)
        if placed.note is not None:
            notes.append(f"{placed.note} ({local_ready.get(service, 0)} ready)")
        if placed.target is None:
            continue
        targets[service] = placed.target
        ready = local_ready.get(service, 0)
        verdict = assess(service, placed.target, ready, max(local_total(service), ready),
                         reading(placed.target), min_ready=policy.min_ready,
                         grace_seconds=policy.remote_grace_seconds, now=now)
        verdicts[service] = verdict
        notes.append(verdict.reason)
    revisits = [v.revisit_at for v in verdicts.values() if v.revisit_at is not None]
    return PolicyHealth(verdicts, tuple(notes), None, targets, min(revisits) if revisits else None)
