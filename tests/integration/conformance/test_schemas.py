"""Structural schemas and fieldValidation, as kube-apiserver applies them.

Covers: an unknown field of a custom resource (listed sorted, as apiextensions does) is pruned and warned about by default (Warn), a 400 with the
real "strict decoding error" message under Strict, silently dropped under Ignore, and an
unsupported directive is 422; duplicate JSON fields the same way (the last one wins);
x-kubernetes-preserve-unknown-fields keeps them; defaults are applied on writes (HTTPRoute
backendRef group/kind/weight, the PathPrefix "/" match); type, enum, maximum, maxItems,
maxLength and pattern violations are 422 with field causes worded as the real server's;
built-in kinds are pruned to their published v1.32 schema (an unknown Deployment field
warns and is dropped) and a Deployment without containers is 422; kubectl's default
(strict) validation is done by the server; the official `kubernetes` client sees 422s.
"""
from __future__ import annotations

import json

import kubernetes
import pytest

from tests.integration.conformance.support import assert_status, call, create, deployment, split_path, traffic_split

ROUTES = "/apis/gateway.networking.k8s.io/v1/namespaces/{}/httproutes"


def route(namespace: str, name: str, backend_refs: list[dict], **spec) -> dict:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "web-svc", "port": 80}],
                     "rules": [{"backendRefs": backend_refs}], **spec}}


def with_stray_field(namespace: str, name: str) -> dict:
    manifest = traffic_split(namespace, name)
    manifest["spec"]["colour"] = "red"
    manifest["spec"]["backends"][0]["note"] = "x"
    return manifest


def test_unknown_fields_are_pruned_with_a_warning_by_default(api, namespace):
    response = call(api, "POST", split_path(namespace), body=with_stray_field(namespace, "web"))
    assert response.status_code == 201, response.text
    assert response.headers["Warning"] == ('299 - "unknown field \\"spec.backends[0].note\\"", '
                                           '299 - "unknown field \\"spec.colour\\""')
    stored = call(api, "GET", split_path(namespace, "web")).json()
    assert "colour" not in stored["spec"] and stored["spec"]["backends"][0] == {"service": "web-svc", "weight": 1}


def test_strict_field_validation_is_400_naming_every_unknown_field(api, namespace):
    response = call(api, "POST", split_path(namespace), body=with_stray_field(namespace, "web"),
                    params={"fieldValidation": "Strict"})
    assert_status(response, 400, "BadRequest",
                  'TrafficSplit in version "v1alpha4" cannot be handled as a TrafficSplit: strict decoding error: '
                  'unknown field "spec.backends[0].note", unknown field "spec.colour"')
    assert call(api, "GET", split_path(namespace, "web")).status_code == 404


def test_ignore_field_validation_drops_unknown_fields_silently(api, namespace):
    response = call(api, "POST", split_path(namespace), body=with_stray_field(namespace, "web"),
                    params={"fieldValidation": "Ignore"})
    assert response.status_code == 201 and "Warning" not in response.headers
    assert "colour" not in response.json()["spec"]


def test_an_unsupported_field_validation_is_422(api, namespace):
    response = call(api, "POST", split_path(namespace), body=traffic_split(namespace, "web"),
                    params={"fieldValidation": "Loud"})
    status = assert_status(response, 422, "Invalid")
    assert status["message"] == ('CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: '
                                 '"Loud": supported values: "", "Ignore", "Strict", "Warn"')


def test_unknown_fields_in_a_patch_follow_field_validation(api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    patch = {"spec": {"colour": "red"}}
    path = split_path(namespace, "web")
    strict = call(api, "PATCH", path, body=patch, content_type="application/merge-patch+json",
                  params={"fieldValidation": "Strict"})
    assert_status(strict, 400, "BadRequest")
    warned = call(api, "PATCH", path, body=patch, content_type="application/merge-patch+json")
    assert warned.status_code == 200 and warned.headers["Warning"] == '299 - "unknown field \\"spec.colour\\""'
    assert warned.json()["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


def test_duplicate_fields_are_reported_and_the_last_one_wins(api, namespace):
    manifest = deployment(namespace, "web", app="web")
    text = json.dumps(manifest).replace('"replicas": 1', '"replicas": 1, "replicas": 3')
    strict = call(api, "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body=text,
                  params={"fieldValidation": "Strict"})
    assert_status(strict, 400, "BadRequest", 'Deployment in version "v1" cannot be handled as a Deployment: '
                                             'strict decoding error: duplicate field "spec.replicas"')
    warned = call(api, "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body=text)
    assert warned.status_code == 201, warned.text
    assert warned.headers["Warning"] == '299 - "duplicate field \\"spec.replicas\\""'
    assert warned.json()["spec"]["replicas"] == 3


def test_built_in_kinds_are_pruned_to_their_published_schema(api, namespace):
    manifest = deployment(namespace, "web", app="web")
    manifest["spec"]["template"]["spec"]["containers"][0]["imagePull"] = "Always"
    response = call(api, "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body=manifest)
    assert response.status_code == 201, response.text
    assert response.headers["Warning"] == '299 - "unknown field \\"spec.template.spec.containers[0].imagePull\\""'
    assert "imagePull" not in response.json()["spec"]["template"]["spec"]["containers"][0]


def test_a_deployment_without_containers_is_422(api, namespace):
    manifest = deployment(namespace, "web", app="web")
    del manifest["spec"]["template"]["spec"]
    status = assert_status(call(api, "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", body=manifest),
                           422, "Invalid")
    assert status["message"] == 'Deployment.apps "web" is invalid: spec.template.spec.containers: Required value'


def test_route_defaults_are_applied_on_write(api, namespace):
    response = call(api, "POST", ROUTES.format(namespace), body=route(namespace, "web", [{"name": "web-svc",
                                                                                           "port": 80}]))
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["rules"] == [{
        "backendRefs": [{"group": "", "kind": "Service", "name": "web-svc", "port": 80, "weight": 1}],
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]


@pytest.mark.parametrize("refs, spec, field, message", [
    ([{"name": "a", "port": 80, "weight": "heavy"}], {}, "spec.rules[0].backendRefs[0].weight",
     'Invalid value: "string": spec.rules[0].backendRefs[0].weight in body must be of type integer: "string"'),
    ([{"name": "a", "port": 80, "weight": -1}], {}, "spec.rules[0].backendRefs[0].weight",
     "Invalid value: -1: spec.rules[0].backendRefs[0].weight in body should be greater than or equal to 0"),
    ([{"name": "a", "port": 70000}], {}, "spec.rules[0].backendRefs[0].port",
     "Invalid value: 70000: spec.rules[0].backendRefs[0].port in body should be less than or equal to 65535"),
    ([{"name": f"b{i}", "port": 80} for i in range(17)], {}, "spec.rules[0].backendRefs",
     "Too many: 17: must have at most 16 items"),
    ([{"name": "a", "port": 80, "kind": "x" * 64}], {}, "spec.rules[0].backendRefs[0].kind",
     "Too long: may not be more than 63 bytes"),
    ([{"name": "a", "port": 80}], {"hostnames": ["Not_A_Host"]}, "spec.hostnames[0]",
     'Invalid value: "Not_A_Host": spec.hostnames[0] in body should match '
     "'^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'"),
    ([{"port": 80}], {}, "spec.rules[0].backendRefs[0].name", "Required value"),
], ids=["type", "minimum", "maximum", "maxItems", "maxLength", "pattern", "required"])
def test_route_schema_violations_are_422_with_the_real_causes(api, namespace, refs, spec, field, message):
    status = assert_status(call(api, "POST", ROUTES.format(namespace), body=route(namespace, "bad", refs, **spec)),
                           422, "Invalid")
    assert status["details"]["causes"][0]["field"] == field
    assert status["details"]["causes"][0]["message"] == message
    assert status["message"] == f'HTTPRoute.gateway.networking.k8s.io "bad" is invalid: {field}: {message}'


def test_kubectl_validates_strictly_through_the_server(kubectl, namespace):
    manifest = with_stray_field(namespace, "web")
    code, _, err = kubectl("apply", "-f", "-", input=json.dumps(manifest))
    assert code == 1
    assert ('Error from server (BadRequest): error when creating "STDIN": TrafficSplit in version "v1alpha4" cannot '
            'be handled as a TrafficSplit: strict decoding error: unknown field "spec.backends[0].note", '
            'unknown field "spec.colour"') in err, err
    code, out, err = kubectl("apply", "--validate=warn", "-f", "-", input=json.dumps(manifest))
    assert code == 0, err
    assert 'Warning: unknown field "spec.colour"' in err and "trafficsplit.split.smi-spec.io/web created" in out


def test_the_official_client_gets_422_for_a_deployment_without_containers(sandbox, namespace):
    apps = kubernetes.client.AppsV1Api(kubernetes.config.new_client_from_config(str(sandbox.kubeconfig)))
    body = deployment(namespace, "web", app="web")
    body["spec"]["template"]["spec"]["containers"] = []
    with pytest.raises(kubernetes.client.ApiException) as raised:
        apps.create_namespaced_deployment(namespace, body)
    assert raised.value.status == 422
    assert json.loads(raised.value.body)["details"]["causes"] == [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.template.spec.containers"}]
