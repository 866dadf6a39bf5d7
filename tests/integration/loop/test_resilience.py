"""The loop survives an unreliable API server and converges without a restart.

Covers:
- an API outage of several seconds while the primary loses its endpoints: after recovery the
  loop reconnects (with backoff) and fails over;
- dropped watch streams: the loop re-watches from its last resourceVersion and still reacts;
- more changes than the watch history keeps, made while disconnected: after the lost connection
  the loop re-lists (so neither a 410 Gone nor a server whose state went back can leave it
  stale) and converges (410 Gone itself: tests/loop_unit/test_watcher.py);
- 5xx answers with Retry-After on watches: the loop keeps retrying and converges once they stop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from failsync.sandbox import Sandbox
from tests.helpers import wait_for
from tests.integration.loop.conftest import app, running, set_ready, weights, write_policy

PRIMARY = {"web-svc": 1, "web-svc-east": 0}
FAILED_OVER = {"web-svc": 0, "web-svc-east": 1}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # A short watch history, so that changes made while disconnected expire the resourceVersion.
    with Sandbox(clusters=("west",), history=20) as running_sandbox:
        yield running_sandbox


def _selectorless_app(west, namespace: str) -> None:
    """web-svc without a selector: the test writes its Endpoints directly, even during an outage."""
    app(west, namespace, replicas=0)
    west.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc", "namespace": namespace},
                "spec": {"ports": [{"port": 80}]}})
    set_ready(west, namespace, "web-svc", 2)


def _restarts(loop, reason: str) -> float:
    counter = loop.metrics.watch_restarts
    return sum(counter.value(resource=w.resource.qualified, reason=reason) for w in loop.caches.watchers.values())


def test_api_outage_while_endpoints_change_then_converges(sandbox, tmp_path: Path) -> None:
    west = sandbox["west"]
    _selectorless_app(west, "outage")
    with running(sandbox.kubeconfig, [write_policy(tmp_path / "p.yaml", "outage")]) as loop:
        wait_for(lambda: weights(west, "outage") == PRIMARY, timeout=10)
        west.faults.outage(3)
        set_ready(west, "outage", "web-svc", 0)  # the primary dies while the API is unreachable
        wait_for(lambda: _restarts(loop, "connection") >= 1, timeout=10, message="the loop to notice the outage")
        wait_for(lambda: weights(west, "outage") == FAILED_OVER, timeout=30, message="convergence after the outage")
        set_ready(west, "outage", "web-svc", 1)
        wait_for(lambda: weights(west, "outage") == PRIMARY, timeout=10)


def test_dropped_watches_and_changes_past_the_watch_history_converge(sandbox, tmp_path: Path) -> None:
    west = sandbox["west"]
    _selectorless_app(west, "drops")
    with running(sandbox.kubeconfig, [write_policy(tmp_path / "p.yaml", "drops")]) as loop:
        wait_for(lambda: weights(west, "drops") == PRIMARY, timeout=10)
        west.faults.drop_watches()
        set_ready(west, "drops", "web-svc", 0)
        wait_for(lambda: weights(west, "drops") == FAILED_OVER, timeout=10, message="failover after dropped watches")

        # Disconnect, then make more changes than the watch history keeps: after a lost connection the
        # loop re-lists (a resumed watch would meet 410 Gone, or a server whose state went back).
        west.faults.outage(2)
        for n in range(40):
            set_ready(west, "noise", f"svc-{n}", 1)
        set_ready(west, "drops", "web-svc", 1)
        wait_for(lambda: _restarts(loop, "connection") >= 1, timeout=30, message="the lost connection")
        wait_for(lambda: weights(west, "drops") == PRIMARY, timeout=10, message="failback after the re-list")


def test_server_errors_with_retry_after_are_retried_until_they_stop(sandbox, tmp_path: Path) -> None:
    west = sandbox["west"]
    _selectorless_app(west, "errors")
    with running(sandbox.kubeconfig, [write_policy(tmp_path / "p.yaml", "errors")]) as loop:
        wait_for(lambda: weights(west, "errors") == PRIMARY, timeout=10)
        west.faults.error_rate("watch", 1.0, status=503, retry_after=0.2)
        try:
            west.faults.drop_watches()
            wait_for(lambda: _restarts(loop, "server-error") >= 2, timeout=15, message="retried 503s")
            set_ready(west, "errors", "web-svc", 0)
        finally:
            west.faults.reset()
        wait_for(lambda: weights(west, "errors") == FAILED_OVER, timeout=15, message="convergence after the 503s")
