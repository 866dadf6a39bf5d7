"""Health from Endpoints or EndpointSlices, on clusters serving both, only Endpoints, or only EndpointSlices.

Covers: `health.source: auto` LISTs EndpointSlices when the cluster serves them and Endpoints when it
does not (discovery read once per run); `endpoints` and `endpointslices` LIST only their kind;
`endpointslices` on a cluster without them fails that policy with a clear message while the others
sync; on a cluster serving only EndpointSlices (Endpoints URLs answer 404) `auto` never asks for
Endpoints. In every case the failover decision follows the ready endpoints.
"""
from __future__ import annotations

import pytest

from tests.helpers import wait_for
from tests.integration.sync.conftest import ready_count
from tests.integration.sync.support import FilteringProxy, failsync, policy_document, weights

SPLIT = "split.smi-spec.io/v1alpha2"


def listed(cluster) -> set[str]:
    return {record.path.rsplit("/", 1)[1] for record in cluster.requests if record.verb == "list"}


@pytest.fixture(scope="module")
def primary_down(guide, kubectl):
    code, _, err = kubectl("--context", "west", "-n", "emojivoto", "scale", "deploy/web", "--replicas=0")
    assert code == 0, err
    wait_for(lambda: ready_count(guide["west"], "emojivoto", "web-svc") == 0, message="web-svc emptied")
    return guide


@pytest.mark.parametrize("source, kinds", [
    ("auto", {"trafficsplits", "endpointslices"}),
    ("endpointslices", {"trafficsplits", "endpointslices"}),
    ("endpoints", {"trafficsplits", "endpoints"}),
])
def test_each_source_lists_only_its_kind_and_fails_over(primary_down, tmp_path, source, kinds) -> None:
    west = primary_down["west"]
    policy = tmp_path / "p.yaml"
    policy.write_text(policy_document("emojivoto", f"source-{source}", source=source))
    west.requests.clear()
    result = failsync(primary_down.kubeconfig, "sync", str(policy))
    assert result.exit_code == 0, result.output
    assert listed(west) == kinds
    assert weights(west, name=f"source-{source}") == {"web-svc": 0, "web-svc-east": 1}


def test_cluster_serving_only_endpoints(primary_down, tmp_path) -> None:
    west = primary_down["west"]
    policies = tmp_path / "p.yaml"
    policies.write_text(policy_document("emojivoto", "only-endpoints-auto") + "---\n"
                        + policy_document("emojivoto", "only-endpoints-slices", source="endpointslices"))
    with FilteringProxy(west.url, hide_groups=["discovery.k8s.io"]) as proxy:
        west.requests.clear()
        result = failsync(proxy.kubeconfig(tmp_path), "sync", str(policies))
    assert result.exit_code == 2
    assert listed(west) == {"trafficsplits", "endpoints"}
    assert weights(west, name="only-endpoints-auto") == {"web-svc": 0, "web-svc-east": 1}
    assert "emojivoto/only-endpoints-slices: health.source is endpointslices but" in result.stderr
    assert "does not serve discovery.k8s.io/v1 EndpointSlices" in result.stderr
    assert weights(west, name="only-endpoints-slices") is None


def test_cluster_serving_only_endpointslices(primary_down, tmp_path) -> None:
    west = primary_down["west"]
    policies = tmp_path / "p.yaml"
    policies.write_text(policy_document("emojivoto", "only-slices-auto"))
    with FilteringProxy(west.url, hide_resources=["endpoints"]) as proxy:
        west.requests.clear()
        result = failsync(proxy.kubeconfig(tmp_path), "sync", str(policies))
    assert result.exit_code == 0, result.output
    assert "endpoints" not in listed(west)
    assert weights(west, name="only-slices-auto") == {"web-svc": 0, "web-svc-east": 1}
