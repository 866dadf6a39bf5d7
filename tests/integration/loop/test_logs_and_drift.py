"""What the loop says, and how it counts: drift is not a failback, and no line repeats at every resync.

Covers:
- a hand edit of the weights while the primary is healthy is put back, logged and counted as drift
  (``failsync_drift_reverted_total``), with no FailedBack Event and no failback counted; a real
  failover and failback afterwards are counted as such;
- an object of the same name that failsync does not own is warned about once, not at every resync,
  and counted in ``failsync_failing_policies``;
- the objects the start-up pass creates are told in one INFO line (how many, which), each at DEBUG;
  an object created after start-up gets its own INFO line.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tests.helpers import wait_for
from tests.integration.loop.conftest import TS_VERSION, app, running, traffic_split, weights, write_policy

PRIMARY = {"web-svc": 1, "web-svc-east": 0}
FAILED_OVER = {"web-svc": 0, "web-svc-east": 1}


def _events(cluster, namespace: str) -> list[str]:
    return [e.get("reason") for e in cluster.list("v1", "Event", namespace)]


def test_a_reverted_hand_edit_is_drift_not_a_failback(sandbox, kubectl, namespace, tmp_path: Path, caplog) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    with caplog.at_level(logging.INFO, logger="failsync"), running(sandbox.kubeconfig, [policy]) as loop:
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10)
        edited = traffic_split(west, namespace)
        edited["spec"]["backends"] = [{"service": "web-svc", "weight": 0}, {"service": "web-svc-east", "weight": 1}]
        west.apply(edited)  # a hand edit behind failsync's back, the primary still healthy
        wait_for(lambda: loop.metrics.drift_reverted.value(namespace=namespace, name="web-svc-failover") == 1,
                 timeout=10, message="the drift to be put back and counted")
        assert weights(west, namespace) == PRIMARY
        assert loop.metrics.failbacks.value(namespace=namespace, name="web-svc-failover") == 0
        assert loop.metrics.failovers.value(namespace=namespace, name="web-svc-failover") == 0
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=0").returncode == 0
        wait_for(lambda: weights(west, namespace) == FAILED_OVER, timeout=10)
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=1").returncode == 0
        wait_for(lambda: loop.metrics.failbacks.value(namespace=namespace, name="web-svc-failover") == 1, timeout=10)
        assert loop.metrics.failovers.value(namespace=namespace, name="web-svc-failover") == 1
        wait_for(lambda: loop.metrics.events.value(reason="FailedBack") == 1, timeout=10)
    assert sorted(_events(west, namespace)) == ["FailedBack", "FailedOver"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("put back weights changed behind failsync's back (web-svc 0->1, web-svc-east 1->0)" in m
               for m in messages)
    assert sum("failed back in" in m for m in messages) == 1
    assert any(m.startswith("start-up created 1 TrafficSplit in ") and
               m.endswith(f"s: {namespace}/web-svc-failover (-vv logs each)") for m in messages)


def test_start_up_creates_are_summed_up_and_later_ones_logged_each(sandbox, namespace, tmp_path: Path,
                                                                    caplog) -> None:
    west = sandbox["west"]
    app(west, namespace)
    write_policy(tmp_path / "a.yaml", namespace)
    with caplog.at_level(logging.DEBUG, logger="failsync"), running(sandbox.kubeconfig, [tmp_path]):
        wait_for(lambda: any("start-up created" in r.getMessage() for r in caplog.records), timeout=10,
                 message="the start-up pass's summary line")
        write_policy(tmp_path / "b.yaml", namespace, name="second")
        wait_for(lambda: any("second: created its TrafficSplit" in r.getMessage() for r in caplog.records),
                 timeout=10, message="the line of an object created after start-up")
    created = [(r.levelno, r.getMessage()) for r in caplog.records if "created" in r.getMessage()]
    assert [(level, message.split(" in ")[0]) for level, message in created if "start-up" in message] == [
        (logging.INFO, "start-up created 1 TrafficSplit")]
    assert (logging.DEBUG, f"{namespace}/web-svc-failover: created its TrafficSplit (web-svc=1, web-svc-east=0)") \
        in created
    assert (logging.INFO, f"{namespace}/second: created its TrafficSplit (web-svc=1, web-svc-east=0)") in created
    assert weights(west, namespace, "second") == PRIMARY


def test_an_unowned_object_is_warned_about_once_not_at_every_resync(sandbox, namespace, tmp_path: Path,
                                                                    caplog) -> None:
    west = sandbox["west"]
    app(west, namespace)
    west.apply({"apiVersion": TS_VERSION, "kind": "TrafficSplit",
                "metadata": {"name": "web-svc-failover", "namespace": namespace},
                "spec": {"service": "web-svc", "backends": [{"service": "web-svc", "weight": 1}]}})
    policy = write_policy(tmp_path / "p.yaml", namespace)
    with caplog.at_level(logging.INFO, logger="failsync"), running(sandbox.kubeconfig, [policy], resync=0.1) as loop:
        wait_for(lambda: loop.metrics.reconciles.value(result="failed") >= 5, timeout=15,
                 message="several resyncs of the policy")
        assert loop.metrics.failing_policies.value() == 1
    warned = [r for r in caplog.records if "is not managed by failsync" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
