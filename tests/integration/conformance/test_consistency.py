"""LIST and WATCH consistency as kube-apiserver serves it, plus the answers of odd requests.

Covers: LIST resourceVersionMatch=Exact (the state at that version, from history),
NotOlderThan, 504 "Too large resource version" for a future version, 410 for one older than
history, 422 for resourceVersionMatch without a resourceVersion; the pages of a paginated
LIST come from the first page's snapshot; an expired continue token answers 410 with a fresh
token that lists the rest; a watch whose label selector stops matching gets DELETED with the
previous object and the change's resourceVersion; a watch from a future resourceVersion ends
with one ERROR event (504); a watch without timeoutSeconds is ended by the server after
minRequestTimeout x (1 + random); Accept: application/yaml answers YAML; unserved paths are
"404 page not found" for every method; a JSON patch of a missing object is 404; DELETE answers
the object for Services and Namespaces and a Success Status for the other kinds.
"""
from __future__ import annotations

import json
import time

import kubernetes
import pytest
import yaml

from failsync.sandbox import Sandbox
from tests.integration.conformance.support import (JSON_PATCH, MERGE_PATCH, SPLIT_GROUP, Watch, assert_status, call,
                                                   create, resource_version, split_path, traffic_split)

HISTORY = 40


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(clusters=("west", "east"), history=HISTORY) as running:
        for cluster in running:
            cluster.too_large_wait = 0.2
        yield running


@pytest.fixture(scope="module")
def client(sandbox) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(sandbox.kubeconfig), context="west")


def _weights(split: dict) -> dict:
    return {b["service"]: b["weight"] for b in split["spec"]["backends"]}


def test_list_exact_serves_the_state_at_that_version(api, namespace, client):
    create(api, traffic_split(namespace, "web", weights={"web-svc": 1, "web-svc-east": 0}))
    before = call(api, "GET", split_path(namespace)).json()["metadata"]["resourceVersion"]
    call(api, "PATCH", split_path(namespace, "web"), content_type=MERGE_PATCH,
         body={"spec": {"backends": [{"service": "web-svc", "weight": 0}, {"service": "web-svc-east", "weight": 1}]}})
    create(api, traffic_split(namespace, "later"))
    custom = kubernetes.client.CustomObjectsApi(client)
    exact = custom.list_namespaced_custom_object(SPLIT_GROUP, "v1alpha4", namespace, "trafficsplits",
                                                 resource_version=before, resource_version_match="Exact")
    assert exact["metadata"]["resourceVersion"] == before
    assert [item["metadata"]["name"] for item in exact["items"]] == ["web"]
    assert _weights(exact["items"][0]) == {"web-svc": 1, "web-svc-east": 0}
    newer = custom.list_namespaced_custom_object(SPLIT_GROUP, "v1alpha4", namespace, "trafficsplits",
                                                 resource_version=before, resource_version_match="NotOlderThan")
    assert [item["metadata"]["name"] for item in newer["items"]] == ["later", "web"]


def test_list_rejects_future_old_and_unanchored_versions(api, namespace):
    current = int(call(api, "GET", split_path(namespace)).json()["metadata"]["resourceVersion"])
    future = call(api, "GET", split_path(namespace), params={"resourceVersion": str(current + 1000),
                                                             "resourceVersionMatch": "NotOlderThan"})
    status = assert_status(future, 504, "Timeout")
    assert status["message"].startswith(f"Timeout: Too large resource version: {current + 1000}, current: ")
    assert status["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
    assert future.headers["Retry-After"] == "1"
    for _ in range(HISTORY + 5):
        create(api, traffic_split(namespace, f"churn-{_}"))
    old = call(api, "GET", split_path(namespace), params={"resourceVersion": "1", "resourceVersionMatch": "Exact"})
    assert_status(old, 410, "Expired")
    unanchored = call(api, "GET", split_path(namespace), params={"resourceVersionMatch": "Exact"})
    status = assert_status(unanchored, 422, "Invalid")
    assert "resourceVersionMatch is forbidden unless resourceVersion is provided" in status["message"]


def test_pages_come_from_one_snapshot(api, namespace):
    for name in ("a", "b", "c", "d"):
        create(api, traffic_split(namespace, name))
    first = call(api, "GET", split_path(namespace), params={"limit": "2"}).json()
    assert [item["metadata"]["name"] for item in first["items"]] == ["a", "b"]
    call(api, "DELETE", split_path(namespace, "c"))
    call(api, "PATCH", split_path(namespace, "d"), body={"metadata": {"labels": {"changed": "yes"}}},
         content_type=MERGE_PATCH)
    create(api, traffic_split(namespace, "e"))
    rest = call(api, "GET", split_path(namespace), params={"limit": "10", "continue": first["metadata"]["continue"]})
    page = rest.json()
    assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert [item["metadata"]["name"] for item in page["items"]] == ["c", "d"]
    assert "changed" not in page["items"][1]["metadata"].get("labels", {})


def test_an_expired_continue_token_answers_410_with_a_fresh_token(api, namespace):
    for name in ("a", "b", "c"):
        create(api, traffic_split(namespace, name))
    first = call(api, "GET", split_path(namespace), params={"limit": "1"}).json()
    for index in range(HISTORY + 5):
        create(api, traffic_split(namespace, f"z-{index:02d}"))
    expired = call(api, "GET", split_path(namespace),
                   params={"limit": "500", "continue": first["metadata"]["continue"]})
    status = assert_status(expired, 410, "Expired")
    assert "use the continue token in this response to retrieve the remainder of the results" in status["message"]
    fresh = status["metadata"]["continue"]
    rest = call(api, "GET", split_path(namespace), params={"limit": "500", "continue": fresh}).json()
    assert [item["metadata"]["name"] for item in rest["items"]][:2] == ["b", "c"]
    assert len(rest["items"]) == 2 + HISTORY + 5


def test_a_watch_whose_selector_stops_matching_gets_the_previous_object(api, namespace):
    created = create(api, traffic_split(namespace, "web", labels={"tier": "front"}))
    with Watch(api, split_path(namespace), {"labelSelector": "tier=front",
                                           "resourceVersion": created["metadata"]["resourceVersion"]}) as watch:
        changed = call(api, "PATCH", split_path(namespace, "web"), body={"metadata": {"labels": {"tier": "back"}}},
                       content_type=MERGE_PATCH).json()
        event = watch.next_of({"DELETED"})
    assert event["object"]["metadata"]["labels"] == {"tier": "front"}
    assert event["object"]["metadata"]["resourceVersion"] == changed["metadata"]["resourceVersion"]


def test_a_watch_from_a_future_version_ends_with_an_error_event(api, namespace):
    current = int(call(api, "GET", split_path(namespace)).json()["metadata"]["resourceVersion"])
    with Watch(api, split_path(namespace), {"resourceVersion": str(current + 1000)}) as watch:
        assert watch.response.status_code == 200
        event = watch.next(timeout=5)
        assert event["type"] == "ERROR"
        assert event["object"]["code"] == 504 and "Too large resource version" in event["object"]["message"]
        assert watch.lines.wait_end(timeout=5) == []


def test_the_server_ends_a_watch_without_timeout_after_a_randomized_time(api, sandbox, namespace):
    west = sandbox["west"]
    west.min_request_timeout = 0.3
    try:
        started = time.monotonic()
        with Watch(api, split_path(namespace)) as watch:
            assert watch.lines.wait_end(timeout=5) == []
        assert 0.3 <= time.monotonic() - started < 5
    finally:
        west.min_request_timeout = 1800.0


def test_accept_yaml_answers_yaml(api, namespace):
    create(api, traffic_split(namespace, "web"))
    response = call(api, "GET", split_path(namespace, "web"), headers={"Accept": "application/yaml"})
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/yaml"
    assert yaml.safe_load(response.text)["metadata"]["name"] == "web"
    listed = call(api, "GET", split_path(namespace), headers={"Accept": "application/yaml"})
    assert yaml.safe_load(listed.text)["kind"] == "TrafficSplitList"
    refused = call(api, "GET", split_path(namespace), headers={"Accept": "text/html"})
    assert_status(refused, 406, "NotAcceptable")


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_unserved_paths_are_404_for_every_method(api, method):
    response = call(api, method, "/apis/split.smi-spec.io/v1alpha4/nothingtoseehere", body={})
    assert (response.status_code, response.text) == (404, "404 page not found\n")


def test_a_json_patch_of_a_missing_object_is_404(api, namespace):
    response = call(api, "PATCH", split_path(namespace, "absent"), content_type=JSON_PATCH,
                    body=[{"op": "replace", "path": "/spec/service", "value": "x"}])
    assert_status(response, 404, "NotFound", 'trafficsplits.split.smi-spec.io "absent" not found')


def test_delete_bodies_per_kind(api, namespace):
    def deleted(path: str, obj: dict) -> dict:
        assert call(api, "POST", path, body=obj).status_code == 201
        response = call(api, "DELETE", f"{path}/{obj['metadata']['name']}")
        assert response.status_code == 200, response.text
        return response.json()

    service = deleted(f"/api/v1/namespaces/{namespace}/services",
                      {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    assert service["kind"] == "Service" and service["metadata"]["name"] == "web"
    lease = deleted(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases", {"metadata": {"name": "lock"}})
    assert (lease["kind"], lease["status"], lease["details"]["name"]) == ("Status", "Success", "lock")
    split = deleted(split_path(namespace), traffic_split(namespace, "web"))
    assert split["kind"] == "Status" and split["details"]["kind"] == "trafficsplits"
    assert resource_version(call(api, "GET", split_path(namespace)).json()) > 0
    assert json.loads(call(api, "DELETE", f"/api/v1/namespaces/{namespace}").text)["kind"] == "Namespace"
