"""What a reconcile reads of the remote-aware caches: counts, totals and notes in one call.

Covers:
- the counts and the notes of one call come from one look at each cache: a remote change landing
  between two reads can never give a decision the counts of one verdict and the reason of another;
- a backend read in a cluster failsync is not given: 0 ready, and the error is the note;
- local caches (no remote cluster) read the same counts through the same call, with no notes;
- a mirror with local endpoints is judged with its local totals (gateway down), a plain local
  backend beside it keeps its own count.
"""

from __future__ import annotations

import threading
from typing import Any

from failsync.clusters import RemoteCluster, parse_cluster
from failsync.controller.caches import Caches, _service_of_slice, _slice_readiness
from failsync.controller.caches import PolicyCounts
from failsync.controller.remote_caches import RemoteAwareCaches, _mirror_projection
from failsync.controller.remote_scopes import RemoteKind
from failsync.core.policies import parse_policies
from failsync.kube import ENDPOINT_SLICES
from failsync.kube.watch import Store
from failsync.observability import Metrics
from tests.helpers import MINIMAL_POLICY

NS = "emojivoto"
READ_IN_EAST = MINIMAL_POLICY.format(name="web-svc-failover") + """\
      health: {cluster: east, service: web-svc}
    - service: web-svc-central
      priority: 2
"""


class _Listed:
    """A watcher as the caches see it once it has listed: its store, synced."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.synced = threading.Event()
        self.synced.set()


class _ChangingUnderfoot(Store):
    """A cache whose every read is followed by a change (east's web-svc goes from 1 ready to 0 and
    back), as when a watch event lands between two reads of one reconcile."""

    reads = 0

    def by_index(self, value: Any) -> list[Any]:
        found = super().by_index(value)
        self.reads += 1
        self.put(_slice(NS, "web-svc", ready=self.reads % 2 == 0, version=str(self.reads + 1)))
        return found


def _slice(namespace: str, service: str, *, ready: int | bool = 1, not_ready: int = 0, version: str = "1") -> dict:
    endpoints = ([{"addresses": [f"10.0.0.{n}"], "conditions": {"ready": True}} for n in range(ready)]
                 + [{"addresses": [f"10.0.1.{n}"], "conditions": {"ready": False}} for n in range(not_ready)])
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"{service}-1", "namespace": namespace, "resourceVersion": version,
                         "labels": {"kubernetes.io/service-name": service}},
            "endpoints": endpoints}


SETTINGS: dict[str, Any] = {"retry": None, "spawn": None, "watch_timeout": 1, "on_change": lambda r, c: None,
                            "on_resync": lambda: None, "on_restart": lambda r, s: None}


def _local(caches: Caches, local: Store) -> Caches:
    """``caches`` reading EndpointSlices from ``local`` (its watcher listed, never started)."""
    caches.slices_served = True
    caches.watchers[ENDPOINT_SLICES] = _Listed(local)  # type: ignore[assignment]
    local.put(_slice(NS, "web-svc", ready=0))
    local.put(_slice(NS, "web-svc-central", ready=2))
    return caches


def _caches(remote: Store | None = None, clusters: tuple[str, ...] = ("east",)) -> tuple[RemoteAwareCaches, Store]:
    """Remote-aware caches over in-memory stores (no watcher runs): west's slices, east's, the mirror labels."""
    remote = remote if remote is not None else Store(_service_of_slice, project=_slice_readiness)
    known = {name: RemoteCluster(parse_cluster(f"{name}={name}"), client=None) for name in clusters}  # type: ignore[arg-type]
    caches = RemoteAwareCaches(None, **SETTINGS, clusters=known, metrics=Metrics(), on_touched=lambda pairs: None,
                               on_reachability=lambda cluster, pairs: None)
    _local(caches, Store(_service_of_slice, project=_slice_readiness))
    caches.mirrors_watcher = _Listed(Store(project=_mirror_projection))  # type: ignore[assignment]
    for name in clusters:
        kind = RemoteKind(name, "endpointslices")
        kind.wide = _Listed(remote)  # type: ignore[assignment]
        caches.remote_kinds[name] = {"endpointslices": kind}
    return caches, remote


def _policy(text: str = READ_IN_EAST):
    (policy,) = parse_policies(text, "p.yaml").policies
    return policy


def test_counts_and_notes_of_one_call_come_from_one_look_at_the_caches() -> None:
    remote = _ChangingUnderfoot(_service_of_slice, project=_slice_readiness)
    remote.put(_slice(NS, "web-svc", ready=1))
    caches, _ = _caches(remote)
    policy = _policy()
    seen = set()
    for _ in range(6):  # east flips after every read: each call sees one state, alternately 1 and 0
        counts = caches.counts(policy)
        ready = counts.ready["web-svc-east"]
        assert counts.notes == (f"web-svc-east: {ready} ready in east, no local endpoints",), counts
        assert counts.ready["web-svc"] == 0 and counts.ready["web-svc-central"] == 2
        seen.add(ready)
    assert seen == {0, 1}


def test_a_cluster_failsync_does_not_read_counts_zero_and_says_why() -> None:
    caches, _ = _caches(clusters=("central",))
    counts = caches.counts(_policy())
    assert counts.ready == {"web-svc": 0, "web-svc-east": 0, "web-svc-central": 2}
    assert counts.notes == ("backend web-svc-east: health.cluster 'east' is not a cluster failsync reads; "
                            "known clusters: central",)


def test_local_caches_give_the_same_counts_through_the_same_call_with_no_notes() -> None:
    local = _local(Caches(None, **SETTINGS), Store(_service_of_slice, project=_slice_readiness))  # type: ignore[arg-type]
    policy = _policy(MINIMAL_POLICY.format(name="web-svc-failover"))
    assert local.counts(policy) == PolicyCounts({"web-svc": 0, "web-svc-east": 0}, None, ())


def test_a_mirror_with_unready_local_endpoints_is_down_beside_a_local_backend() -> None:
    caches, remote = _caches()
    remote.put(_slice(NS, "web-svc", ready=3))
    caches.store(ENDPOINT_SLICES).put(_slice(NS, "web-svc-east", ready=0, not_ready=1))
    caches.mirrors_watcher.store.put({"metadata": {  # type: ignore[union-attr]
        "name": "web-svc-east", "namespace": NS, "resourceVersion": "1",
        "labels": {"mirror.linkerd.io/mirrored-service": "true", "mirror.linkerd.io/cluster-name": "east"},
        "annotations": {"mirror.linkerd.io/remote-svc-fq-name": f"web-svc.{NS}.svc.cluster.local"}}})
    counts = caches.counts(_policy(MINIMAL_POLICY.format(name="web-svc-failover")))
    assert counts.ready == {"web-svc": 0, "web-svc-east": 0}
    assert counts.notes == ("web-svc-east: 3 ready in east, gateway down (0 of 1 local endpoints ready)",)
