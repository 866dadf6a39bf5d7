"""Writes and errors: the status codes and `Status` bodies of the real server.

Covers: 404 NotFound for a missing object (pykube raises, kubectl prints
`Error from server (NotFound)`), for a missing namespace on create and on GET of the
namespace, a plain-text "404 page not found" for unknown paths; LIST in a missing
namespace is an empty 200; 201 on create, 409 AlreadyExists (HTTP and kubectl create);
409 Conflict on a stale resourceVersion in PUT and in a merge patch (pykube update);
PUT without resourceVersion on a custom resource is 422; JSON Patch (400 malformed,
422 failed `test` op, success through kubectl --type=json); merge patch null deletes a
key (kubectl --type=merge); strategic merge 415 on TrafficSplit but accepted on
Deployments; 422 Invalid TrafficSplits (weight missing, backends not a list, weight
not an integer) with causes; namespace mismatch 400; dryRun=All validates and stores
nothing; DELETE (then 404) via pykube and `kubectl delete`; plain `kubectl apply`
(validated by the server) creates, configures and reports unchanged; `kubectl create namespace`
(whose typed client sends a protobuf body, as the real server accepts for built-ins) works.
"""
from __future__ import annotations

import json

import pykube
import pytest

from tests.integration.conformance.support import (JSON_PATCH, MERGE_PATCH, SPLIT_GROUP,
                                                   STRATEGIC_PATCH, assert_status, call, create,
                                                   deployment, object_path, split_path,
                                                   traffic_split)


def split_class(api):
    return pykube.object_factory(api, f"{SPLIT_GROUP}/v1alpha4", "TrafficSplit")


def test_missing_object_is_404_not_found_with_the_real_message(api, namespace):
    status = assert_status(call(api, "GET", split_path(namespace, "nope")), 404, "NotFound",
                           'trafficsplits.split.smi-spec.io "nope" not found')
    assert status["details"]["name"] == "nope"
    assert status["details"]["group"] == SPLIT_GROUP
    assert status["details"]["kind"] == "trafficsplits"
    assert_status(call(api, "GET", f"/api/v1/namespaces/{namespace}/services/nope"), 404, "NotFound",
                  'services "nope" not found')
    with pytest.raises(pykube.exceptions.ObjectDoesNotExist):
        split_class(api).objects(api, namespace=namespace).get_by_name("nope")


def test_kubectl_get_of_a_missing_object_prints_error_from_server_not_found(kubectl, namespace):
    code, _, err = kubectl("-n", namespace, "get", "ts", "nope")
    assert code == 1
    assert 'Error from server (NotFound): trafficsplits.split.smi-spec.io "nope" not found' in err, err


def test_missing_namespace_is_404_on_create_and_get(api):
    assert_status(call(api, "POST", split_path("no-such-ns"), body=traffic_split("no-such-ns", "web")),
                  404, "NotFound", 'namespaces "no-such-ns" not found')
    assert_status(call(api, "GET", "/api/v1/namespaces/no-such-ns"), 404, "NotFound",
                  'namespaces "no-such-ns" not found')


def test_list_in_a_missing_namespace_is_an_empty_list(api):
    response = call(api, "GET", split_path("no-such-ns"))
    assert response.status_code == 200
    assert response.json()["items"] == []


@pytest.mark.parametrize("path", ["/nonsense", "/apis/nope.example.com/v1/things",
                                  "/api/v1/namespaces/default/frobnicators"])
def test_unknown_path_is_a_plain_text_404(api, path):
    response = call(api, "GET", path)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.strip() == "404 page not found"


def test_create_returns_201_and_a_duplicate_is_409_already_exists(api, namespace):
    manifest = traffic_split(namespace, "web")
    response = call(api, "POST", split_path(namespace), body=manifest)
    assert response.status_code == 201
    assert response.json()["metadata"]["name"] == "web"
    status = assert_status(call(api, "POST", split_path(namespace), body=manifest), 409, "AlreadyExists",
                           'trafficsplits.split.smi-spec.io "web" already exists')
    assert status["details"] == {"name": "web", "group": SPLIT_GROUP, "kind": "trafficsplits"}


def test_kubectl_create_of_a_duplicate_prints_already_exists(kubectl, api, namespace):
    manifest = json.dumps(traffic_split(namespace, "web"))
    code, out, err = kubectl("create", "-f", "-", input=manifest)
    assert code == 0, err
    assert out.strip() == "trafficsplit.split.smi-spec.io/web created"
    code, _, err = kubectl("create", "-f", "-", input=manifest)
    assert code == 1
    assert 'Error from server (AlreadyExists): error when creating "STDIN": ' \
           'trafficsplits.split.smi-spec.io "web" already exists' in err, err


CONFLICT = ('Operation cannot be fulfilled on trafficsplits.split.smi-spec.io "web": the object has been '
            'modified; please apply your changes to the latest version and try again')


def test_put_with_a_stale_resource_version_is_409_conflict(api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    fresh = call(api, "PUT", object_path(stored), body={**stored, "spec": {**stored["spec"], "service": "a"}})
    assert fresh.status_code == 200
    stale = {**stored, "spec": {**stored["spec"], "service": "b"}}
    assert_status(call(api, "PUT", object_path(stored), body=stale), 409, "Conflict", CONFLICT)
    assert call(api, "GET", object_path(stored)).json()["spec"]["service"] == "a"


def test_merge_patch_with_a_stale_resource_version_is_409_conflict(api, namespace):
    split = split_class(api)(api, traffic_split(namespace, "web"))
    split.create()
    stale_version = split.obj["metadata"]["resourceVersion"]
    call(api, "PATCH", object_path(split.obj), body={"metadata": {"labels": {"a": "1"}}},
         content_type=MERGE_PATCH)
    patch = {"metadata": {"resourceVersion": stale_version}, "spec": {"service": "b"}}
    assert_status(call(api, "PATCH", object_path(split.obj), body=patch, content_type=MERGE_PATCH),
                  409, "Conflict", CONFLICT)
    split.obj["spec"]["service"] = "c"
    with pytest.raises(pykube.exceptions.HTTPError) as raised:
        split.update()
    assert raised.value.code == 409


def test_put_without_resource_version_on_a_custom_resource_is_422(api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    del stored["metadata"]["resourceVersion"]
    assert_status(call(api, "PUT", object_path(stored), body=stored), 422, "Invalid")


def test_malformed_json_patch_is_400_bad_request(api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    for body in ('{"op": "replace", "path": "/spec", "value": {}}', "not json"):
        assert_status(call(api, "PATCH", object_path(stored), body=body, content_type=JSON_PATCH),
                      400, "BadRequest")


def test_json_patch_with_a_failing_test_op_is_422_and_changes_nothing(api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    patch = [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
             {"op": "replace", "path": "/spec/service", "value": "changed"}]
    assert_status(call(api, "PATCH", object_path(stored), body=patch, content_type=JSON_PATCH),
                  422, "Invalid")
    missing = [{"op": "replace", "path": "/spec/nothing/here", "value": 1}]
    assert_status(call(api, "PATCH", object_path(stored), body=missing, content_type=JSON_PATCH),
                  422, "Invalid")
    after = call(api, "GET", object_path(stored)).json()
    assert after["spec"]["service"] == "web-svc"
    assert after["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


def test_guarded_json_patch_applies_when_the_version_matches(api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    patch = [{"op": "test", "path": "/metadata/resourceVersion",
              "value": stored["metadata"]["resourceVersion"]},
             {"op": "replace", "path": "/spec/backends/1/weight", "value": 1}]
    response = call(api, "PATCH", object_path(stored), body=patch, content_type=JSON_PATCH)
    assert response.status_code == 200, response.text
    assert response.json()["spec"]["backends"][1]["weight"] == 1


def test_kubectl_patch_json_and_merge_change_the_object(kubectl, api, namespace):
    stored = create(api, traffic_split(namespace, "web", labels={"drop": "me"}))
    code, out, err = kubectl("-n", namespace, "patch", "ts", "web", "--type=json",
                             "-p", '[{"op":"replace","path":"/spec/backends/0/weight","value":0}]')
    assert code == 0, err
    assert out.strip() == "trafficsplit.split.smi-spec.io/web patched"
    code, out, err = kubectl("-n", namespace, "patch", "ts", "web", "--type=merge",
                             "-p", '{"metadata":{"labels":{"drop":null}},"spec":{"service":"apex"}}')
    assert code == 0, err
    after = call(api, "GET", object_path(stored)).json()
    assert after["spec"]["backends"][0]["weight"] == 0
    assert after["spec"]["service"] == "apex"
    assert "drop" not in after["metadata"].get("labels", {})


def test_kubectl_json_patch_with_failing_test_reports_invalid(kubectl, api, namespace):
    create(api, traffic_split(namespace, "web"))
    code, _, err = kubectl("-n", namespace, "patch", "ts", "web", "--type=json",
                           "-p", '[{"op":"test","path":"/spec/service","value":"other"}]')
    assert code == 1
    assert "is invalid" in err, err  # kubectl words 422 Invalid as "The request is invalid: ..." 


def test_strategic_merge_on_a_trafficsplit_is_415(api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    status = assert_status(call(api, "PATCH", object_path(stored), body={"spec": {"service": "x"}},
                                content_type=STRATEGIC_PATCH), 415, "UnsupportedMediaType")
    assert status["message"].startswith(
        "the body of the request was in an unknown format - accepted media types include:"), status
    assert "application/strategic-merge-patch+json" not in status["message"]


def test_strategic_merge_on_a_deployment_merges_containers_by_name(api, namespace):
    stored = create(api, deployment(namespace, "web", app="web"))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "example/web:2"}]}}}}
    response = call(api, "PATCH", object_path(stored), body=patch, content_type=STRATEGIC_PATCH)
    assert response.status_code == 200, response.text
    containers = response.json()["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("web", "example/web:2")]


def test_unknown_patch_content_type_is_415(api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    assert_status(call(api, "PATCH", object_path(stored), body={"spec": {}}, content_type="text/plain"),
                  415, "UnsupportedMediaType")


@pytest.mark.parametrize("backends, field", [
    ([{"service": "web-svc"}], "spec.backends[0].weight"),
    ({"service": "web-svc", "weight": 1}, "spec.backends"),
    ([{"service": "web-svc", "weight": "half"}], "spec.backends[0].weight"),
], ids=["weight-missing", "backends-not-a-list", "weight-not-an-integer"])
def test_invalid_trafficsplit_is_422_invalid_with_causes(api, namespace, backends, field):
    manifest = traffic_split(namespace, "bad")
    manifest["spec"]["backends"] = backends
    status = assert_status(call(api, "POST", split_path(namespace), body=manifest), 422, "Invalid")
    assert status["message"].startswith('TrafficSplit.split.smi-spec.io "bad" is invalid: '), status
    assert status["details"]["name"] == "bad" and status["details"]["kind"] == "TrafficSplit"
    assert any(cause.get("field", "").startswith(field) for cause in status["details"]["causes"]), status
    assert call(api, "GET", split_path(namespace, "bad")).status_code == 404


def test_invalid_patch_result_is_422_and_not_stored(api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    patch = [{"op": "replace", "path": "/spec/backends/0/weight", "value": "heavy"}]
    assert_status(call(api, "PATCH", object_path(stored), body=patch, content_type=JSON_PATCH),
                  422, "Invalid")
    assert call(api, "GET", object_path(stored)).json()["spec"]["backends"][0]["weight"] == 1


def test_body_namespace_differing_from_the_url_is_400(api, namespace):
    manifest = traffic_split("elsewhere", "web")
    status = assert_status(call(api, "POST", split_path(namespace), body=manifest), 400, "BadRequest")
    assert "does not match the namespace sent on the request" in status["message"]


def test_dry_run_create_validates_and_stores_nothing(api, namespace):
    manifest = traffic_split(namespace, "web")
    response = call(api, "POST", split_path(namespace), body=manifest, params={"dryRun": "All"})
    assert response.status_code == 201
    assert response.json()["metadata"]["name"] == "web"
    assert call(api, "GET", split_path(namespace, "web")).status_code == 404
    invalid = traffic_split(namespace, "bad", weights={"web-svc": "heavy"})
    assert call(api, "POST", split_path(namespace), body=invalid, params={"dryRun": "All"}).status_code == 422


def test_dry_run_patch_and_delete_leave_the_object_unchanged(api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    patched = call(api, "PATCH", object_path(stored), body={"spec": {"service": "x"}},
                   content_type=MERGE_PATCH, params={"dryRun": "All"})
    assert patched.status_code == 200 and patched.json()["spec"]["service"] == "x"
    assert call(api, "DELETE", object_path(stored), params={"dryRun": "All"}).status_code == 200
    assert_status(call(api, "POST", split_path(namespace), body=traffic_split(namespace, "web"),
                       params={"dryRun": "All"}), 409, "AlreadyExists")
    after = call(api, "GET", object_path(stored)).json()
    assert after["spec"]["service"] == "web-svc"
    assert after["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


def test_delete_answers_200_then_the_object_is_404(api, namespace):
    split = split_class(api)(api, traffic_split(namespace, "web"))
    split.create()
    response = call(api, "DELETE", object_path(split.obj))
    assert response.status_code == 200
    body = response.json()
    assert body.get("kind") in {"Status", "TrafficSplit"}, body
    if body["kind"] == "Status":
        assert body["status"] == "Success" and body["details"]["name"] == "web"
    assert_status(call(api, "DELETE", object_path(split.obj)), 404, "NotFound")
    assert not split.exists()


def test_kubectl_delete_removes_the_object(kubectl, api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    code, out, err = kubectl("-n", namespace, "delete", "ts", "web", "--timeout=10s")
    assert code == 0, err
    assert out.strip() == 'trafficsplit.split.smi-spec.io "web" deleted'
    assert call(api, "GET", object_path(stored)).status_code == 404


def test_kubectl_apply_creates_configures_and_reports_unchanged(kubectl, api, namespace):
    manifest = traffic_split(namespace, "web")
    code, out, err = kubectl("apply", "-f", "-", input=json.dumps(manifest))
    assert code == 0, err
    assert out.strip() == "trafficsplit.split.smi-spec.io/web created"
    code, out, err = kubectl("apply", "-f", "-", input=json.dumps(manifest))
    assert code == 0, err
    assert out.strip() == "trafficsplit.split.smi-spec.io/web unchanged"
    manifest["spec"]["backends"][1]["weight"] = 3
    code, out, err = kubectl("apply", "-f", "-", input=json.dumps(manifest))
    assert code == 0, err
    assert out.strip() == "trafficsplit.split.smi-spec.io/web configured"
    stored = call(api, "GET", split_path(namespace, "web")).json()
    assert stored["spec"]["backends"][1]["weight"] == 3
    assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]


def test_kubectl_apply_of_a_deployment_uses_strategic_merge(kubectl, api, namespace):
    manifest = deployment(namespace, "web", app="web", replicas=2)
    code, out, err = kubectl("apply", "-f", "-", input=json.dumps(manifest))
    assert code == 0, err
    manifest["spec"]["replicas"] = 4
    code, out, err = kubectl("apply", "-f", "-", input=json.dumps(manifest))
    assert code == 0, err
    assert out.strip() == "deployment.apps/web configured"
    stored = call(api, "GET", object_path(manifest)).json()
    assert stored["spec"]["replicas"] == 4
    assert stored["metadata"]["generation"] == 2


def test_kubectl_create_namespace_sends_protobuf_and_is_accepted(kubectl, api):
    code, out, err = kubectl("create", "namespace", "made-by-kubectl")
    assert code == 0, err
    assert out.strip() == "namespace/made-by-kubectl created"
    assert call(api, "GET", "/api/v1/namespaces/made-by-kubectl").status_code == 200
