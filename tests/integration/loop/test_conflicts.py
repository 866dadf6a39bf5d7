"""A Conflict on the loop's guarded write: one re-read on the worker, then a requeue with backoff.

Covers, through ``failsync run`` in-process and the sandbox's request log:
- a cache behind the server (the TrafficSplit's watch events held back while someone edits the
  object): the failover's first PATCH is rejected (422, resourceVersion test), the worker GETs
  the object once, decides again and patches in the same reconcile: written, no requeue, the
  other writer's edit kept;
- a server answering 409 to every patch of an object that has not changed: each attempt is one
  PATCH and one GET, the key is requeued with growing backoff (never failed for good) and
  written once the server accepts the patch;
- a 422 from the guarded patch of an object that has not changed (the patch itself does not
  apply) fails for good: reported once, counted in ``failsync_failing_policies``, not requeued,
  and tried again at the next change;
- a replica that stops leading while it re-reads writes nothing after the re-read.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from failsync.kube import KubeClient
from tests.helpers import wait_for
from tests.integration.loop.conftest import (app, running, scale, set_ready, traffic_split, weights,
                                             write_policy)

PRIMARY = {"web-svc": 1, "web-svc-east": 0}
FAILED_OVER = {"web-svc": 0, "web-svc-east": 1}
SPLITS = "trafficsplits.split.smi-spec.io"


def _requests_of(cluster: Any, name: str = "web-svc-failover") -> list[tuple[str, int]]:
    """(method, status) of each request on one TrafficSplit, oldest first."""
    return [(r.method, r.status) for r in list(cluster.requests)
            if "/trafficsplits/" in r.path and r.path.endswith(f"/{name}")]


def _edit_behind_the_loops_back(cluster: Any, namespace: str, team: str = "web") -> dict:
    """Label the TrafficSplit, as another writer would; returns the stored object."""
    obj = traffic_split(cluster, namespace)
    assert obj is not None
    obj["metadata"].setdefault("labels", {})["team"] = team
    return cluster.apply(obj)


def _cached_version(loop: Any, namespace: str) -> str | None:
    key = f"{namespace}/web-svc-failover"
    return loop.caches.target_store(loop.policies[key]).version(key)


def _in_step(loop: Any) -> None:
    """Wait until every cache is in step: the deferred Services LIST queues every policy once more,
    which would count as one more attempt of the write under test."""
    wait_for(lambda: loop.metrics.watches_unsynced.value() == 0, timeout=10, message="every cache in step")


def _watching(loop: Any, cluster: Any, namespace: str) -> None:
    """Wait until the loop's TrafficSplit watch is open and current (it opens once the start-up pass
    is over, from its LIST's resourceVersion): an edit made now reaches the loop's cache."""
    edited = _edit_behind_the_loops_back(cluster, namespace, team="warm-up")
    wait_for(lambda: _cached_version(loop, namespace) == edited["metadata"]["resourceVersion"], timeout=10,
             message="the loop's TrafficSplit watch to see an edit")


def test_a_stale_cache_costs_one_get_and_the_failover_lands_in_the_same_reconcile(
        sandbox, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    with running(sandbox.kubeconfig, [policy], workers=1) as loop:
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10)
        _watching(loop, west, namespace)
        west.faults.hold_watch_events(SPLITS)
        try:
            edited = _edit_behind_the_loops_back(west, namespace)
            assert _cached_version(loop, namespace) != edited["metadata"]["resourceVersion"]
            patched = loop.metrics.reconciles.value(result="patched")
            failed = loop.metrics.reconciles.value(result="failed")
            west.requests.clear()
            scale(west, namespace, 0)
            wait_for(lambda: loop.metrics.reconciles.value(result="patched") == patched + 1, timeout=10,
                     message="the failover to be written")
            assert weights(west, namespace) == FAILED_OVER
            assert _requests_of(west) == [("PATCH", 422), ("GET", 200), ("PATCH", 200)]
            assert loop.metrics.reconciles.value(result="failed") == failed  # never requeued
            assert loop.metrics.failovers.value(namespace=namespace, name="web-svc-failover") == 1
            assert traffic_split(west, namespace)["metadata"]["labels"]["team"] == "web"
        finally:
            west.faults.reset()
        # The held events arrive (the edit, older than what the write put in the cache, then the write's
        # echo): whatever the loop makes of them, it writes nothing more. A later edit marks their end.
        west.requests.clear()
        marker = _edit_behind_the_loops_back(west, namespace, team="payments")
        wait_for(lambda: _cached_version(loop, namespace) == marker["metadata"]["resourceVersion"], timeout=10,
                 message="the loop's cache to catch up")
        wait_for(lambda: loop.queue.in_flight == 0 and len(loop.queue) == 0, timeout=10)
        assert ("PATCH", 200) not in _requests_of(west)
        assert weights(west, namespace) == FAILED_OVER


def test_a_409_on_an_unchanged_object_is_reread_once_per_attempt_and_requeued_with_backoff(
        sandbox, namespace, tmp_path: Path, caplog) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    key = f"{namespace}/web-svc-failover"
    with caplog.at_level(logging.INFO, logger="failsync"), running(sandbox.kubeconfig, [policy], workers=1) as loop:
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10)
        _in_step(loop)
        failed = loop.metrics.reconciles.value(result="failed")
        west.faults.error_rate("patch", 1.0, status=409)
        try:
            west.requests.clear()
            scale(west, namespace, 0)
            wait_for(lambda: _requests_of(west).count(("PATCH", 409)) >= 4, timeout=15,
                     message="the conflicting write to be tried again, later")
        finally:
            west.faults.reset()
        wait_for(lambda: weights(west, namespace) == FAILED_OVER, timeout=15, message="the requeued write")
        wait_for(lambda: loop.metrics.reconciles.value(result="patched") >= 1, timeout=10)
        seen = _requests_of(west)
        attempts = seen.count(("PATCH", 409))
        # Each attempt: the rejected PATCH, then one GET that finds the object unchanged (no second PATCH).
        assert seen == [("PATCH", 409), ("GET", 200)] * attempts + [("PATCH", 200)]
        assert loop.metrics.reconciles.value(result="failed") - failed == attempts
        assert loop.metrics.failing_policies.value() == 0  # never failed for good
    delays = [float(found) for record in caplog.records if record.getMessage().startswith(f"{key}: conflict")
              for found in re.findall(r"deciding again in ([0-9.]+)s$", record.getMessage())]
    assert len(delays) == attempts
    assert delays == sorted(delays) and delays[-1] > delays[0]  # the backoff grows
    assert all("had not changed since it was read" in record.getMessage() for record in caplog.records
               if record.getMessage().startswith(f"{key}: conflict"))


def test_a_422_on_an_unchanged_object_fails_for_good_until_the_next_change(
        sandbox, namespace, tmp_path: Path, caplog) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    key = f"{namespace}/web-svc-failover"
    with caplog.at_level(logging.INFO, logger="failsync"), running(sandbox.kubeconfig, [policy], workers=1) as loop:
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10)
        _in_step(loop)
        west.faults.error_rate("patch", 1.0, status=422)
        try:
            west.requests.clear()
            scale(west, namespace, 0)
            wait_for(lambda: loop.metrics.failing_policies.value() == 1, timeout=10, message="the failure")
            assert _requests_of(west) == [("PATCH", 422), ("GET", 200)]
        finally:
            west.faults.reset()
        set_ready(west, namespace, "web-svc-east", 2)  # the next change tries again
        wait_for(lambda: weights(west, namespace) == FAILED_OVER, timeout=10, message="the write after the change")
        wait_for(lambda: loop.metrics.failing_policies.value() == 0, timeout=10)
    reports = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"{key}: the server rejected")]
    assert len(reports) == 1 and "had not changed since it was read" in reports[0]
    assert "tried again at the next resync or change" in reports[0]


class _StepsDownWhileRereading(KubeClient):
    """A client whose re-read of a TrafficSplit waits until another replica has taken the Lease
    and this one has stepped down (as if the re-read had been that slow)."""

    take_lease: Any = None

    def get(self, resource, namespace, name):
        if resource.plural == "trafficsplits" and self.take_lease is not None:
            self.take_lease()
        return super().get(resource, namespace, name)


def test_a_replica_that_stops_leading_while_it_rereads_writes_nothing_more(
        sandbox, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    client = _StepsDownWhileRereading.from_kubeconfig(sandbox.kubeconfig, "west")
    lease = dict(leader_elect=True, lease_name="reread", lease_namespace=namespace, lease_duration=30.0,
                 renew_deadline=20.0, retry_period=0.1, identity="replica-a")
    with running(sandbox.kubeconfig, [policy], client=client, workers=1, **lease) as loop:
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10)
        _watching(loop, west, namespace)

        def take_lease() -> None:
            taken = west.get("coordination.k8s.io/v1", "Lease", namespace, "reread")
            taken["spec"] = dict(taken["spec"], holderIdentity="replica-b", leaseDurationSeconds=30)
            west.apply(taken)
            wait_for(lambda: not loop.is_leader, timeout=10, message="replica-a to step down")

        west.faults.hold_watch_events(SPLITS)
        try:
            _edit_behind_the_loops_back(west, namespace)
            failed = loop.metrics.reconciles.value(result="failed")
            client.take_lease = take_lease
            west.requests.clear()
            scale(west, namespace, 0)
            wait_for(lambda: loop.metrics.reconciles.value(result="failed") == failed + 1, timeout=10,
                     message="the reconcile to end")
            assert _requests_of(west) == [("PATCH", 422), ("GET", 200)]
            assert weights(west, namespace) == PRIMARY
        finally:
            client.take_lease = None
            west.faults.reset()
