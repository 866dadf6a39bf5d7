"""Ready endpoint counts (failsync.core.health) from real-shaped Endpoints and EndpointSlices.

Covers:
- Endpoints: addresses count, notReadyAddresses never do, several subsets, the same IP in
  two subsets (different ports) counts once, missing object / no subsets = 0;
- EndpointSlices: ready nil/true/false, terminating endpoints (ready false) excluded,
  several slices summed, an endpoint repeated across slices counted once, dual-stack
  (IPv4 + IPv6 slices for the same pods) not double counted, no slices = 0;
- ready_by_service: keyed by (namespace, service), slices grouped by
  kubernetes.io/service-name, slices without the label ignored, slices win over Endpoints.
"""

from __future__ import annotations

import pytest

from failsync.core.health import ready_by_service, ready_from_endpoints, ready_from_slices


def endpoints(name: str, subsets: list, namespace: str = "emojivoto") -> dict:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": "1"},
            "subsets": subsets}


def address(ip: str, pod: str = "web-0") -> dict:
    return {"ip": ip, "nodeName": "node-1",
            "targetRef": {"kind": "Pod", "name": pod, "namespace": "emojivoto", "uid": f"uid-{pod}"}}


def endpoint_slice(service: str, name: str, endpoints_: list, *, address_type: str = "IPv4",
                   namespace: str = "emojivoto", labelled: bool = True) -> dict:
    labels = {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    if labelled:
        labels["kubernetes.io/service-name"] = service
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": address_type,
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": endpoints_}


def slice_endpoint(ip: str, ready: bool | None = True, *, serving: bool | None = None,
                   terminating: bool | None = None) -> dict:
    conditions = {key: value for key, value in
                  (("ready", ready), ("serving", serving), ("terminating", terminating)) if value is not None}
    return {"addresses": [ip], "conditions": conditions, "nodeName": "node-1",
            "targetRef": {"kind": "Pod", "name": f"pod-{ip}", "namespace": "emojivoto"}}


PORTS = [{"name": "http", "port": 8080, "protocol": "TCP"}]


@pytest.mark.parametrize("obj, expected", [
    pytest.param(None, 0, id="missing-object"),
    pytest.param(endpoints("web-svc", []), 0, id="no-subsets"),
    pytest.param({"metadata": {"name": "web-svc"}}, 0, id="subsets-absent"),
    pytest.param(endpoints("web-svc", [{"addresses": [address("10.0.0.1"), address("10.0.0.2", "web-1")],
                                        "ports": PORTS}]), 2, id="two-ready-addresses"),
    pytest.param(endpoints("web-svc", [{"notReadyAddresses": [address("10.0.0.1")], "ports": PORTS}]), 0,
                 id="only-not-ready-addresses"),
    pytest.param(endpoints("web-svc", [{"addresses": [address("10.0.0.1")],
                                        "notReadyAddresses": [address("10.0.0.2", "web-1")], "ports": PORTS}]),
                 1, id="mixed-ready-and-not-ready"),
    pytest.param(endpoints("web-svc", [{"addresses": [address("10.0.0.1")], "ports": PORTS},
                                       {"addresses": [address("10.0.0.2", "web-1")],
                                        "ports": [{"port": 9090, "protocol": "TCP"}]}]),
                 2, id="several-subsets"),
    pytest.param(endpoints("web-svc", [{"addresses": [address("10.0.0.1")], "ports": PORTS},
                                       {"addresses": [address("10.0.0.1")],
                                        "ports": [{"port": 9090, "protocol": "TCP"}]}]),
                 1, id="same-ip-in-two-subsets-counts-once"),
])
def test_ready_from_endpoints(obj: dict | None, expected: int) -> None:
    assert ready_from_endpoints(obj) == expected


@pytest.mark.parametrize("slices, expected", [
    pytest.param([], 0, id="no-slices"),
    pytest.param([endpoint_slice("web-svc", "web-svc-a", None)], 0, id="slice-without-endpoints"),
    pytest.param([endpoint_slice("web-svc", "web-svc-a", [slice_endpoint("10.0.0.1", None)])], 1,
                 id="ready-nil-counts-as-ready"),
    pytest.param([endpoint_slice("web-svc", "web-svc-a", [{"addresses": ["10.0.0.1"]}])], 1,
                 id="conditions-absent-counts-as-ready"),
    pytest.param([endpoint_slice("web-svc", "web-svc-a", [slice_endpoint("10.0.0.1", True),
                                                          slice_endpoint("10.0.0.2", False)])], 1,
                 id="ready-true-counts-ready-false-does-not"),
    pytest.param([endpoint_slice("web-svc", "web-svc-a", [
        slice_endpoint("10.0.0.1", False, serving=True, terminating=True),
        slice_endpoint("10.0.0.2", True, serving=True, terminating=False)])], 1,
        id="terminating-endpoint-excluded"),
    pytest.param([endpoint_slice("web-svc", "web-svc-a", [slice_endpoint("10.0.0.1")]),
                  endpoint_slice("web-svc", "web-svc-b", [slice_endpoint("10.0.0.2"),
                                                          slice_endpoint("10.0.0.3")])], 3,
                 id="several-slices-summed"),
    pytest.param([endpoint_slice("web-svc", "web-svc-a", [slice_endpoint("10.0.0.1")]),
                  endpoint_slice("web-svc", "web-svc-b", [slice_endpoint("10.0.0.1")])], 1,
                 id="endpoint-repeated-across-slices-counts-once"),
    pytest.param([endpoint_slice("web-svc", "web-svc-v4", [slice_endpoint("10.0.0.1"), slice_endpoint("10.0.0.2")]),
                  endpoint_slice("web-svc", "web-svc-v6", [slice_endpoint("fd00::1"), slice_endpoint("fd00::2")],
                                 address_type="IPv6")], 2,
                 id="dual-stack-not-double-counted"),
])
def test_ready_from_slices(slices: list, expected: int) -> None:
    assert ready_from_slices(slices) == expected


def test_ready_by_service_groups_slices_by_service_name_label() -> None:
    counts = ready_by_service(slices=[
        endpoint_slice("web-svc", "web-svc-abc", [slice_endpoint("10.0.0.1")]),
        endpoint_slice("web-svc", "web-svc-def", [slice_endpoint("10.0.0.2")]),
        endpoint_slice("web-svc-east", "web-svc-east-x", [slice_endpoint("10.1.0.1", False)]),
        endpoint_slice("voting-svc", "voting-svc-x", [slice_endpoint("10.2.0.1")], namespace="other"),
        endpoint_slice("orphan", "orphan-x", [slice_endpoint("10.3.0.1")], labelled=False),
    ])
    assert counts == {("emojivoto", "web-svc"): 2, ("emojivoto", "web-svc-east"): 0,
                      ("other", "voting-svc"): 1}


def test_ready_by_service_keys_endpoints_by_their_name() -> None:
    counts = ready_by_service(endpoints=[
        endpoints("web-svc", [{"addresses": [address("10.0.0.1")], "ports": PORTS}]),
        endpoints("web-svc-east", [{"notReadyAddresses": [address("10.1.0.1")], "ports": PORTS}]),
    ])
    assert counts == {("emojivoto", "web-svc"): 1, ("emojivoto", "web-svc-east"): 0}


def test_ready_by_service_prefers_slices_over_endpoints_for_the_same_service() -> None:
    counts = ready_by_service(
        endpoints=[endpoints("web-svc", [{"addresses": [address("10.0.0.1")], "ports": PORTS}])],
        slices=[endpoint_slice("web-svc", "web-svc-a", [slice_endpoint("10.0.0.1", False)])])
    assert counts == {("emojivoto", "web-svc"): 0}
