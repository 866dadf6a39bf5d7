"""`failsync run` reacts to endpoint changes by itself, as the Linkerd failover guide shows.

Covers:
- `kubectl scale deploy/web --replicas=0` moves the weight to web-svc-east (the measured reaction
  time is logged); scaling back moves it home;
- `holdSeconds` holds the failback (the first write after the primary recovers only records when
  it became healthy, traffic stays on the fallback) and then releases it;
- after a failover and a failback: one FailedOver and one FailedBack Event on the TrafficSplit
  (naming the backends, source failsync), never repeated, and the promised metrics on /metrics.
"""

from __future__ import annotations

from pathlib import Path

from failsync.sync import HEALTHY_SINCE_ANNOTATION, LAST_CHANGE_ANNOTATION, parse_time
from tests.helpers import wait_for
from tests.integration.loop.conftest import app, fetch, log, running, traffic_split, weights, write_policy

PRIMARY = {"web-svc": 1, "web-svc-east": 0}
FAILED_OVER = {"web-svc": 0, "web-svc-east": 1}


def _reaction_ms(west, namespace: str) -> float:
    """Server clock: from the scale request's arrival to the TrafficSplit patch landing."""
    def landed() -> tuple | None:
        # The sandbox logs a request once its answer is sent, after the store changed: the patch
        # (and even the scale itself) may be seen in the store before they are in the log.
        records = list(west.requests)
        scaled = [r for r in records if r.path.endswith(f"/namespaces/{namespace}/deployments/web/scale")
                  and r.method == "PATCH"]
        patched = [r for r in records if scaled and r.method == "PATCH" and "/trafficsplits/" in r.path
                   and r.finished >= scaled[-1].started]
        return (scaled[-1], patched[0]) if patched else None

    scaled, patched = wait_for(landed, timeout=5, message="the scale and the TrafficSplit patch in the request log")
    return (patched.finished - scaled.started) * 1000


def test_scaling_the_primary_to_zero_fails_over_and_back(sandbox, kubectl, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "policy.yaml", namespace)
    with running(sandbox.kubeconfig, [policy]):
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10, message="the TrafficSplit created")
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=0").returncode == 0
        wait_for(lambda: weights(west, namespace) == FAILED_OVER, timeout=10, interval=0.005,
                 message="failover to web-svc-east")
        log.warning("failover reaction time: %.1f ms from the scale landing to the TrafficSplit patch",
                    _reaction_ms(west, namespace))
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=1").returncode == 0
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10, interval=0.005,
                 message="failback to web-svc")
        log.warning("failback reaction time: %.1f ms", _reaction_ms(west, namespace))


def test_hold_seconds_holds_the_failback_then_releases_it(sandbox, kubectl, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "policy.yaml", namespace, hold=2)
    with running(sandbox.kubeconfig, [policy]):
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10)
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=0").returncode == 0
        wait_for(lambda: weights(west, namespace) == FAILED_OVER, timeout=10)
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=1").returncode == 0

        def held() -> dict | None:
            obj = traffic_split(west, namespace)
            annotations = obj["metadata"].get("annotations") or {}
            return obj if annotations.get(HEALTHY_SINCE_ANNOTATION) else None

        # The write that records the primary's recovery carries the fallback's weights: the hold in force.
        obj = wait_for(held, timeout=10, message="the primary-healthy-since annotation")
        assert {b["service"]: b["weight"] for b in obj["spec"]["backends"]} == FAILED_OVER
        since = parse_time(obj["metadata"]["annotations"][HEALTHY_SINCE_ANNOTATION])
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=15, message="the held failback")
        changed = parse_time(traffic_split(west, namespace)["metadata"]["annotations"][LAST_CHANGE_ANNOTATION])
        assert changed >= since + 2 - 1  # whole-second timestamps


def _events(kubectl, namespace: str) -> list[dict]:
    import json
    result = kubectl("-n", namespace, "get", "events", "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["items"]


def test_failover_and_failback_leave_events_and_metrics(sandbox, kubectl, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "policy.yaml", namespace)
    with running(sandbox.kubeconfig, [policy]) as loop:
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10)
        kubectl("-n", namespace, "scale", "deploy/web", "--replicas=0")
        wait_for(lambda: weights(west, namespace) == FAILED_OVER, timeout=10)
        west.faults.drop_watches()  # a watch restart, so the restart counter has a sample
        kubectl("-n", namespace, "scale", "deploy/web", "--replicas=1")
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10)

        def reasons() -> list[str]:
            return sorted(e["reason"] for e in _events(kubectl, namespace))

        wait_for(lambda: reasons() == ["FailedBack", "FailedOver"], timeout=10, message="two events")
        for event in _events(kubectl, namespace):
            assert event["involvedObject"]["kind"] == "TrafficSplit"
            assert event["involvedObject"]["name"] == "web-svc-failover"
            assert event["type"] == "Normal" and event["source"]["component"] == "failsync"
            assert "web-svc" in event["message"] and "web-svc-east" in event["message"]

        wait_for(lambda: 'failsync_watch_restarts_total{resource="endpointslices.discovery.k8s.io"'
                 in loop.metrics.expose(), timeout=10, message="a watch restart counted")
        status, text = fetch(f"http://127.0.0.1:{loop.probes.port}/metrics")
        assert status == 200
        labels = f'namespace="{namespace}",name="web-svc-failover"'
        for sample in (f"failsync_failovers_total{{{labels}}} 1",
                       f"failsync_failbacks_total{{{labels}}} 1",
                       f'failsync_backend_ready_endpoints{{{labels},backend="web-svc"}} 1',
                       f'failsync_backend_ready_endpoints{{{labels},backend="web-svc-east"}} 1',
                       f"failsync_active_backends{{{labels}}} 1",
                       'failsync_api_requests_total{verb="patch",code="200"}',
                       'failsync_reconciles_total{result="patched"}',
                       "failsync_decision_to_write_seconds_count",
                       'failsync_decision_to_write_seconds_bucket{le="+Inf"}',
                       'failsync_watch_restarts_total{resource="endpointslices.discovery.k8s.io",reason='):
            assert sample in text, sample
        assert fetch(f"http://127.0.0.1:{loop.probes.port}/readyz") == (200, "ok: leader\n")
        assert fetch(f"http://127.0.0.1:{loop.probes.port}/healthz")[0] == 200
    # The same transitions were not announced twice.
    assert reasons() == ["FailedBack", "FailedOver"]
