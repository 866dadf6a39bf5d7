"""The other served kinds: Leases, HTTPRoutes, Events, and the PUT rules of Leases and Deployments.

Covers: a Lease round-trips its MicroTime renewTime, PUT without a resourceVersion on a
Lease is 422 while PUT can create a missing Lease; PUT without a resourceVersion on a
Deployment is accepted (latest used); HTTPRoute (gateway.networking.k8s.io/v1) is
created and listed through kubectl; a core/v1 Event is readable as an events.k8s.io/v1
Event with `note` = `message`; Namespace defaults (spec.finalizers [kubernetes]).
"""
from __future__ import annotations

import json

from tests.integration.conformance.support import (MERGE_PATCH, assert_status, call, create, deployment,
                                                   object_path)

MICRO_TIME = "2024-05-01T10:00:00.123456Z"


def lease(namespace: str, name: str) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": MICRO_TIME}}


def test_lease_keeps_micro_time_and_put_needs_a_resource_version(api, namespace):
    stored = create(api, lease(namespace, "leader"))
    assert stored["spec"]["renewTime"] == MICRO_TIME
    unversioned = {**stored, "metadata": {k: v for k, v in stored["metadata"].items() if k != "resourceVersion"}}
    assert_status(call(api, "PUT", object_path(stored), body=unversioned), 422, "Invalid")
    renewed = call(api, "PUT", object_path(stored), body={**stored, "spec": {**stored["spec"], "holderIdentity": "b"}})
    assert renewed.status_code == 200 and renewed.json()["spec"]["holderIdentity"] == "b"


def test_put_creates_a_missing_lease(api, namespace):
    manifest = lease(namespace, "fresh")
    response = call(api, "PUT", object_path(manifest), body=manifest)
    assert response.status_code == 201, response.text
    assert call(api, "GET", object_path(manifest)).status_code == 200


def test_put_without_resource_version_on_a_deployment_uses_the_latest(api, namespace):
    stored = create(api, deployment(namespace, "web", app="web", replicas=1))
    call(api, "PATCH", object_path(stored), body={"metadata": {"labels": {"x": "1"}}}, content_type=MERGE_PATCH)
    manifest = deployment(namespace, "web", app="web", replicas=3)
    response = call(api, "PUT", object_path(manifest), body=manifest)
    assert response.status_code == 200, response.text
    assert response.json()["spec"]["replicas"] == 3


def test_httproute_is_served_and_listed_by_kubectl(kubectl, api, namespace):
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "web", "namespace": namespace},
             "spec": {"parentRefs": [{"name": "web-svc", "kind": "Service", "group": ""}],
                      "rules": [{"backendRefs": [{"name": "web-svc", "port": 80, "weight": 1},
                                                 {"name": "web-svc-east", "port": 80, "weight": 0}]}]}}
    code, out, err = kubectl("apply", "-f", "-", input=json.dumps(route))
    assert code == 0, err
    assert out.strip() == "httproute.gateway.networking.k8s.io/web created"
    code, out, err = kubectl("-n", namespace, "get", "httproutes", "-o", "json")
    assert code == 0, err
    [served] = json.loads(out)["items"]
    assert [ref["weight"] for ref in served["spec"]["rules"][0]["backendRefs"]] == [1, 0]


def test_core_event_is_readable_through_events_k8s_io(api, namespace):
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "namespace": namespace},
             "involvedObject": {"kind": "TrafficSplit", "name": "web", "namespace": namespace},
             "reason": "Failover", "message": "moved weight to web-svc-east", "type": "Normal"}
    create(api, event)
    served = call(api, "GET", f"/apis/events.k8s.io/v1/namespaces/{namespace}/events/e1")
    assert served.status_code == 200, served.text
    body = served.json()
    assert body["note"] == "moved weight to web-svc-east"
    assert body["regarding"]["name"] == "web" and body["reason"] == "Failover"


def test_namespace_gets_the_kubernetes_finalizer(api, namespace):
    stored = call(api, "GET", f"/api/v1/namespaces/{namespace}").json()
    assert stored["spec"]["finalizers"] == ["kubernetes"]
