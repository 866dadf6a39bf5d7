"""The periodic resync: cheap when nothing changed, still a repair when something did.

Covers:
- resyncs of a converged policy count as unchanged reconciles without deciding, rendering or
  diffing again (its inputs did not change);
- a TrafficSplit edited behind failsync's back (a new resourceVersion) is put back to the
  decided weights, also after such resyncs;
- a changed ready count is never skipped: the primary going down still fails over.
"""

from __future__ import annotations

import copy
from pathlib import Path

from tests.helpers import wait_for
from tests.integration.loop.conftest import app, running, traffic_split, weights, write_policy

PRIMARY = {"web-svc": 1, "web-svc-east": 0}
FAILED_OVER = {"web-svc": 0, "web-svc-east": 1}


def test_unchanged_resyncs_are_skipped_and_drift_is_still_repaired(sandbox, kubectl, namespace,
                                                                   tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "policy.yaml", namespace)
    with running(sandbox.kubeconfig, [policy], resync=0.2) as loop:
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10, message="the TrafficSplit created")
        planned: list[str] = []
        reconcile = loop.engine.reconcile

        def counting(policy, *args, **kwargs):
            planned.append(policy.key)
            return reconcile(policy, *args, **kwargs)

        loop.engine.reconcile = counting  # type: ignore[method-assign]
        unchanged = loop.metrics.reconciles.value(result="unchanged")
        wait_for(lambda: loop.metrics.reconciles.value(result="unchanged") >= unchanged + 3, timeout=10,
                 message="three resyncs")
        assert planned == [], "a resync with unchanged inputs must not decide, render and diff again"

        drifted = copy.deepcopy(traffic_split(west, namespace))
        for backend in drifted["spec"]["backends"]:
            backend["weight"] = FAILED_OVER[backend["service"]]
        west.apply(drifted)
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10, message="the drift repaired")
        assert planned, "the drifted object was reconciled"

        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=0").returncode == 0
        wait_for(lambda: weights(west, namespace) == FAILED_OVER, timeout=10, message="failover")
