"""`failsync run` with an HTTPRoute target, from policy files, as the guide's failover.

Covers: the loop creates the GAMMA HTTPRoute, `kubectl scale deploy/web --replicas=0` moves its
weight to web-svc-east and scaling back moves it home; a FailedOver Event is recorded on the
HTTPRoute; converged, a resync writes nothing to routes. `run --adopt-routes` (no policy files)
fails a hand-written multi-rule route over and back in every rule naming only the policy's
backends, leaves a rule naming another service alone, and after the round trip the route is
exactly as written.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.helpers import wait_for
from tests.integration.loop.conftest import app, running

ROUTE_VERSION = "gateway.networking.k8s.io/v1"
HAND_WRITTEN = Path(__file__).resolve().parents[2] / "fixtures" / "hand-written-httproute.yaml"
PRIMARY = {"web-svc": 1, "web-svc-east": 0}
FAILED_OVER = {"web-svc": 0, "web-svc-east": 1}


def route_policy(namespace: str) -> str:
    return "\n".join([
        "apiVersion: failsync.io/v1alpha1", "kind: FailoverPolicy",
        "metadata:", "  name: web-route", f"  namespace: {namespace}",
        "spec:", "  service: web-svc", "  fallbacks:", "    - service: web-svc-east",
        "  target:", "    kind: HTTPRoute", "    port: 80", ""])


def route_weights(cluster, namespace: str) -> dict[str, int] | None:
    route = cluster.get(ROUTE_VERSION, "HTTPRoute", namespace, "web-route")
    return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]} if route else None


def route_writes(cluster) -> list:
    return [r for r in list(cluster.requests) if r.method in ("POST", "PUT", "PATCH", "DELETE")
            and "/httproutes" in r.path]


def test_loop_fails_an_httproute_over_and_back(sandbox, kubectl, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = tmp_path / "route.yaml"
    policy.write_text(route_policy(namespace))
    with running(sandbox.kubeconfig, [policy], resync=0.3) as controller:
        wait_for(lambda: route_weights(west, namespace) == PRIMARY, timeout=10, message="the HTTPRoute created")
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=0").returncode == 0
        wait_for(lambda: route_weights(west, namespace) == FAILED_OVER, timeout=10, interval=0.005,
                 message="failover to web-svc-east")
        events = wait_for(lambda: [e for e in west.list("v1", "Event", namespace)
                                   if e["involvedObject"].get("kind") == "HTTPRoute" and e["reason"] == "FailedOver"],
                          message="a FailedOver Event on the HTTPRoute")
        assert events[0]["involvedObject"]["name"] == "web-route"
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=1").returncode == 0
        wait_for(lambda: route_weights(west, namespace) == PRIMARY, timeout=10, interval=0.005,
                 message="failback to web-svc")

        # Converged: the mesh's status write and several resyncs later, nothing more is written.
        wait_for(lambda: controller.metrics.reconciles.value(result="unchanged") > 0, timeout=10,
                 message="a resync that found the route settled")
        before = len(route_writes(west))
        resyncs = controller.metrics.reconciles.value(result="unchanged")
        wait_for(lambda: controller.metrics.reconciles.value(result="unchanged") > resyncs + 2, timeout=10,
                 message="more resyncs")
        assert len(route_writes(west)) == before


def test_run_adopt_routes_fails_a_hand_written_route_over_changing_only_weights(sandbox, kubectl, namespace,
                                                                                 tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    route = yaml.safe_load(HAND_WRITTEN.read_text())
    route["metadata"]["namespace"] = namespace
    route["spec"]["rules"][1]["backendRefs"][0]["name"] = "web-svc"  # a service this namespace has
    route["spec"]["rules"][1]["backendRefs"].append({"group": "", "kind": "Service", "name": "other-svc", "port": 80})
    west.apply(route)
    before = west.get(ROUTE_VERSION, "HTTPRoute", namespace, "web-route")

    def rules() -> list[dict[str, int]]:
        live = west.get(ROUTE_VERSION, "HTTPRoute", namespace, "web-route")
        return [{ref["name"]: ref["weight"] for ref in rule["backendRefs"]} for rule in live["spec"]["rules"]]

    with running(sandbox.kubeconfig, [tmp_path / "no-policies"], adopt_routes=True):
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=0").returncode == 0
        wait_for(lambda: rules()[0] == FAILED_OVER and rules()[2] == FAILED_OVER, timeout=10, interval=0.005,
                 message="failover in both managed rules")
        assert rules()[1] == {"web-svc": 1, "other-svc": 1}  # names a service outside the policy: untouched
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=1").returncode == 0
        wait_for(lambda: rules()[0] == PRIMARY and rules()[2] == PRIMARY, timeout=10, interval=0.005,
                 message="failback in both managed rules")
    after = west.get(ROUTE_VERSION, "HTTPRoute", namespace, "web-route")
    for obj in (before, after):
        for key in ("resourceVersion", "generation", "managedFields"):
            obj["metadata"].pop(key, None)
        obj.pop("status", None)
    assert after == before  # failed over and back: every byte as written
