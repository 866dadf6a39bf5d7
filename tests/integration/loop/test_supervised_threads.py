"""Every long-lived thread of the loop runs under its supervisor (none can die silently).

Covers: with leader election and a failover that sends Events, the policy-files/resync thread,
the reconcile workers, the watchers, the leader election and the Event senders were all started
by the loop's ``Supervisor``; no thread of those families runs outside it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tests.helpers import wait_for
from tests.integration.loop.conftest import app, running, weights, write_policy

FAILED_OVER = {"web-svc": 0, "web-svc-east": 1}
FAMILIES = ("policy-files", "reconcile-", "watch-", "leader-election", "events-")


def _family(name: str) -> str | None:
    return next((family for family in FAMILIES if name.startswith(family)), None)


def test_every_long_lived_thread_is_supervised(sandbox, kubectl, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    with running(sandbox.kubeconfig, [policy], leader_elect=True, lease_namespace=namespace,
                 lease_duration=3.0, renew_deadline=2.0, retry_period=0.2) as loop:
        wait_for(lambda: loop.is_leader, timeout=10, message="the lease")
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=0").returncode == 0
        wait_for(lambda: weights(west, namespace) == FAILED_OVER, timeout=10)
        wait_for(lambda: loop.metrics.events.value(reason="FailedOver") == 1, timeout=10)
        # Running threads first: the supervisor lists a thread before starting it, so one it spawns
        # meanwhile (the Services watch, after the start-up pass) is in the list read second.
        running_threads = threading.enumerate()
        supervised = set(loop.supervisor.threads)
        assert {_family(thread.name) for thread in supervised} >= set(FAMILIES)
        loose = [thread.name for thread in running_threads
                 if _family(thread.name) and thread not in supervised]
        assert loose == []
