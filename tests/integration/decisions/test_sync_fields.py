"""`failsync sync` against the sandbox with every field of SPEC §12, over real HTTP.

Covers:
- minReadyPercent with both health sources: not-ready endpoints (notReadyAddresses, mirrored
  into EndpointSlices as ready: false) count in the total, so 4 of 10 ready fails over;
- failover.mode gradual: 6 of 10 ready writes 84/16 (integers on v1alpha2, quantities "84"/"16"
  on v1alpha1);
- spec.mode distribute: the configured weights, and a down backend's share on the best tier;
- failover.delaySeconds across one-shot runs: the first sync records
  failsync.io/primary-unhealthy-since and keeps the weights, a later one still does, and once
  the recorded time is older than the delay traffic moves; the annotation goes when the primary recovers;
- `status` shows the new states (spilling, distributed).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from failsync.core.pins import UNHEALTHY_SINCE_ANNOTATION
from tests.integration.decisions.conftest import (annotations, backends, failsync, set_endpoints, weights,
                                                  write_policy)

V1ALPHA1 = "split.smi-spec.io/v1alpha1"


@pytest.fixture
def ns(sandbox, namespace: str) -> str:
    west = sandbox["west"]
    backends(west, namespace)
    set_endpoints(west, namespace, "web-svc", 10)
    set_endpoints(west, namespace, "web-svc-east", 4)
    set_endpoints(west, namespace, "web-svc-central", 2)
    return namespace


@pytest.mark.parametrize("source", ["endpointslices", "endpoints"])
def test_min_ready_percent_counts_not_ready_endpoints(sandbox, ns: str, tmp_path: Path, source: str) -> None:
    west = sandbox["west"]
    policy = write_policy(tmp_path / "p.yaml", ns, f"  health:\n    source: {source}\n    minReadyPercent: 50\n")
    set_endpoints(west, ns, "web-svc", 5, 10)
    assert failsync(sandbox.kubeconfig, "sync", str(policy)).exit_code == 0
    assert weights(west, ns) == {"web-svc": 1, "web-svc-east": 0, "web-svc-central": 0}
    set_endpoints(west, ns, "web-svc", 4, 10)
    result = failsync(sandbox.kubeconfig, "sync", str(policy))
    assert result.exit_code == 0, result.output
    assert weights(west, ns) == {"web-svc": 0, "web-svc-east": 1, "web-svc-central": 0}


@pytest.mark.parametrize("api_version, spelled", [
    pytest.param("split.smi-spec.io/v1alpha2", (84, 16, 0), id="v1alpha2-integers"),
    pytest.param(V1ALPHA1, ("84", "16", "0"), id="v1alpha1-quantities"),
])
def test_gradual_spillover_writes_integers_out_of_100(sandbox, ns: str, tmp_path: Path, api_version: str,
                                                       spelled: tuple) -> None:
    west = sandbox["west"]
    policy = write_policy(tmp_path / "p.yaml", ns, "  failover:\n    mode: gradual\n", api_version=api_version)
    set_endpoints(west, ns, "web-svc", 6, 10)
    result = failsync(sandbox.kubeconfig, "sync", str(policy))
    assert result.exit_code == 0, result.output
    assert weights(west, ns, api_version=api_version) == dict(zip(("web-svc", "web-svc-east", "web-svc-central"),
                                                                  spelled))
    status = failsync(sandbox.kubeconfig, "status", str(policy))
    assert "spilling" in status.stdout and "web-svc=6" in status.stdout
    again = failsync(sandbox.kubeconfig, "sync", str(policy))
    assert f"{ns}/web-svc-failover: unchanged" in again.stdout


def test_distribute_writes_each_backends_weight_and_moves_a_down_share(sandbox, ns: str, tmp_path: Path) -> None:
    west = sandbox["west"]
    fallbacks = "    - service: web-svc-east\n      weight: 30\n    - service: web-svc-central\n" \
                "      priority: 2\n      weight: 10\n"
    policy = write_policy(tmp_path / "p.yaml", ns, "  mode: distribute\n  primaryWeight: 60\n", fallbacks=fallbacks)
    assert failsync(sandbox.kubeconfig, "sync", str(policy)).exit_code == 0
    assert weights(west, ns) == {"web-svc": 60, "web-svc-east": 30, "web-svc-central": 10}
    assert "distributed" in failsync(sandbox.kubeconfig, "status", str(policy)).stdout
    set_endpoints(west, ns, "web-svc", 0)
    result = failsync(sandbox.kubeconfig, "sync", str(policy))
    assert f"{ns}/web-svc-failover: patched (web-svc 60->0, web-svc-east 30->90)" in result.stdout
    assert weights(west, ns) == {"web-svc": 0, "web-svc-east": 90, "web-svc-central": 10}


def test_delay_seconds_holds_traffic_across_one_shot_runs(sandbox, ns: str, tmp_path: Path) -> None:
    west = sandbox["west"]
    policy = write_policy(tmp_path / "p.yaml", ns, "  failover:\n    delaySeconds: 3600\n")
    assert failsync(sandbox.kubeconfig, "sync", str(policy)).exit_code == 0
    assert UNHEALTHY_SINCE_ANNOTATION not in annotations(west, ns)

    set_endpoints(west, ns, "web-svc", 0)
    first = failsync(sandbox.kubeconfig, "sync", str(policy))
    assert first.exit_code == 0, first.output
    assert weights(west, ns) == {"web-svc": 1, "web-svc-east": 0, "web-svc-central": 0}
    assert UNHEALTHY_SINCE_ANNOTATION in annotations(west, ns)
    second = failsync(sandbox.kubeconfig, "sync", str(policy))
    assert f"{ns}/web-svc-failover: unchanged" in second.stdout

    aged = copy.deepcopy(west.get("split.smi-spec.io/v1alpha2", "TrafficSplit", ns, "web-svc-failover"))
    aged["metadata"]["annotations"][UNHEALTHY_SINCE_ANNOTATION] = "2000-01-01T00:00:00Z"  # the delay ran out
    west.apply(aged)
    moved = failsync(sandbox.kubeconfig, "sync", str(policy))
    assert f"{ns}/web-svc-failover: patched (web-svc 1->0, web-svc-east 0->1)" in moved.stdout

    set_endpoints(west, ns, "web-svc", 1)
    assert failsync(sandbox.kubeconfig, "sync", str(policy)).exit_code == 0
    assert weights(west, ns)["web-svc"] == 1
    assert UNHEALTHY_SINCE_ANNOTATION not in annotations(west, ns)


def test_gradual_and_pin_on_an_httproute_target(sandbox, ns: str, tmp_path: Path) -> None:
    west = sandbox["west"]
    policy = tmp_path / "p.yaml"
    policy.write_text(f"""\
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: web-svc-failover
  namespace: {ns}
spec:
  service: web-svc
  fallbacks:
    - service: web-svc-east
  failover:
    mode: gradual
  target:
    kind: HTTPRoute
    apiVersion: gateway.networking.k8s.io/v1
    port: 80
""")
    set_endpoints(west, ns, "web-svc", 6, 10)
    result = failsync(sandbox.kubeconfig, "sync", str(policy))
    assert result.exit_code == 0, result.output

    def route_weights() -> dict:
        route = west.get("gateway.networking.k8s.io/v1", "HTTPRoute", ns, "web-svc-failover")
        return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}

    assert route_weights() == {"web-svc": 84, "web-svc-east": 16}
    pinned = failsync(sandbox.kubeconfig, "pin", "web-svc-failover", "--to", "web-svc-east", "-f", str(policy))
    assert pinned.exit_code == 0, pinned.output
    assert route_weights() == {"web-svc": 0, "web-svc-east": 100}
    assert failsync(sandbox.kubeconfig, "unpin", "web-svc-failover", "-f", str(policy)).exit_code == 0
    assert route_weights() == {"web-svc": 84, "web-svc-east": 16}
