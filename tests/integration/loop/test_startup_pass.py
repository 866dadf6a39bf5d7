"""The start-up pass of ``failsync run``: what it asks the API server for, in which order.

Covers:
- the Services are listed only once every policy queued at start-up has had its write (no
  reconcile reads them), the TrafficSplits before the first write;
- after the start-up pass the TrafficSplit watch (opened only then) sees a hand edit, which is put back;
- Python's cyclic collector runs again once the start-up pass is over;
- ``failsync_watches_unsynced`` stays above 0 until the deferred Services LIST is in, and rises
  again while the watches must re-list after a lost connection.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

from tests.helpers import wait_for
from tests.integration.loop.conftest import app, running, traffic_split, weights, write_policy

PRIMARY = {"web-svc": 1, "web-svc-east": 0}


def test_services_are_listed_after_the_start_up_writes_and_later_edits_are_seen(sandbox, namespace,
                                                                                 tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    for number in range(3):
        write_policy(tmp_path / f"p{number}.yaml", namespace, name=f"split-{number}")
    start = len(west.requests)
    with running(sandbox.kubeconfig, [tmp_path]):
        wait_for(lambda: all(weights(west, namespace, f"split-{n}") == PRIMARY for n in range(3)), timeout=10)
        wait_for(lambda: any(r.verb == "list" and r.path.endswith("/services") for r in west.requests[start:]),
                 timeout=10, message="the Services LIST")
        edited = traffic_split(west, namespace, "split-0")
        edited["spec"]["backends"] = [{"service": "web-svc", "weight": 0}, {"service": "web-svc-east", "weight": 1}]
        west.apply(edited)  # behind failsync's back: seen through the TrafficSplit watch, put back
        wait_for(lambda: weights(west, namespace, "split-0") == PRIMARY, timeout=10, message="the edit put back")
        assert gc.isenabled()
    requests = list(west.requests)[start:]
    creates = [r for r in requests if r.method == "POST" and "/trafficsplits" in r.path]
    services = [r for r in requests if r.verb == "list" and r.path.endswith("/services")]
    split_lists = [r for r in requests if r.verb == "list" and "/trafficsplits" in r.path]
    assert len(creates) == 3 and services and split_lists
    assert min(r.started for r in split_lists) < min(r.started for r in creates)
    assert min(r.started for r in services) >= max(r.finished for r in creates)


def _services_lists(cluster, start: int) -> list:  # type: ignore[no-untyped-def]
    return [r for r in list(cluster.requests)[start:] if r.verb == "list" and r.path.endswith("/services")]


def _unsynced(loop) -> float:  # type: ignore[no-untyped-def]
    return loop.metrics.watches_unsynced.value()


def test_the_unsynced_watches_gauge_counts_lists_still_to_come(sandbox, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    write_policy(tmp_path / "p.yaml", namespace, name="split-0")
    start = len(west.requests)
    with running(sandbox.kubeconfig, [tmp_path]) as loop:
        wait_for(lambda: _unsynced(loop) == 0, timeout=10, message="every cache in step")
        in_step = time.time()
        # The sandbox logs a request once its response is sent: the record may trail the gauge.
        wait_for(lambda: _services_lists(west, start), timeout=10, message="the Services LIST logged")
        assert min(r.started for r in _services_lists(west, start)) < in_step, \
            "in step only once the deferred Services LIST is in"
        west.faults.outage(0.5)  # every watch loses its connection: each must list again
        wait_for(lambda: _unsynced(loop) > 0, timeout=10, message="the re-lists counted")
        wait_for(lambda: _unsynced(loop) == 0, timeout=20, message="in step again once re-listed")
