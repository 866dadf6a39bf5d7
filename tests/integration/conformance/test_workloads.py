"""The workload simulator: Endpoints and EndpointSlices follow Deployments.

Covers: a Service with a selector gets Endpoints (same name, one ready address per ready
replica, 10.x.y.z) and one EndpointSlice (label kubernetes.io/service-name, managed-by
endpointslice-controller.k8s.io); `kubectl -n emojivoto scale deploy/web --replicas=0`
prints `deployment.apps/web scaled` and empties both, scaling back refills them; the
scale subresource (GET gives an autoscaling/v1 Scale with status.selector, a merge patch
bumps the Deployment's generation, negative replicas are 422, a missing Deployment 404);
pykube's Deployment.scale(); a selector-less Service keeps the Endpoints its owner
writes, mirrored into an EndpointSlice managed by endpointslicemirroring-controller.k8s.io
(Linkerd's service mirror, which writes such Endpoints, is test_service_mirror's).
"""
from __future__ import annotations

import ipaddress
import json

import pykube
import pytest

from tests.helpers import wait_for
from tests.integration.conformance.support import (MERGE_PATCH, assert_status, call, create,
                                                   deployment, object_path, service)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"


def ready_addresses(api, namespace: str, name: str) -> list[str] | None:
    """Ready IPs of the Service's Endpoints, or None while there is no Endpoints object."""
    response = call(api, "GET", f"/api/v1/namespaces/{namespace}/endpoints/{name}")
    if response.status_code == 404:
        return None
    subsets = response.json().get("subsets") or []
    return sorted(a["ip"] for s in subsets for a in s.get("addresses") or [])


def slices(api, namespace: str, name: str) -> list[dict]:
    response = call(api, "GET", f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
                    params={"labelSelector": f"{SERVICE_NAME_LABEL}={name}"})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def ready_in_slices(api, namespace: str, name: str) -> list[str]:
    return sorted(address for item in slices(api, namespace, name) for endpoint in item.get("endpoints") or []
                  if (endpoint.get("conditions") or {}).get("ready", True) is not False
                  for address in endpoint["addresses"])


def has_count(count: int, api, namespace: str, name: str):
    def check():
        endpoints = ready_addresses(api, namespace, name)
        sliced = ready_in_slices(api, namespace, name)
        return endpoints is not None and len(endpoints) == count and len(sliced) == count and (endpoints, sliced)
    check.__name__ = f"{count} ready endpoints of {namespace}/{name}"
    return check


def apply(kubectl, *objects: dict, context: str = "west") -> None:
    for obj in objects:
        code, _, err = kubectl("--context", context, "apply", "-f", "-", input=json.dumps(obj))
        assert code == 0, err


@pytest.fixture(scope="module")
def emojivoto(kubectl) -> str:
    """emojivoto in west: Deployment web (2 replicas, app=web) behind Service web-svc."""
    apply(kubectl, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "emojivoto"}},
          deployment("emojivoto", "web", app="web", replicas=2), service("emojivoto", "web-svc", app="web"))
    return "emojivoto"


def test_selector_service_gets_endpoints_and_one_slice_per_ready_replica(api, emojivoto):
    endpoints, sliced = wait_for(has_count(2, api, emojivoto, "web-svc"))
    assert endpoints == sliced
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.0.0.0/8") for ip in endpoints)
    [endpoint_slice] = slices(api, emojivoto, "web-svc")
    assert endpoint_slice["addressType"] == "IPv4"
    assert endpoint_slice["metadata"]["labels"][MANAGED_BY] == "endpointslice-controller.k8s.io"
    assert [p["port"] for p in endpoint_slice["ports"]] == [8080]


def test_kubectl_scale_to_zero_empties_web_svc_and_scaling_back_refills_it(kubectl, api, emojivoto):
    wait_for(has_count(2, api, emojivoto, "web-svc"))
    code, out, err = kubectl("-n", emojivoto, "scale", "deploy/web", "--replicas=0")
    assert code == 0, err
    assert out.strip() == "deployment.apps/web scaled"
    wait_for(has_count(0, api, emojivoto, "web-svc"))
    code, out, err = kubectl("-n", emojivoto, "scale", "deploy/web", "--replicas=3")
    assert code == 0, err
    wait_for(has_count(3, api, emojivoto, "web-svc"))
    code, out, err = kubectl("-n", emojivoto, "scale", "deploy/web", "--replicas=2")
    assert code == 0, err
    wait_for(has_count(2, api, emojivoto, "web-svc"))


def test_scale_subresource_reads_and_writes_replicas(api, namespace):
    stored = create(api, deployment(namespace, "web", app="web", replicas=2))
    scale_path = object_path(stored) + "/scale"
    scale = call(api, "GET", scale_path).json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["metadata"]["name"] == "web" and scale["spec"]["replicas"] == 2
    assert scale["status"]["selector"] == "app=web"
    patched = call(api, "PATCH", scale_path, body={"spec": {"replicas": 5}}, content_type=MERGE_PATCH)
    assert patched.status_code == 200 and patched.json()["kind"] == "Scale"
    after = call(api, "GET", object_path(stored)).json()
    assert after["spec"]["replicas"] == 5 and after["metadata"]["generation"] == 2
    assert int(after["metadata"]["resourceVersion"]) > int(stored["metadata"]["resourceVersion"])
    assert_status(call(api, "PATCH", scale_path, body={"spec": {"replicas": -1}}, content_type=MERGE_PATCH),
                  422, "Invalid")
    assert_status(call(api, "GET", object_path(stored).replace("/web", "/nope") + "/scale"), 404, "NotFound")


def test_pykube_deployment_scale_moves_endpoints(api, namespace):
    create(api, deployment(namespace, "api", app="api", replicas=1))
    create(api, service(namespace, "api-svc", app="api"))
    wait_for(has_count(1, api, namespace, "api-svc"))
    pykube.Deployment.objects(api, namespace=namespace).get(name="api").scale(4)
    wait_for(has_count(4, api, namespace, "api-svc"))


def test_selectorless_service_endpoints_are_mirrored_into_a_slice(api, namespace):
    create(api, service(namespace, "external", app=None))
    endpoints = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "external", "namespace": namespace},
                 "subsets": [{"addresses": [{"ip": "192.0.2.10"}, {"ip": "192.0.2.11"}],
                              "ports": [{"name": "http", "port": 8080}]}]}
    create(api, endpoints)
    wait_for(lambda: ready_in_slices(api, namespace, "external") == ["192.0.2.10", "192.0.2.11"])
    [mirrored] = slices(api, namespace, "external")
    assert mirrored["metadata"]["labels"][MANAGED_BY] == "endpointslicemirroring-controller.k8s.io"
    assert ready_addresses(api, namespace, "external") == ["192.0.2.10", "192.0.2.11"]
    call(api, "PATCH", object_path(endpoints), body={"subsets": [{"addresses": [{"ip": "192.0.2.12"}],
                                                                  "ports": [{"name": "http", "port": 8080}]}]},
         content_type=MERGE_PATCH)
    wait_for(lambda: ready_in_slices(api, namespace, "external") == ["192.0.2.12"])
