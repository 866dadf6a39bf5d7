"""Server-side apply and managedFields, driven by kubectl and the official `kubernetes` client.

Covers: `kubectl apply --server-side` creates and updates ("serverside-applied") and records
an Apply entry (FieldsV1, keyed list items) for manager "kubectl"; two managers applying
different values conflict (409 Conflict, the real message and FieldManagerConflict causes),
kubectl refuses without --force-conflicts, force=true takes the field over; equal values are
co-owned; a field a manager stops applying is removed unless another manager owns it;
fieldManager is required for apply and force only for apply (422); every write path (POST,
PUT, merge patch, kubectl create) records an Update entry named by fieldManager or the
User-Agent, as on a real cluster.
"""
from __future__ import annotations

import json

import kubernetes
import pytest

from tests.integration.conformance.support import MERGE_PATCH, assert_status, call, deployment

APPLY = "application/apply-patch+yaml"


@pytest.fixture(scope="module")
def client(sandbox) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(sandbox.kubeconfig), context="west")


def _path(namespace: str, name: str = "web") -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def _managers(obj: dict) -> dict[tuple[str, str], dict]:
    return {(item["manager"], item["operation"]): item for item in obj["metadata"].get("managedFields") or []}


def _server_side(kubectl, manifest: dict, *extra: str):
    return kubectl("apply", "--server-side", *extra, "-f", "-", input=json.dumps(manifest))


def _apply(api, namespace: str, intent: dict, manager: str, *, force: bool = False):
    query = f"?fieldManager={manager}" + ("&force=true" if force else "")
    return call(api, "PATCH", _path(namespace, intent["metadata"]["name"]) + query, body=json.dumps(intent),
                content_type=APPLY)


def test_kubectl_apply_server_side_records_an_apply_entry(kubectl, namespace):
    manifest = deployment(namespace, "web", app="web", replicas=2)
    result = _server_side(kubectl, manifest)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "deployment.apps/web serverside-applied"
    shown = json.loads(kubectl("-n", namespace, "get", "deployment", "web", "-o", "json",
                               "--show-managed-fields").stdout)
    entry = _managers(shown)[("kubectl", "Apply")]
    assert entry["apiVersion"] == "apps/v1" and entry["fieldsType"] == "FieldsV1" and entry["time"]
    fields = entry["fieldsV1"]
    assert fields["f:spec"]["f:replicas"] == {}
    assert fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}'] == {
        ".": {}, "f:image": {}, "f:name": {}}
    assert "managedFields" not in json.loads(kubectl("-n", namespace, "get", "deployment", "web", "-o",
                                                     "json").stdout)["metadata"]
    controller = _managers(shown)[("kube-controller-manager", "Update")]  # the simulated Deployment controller
    assert controller["subresource"] == "status" and "f:replicas" in controller["fieldsV1"]["f:status"]


def test_two_managers_conflict_and_force_takes_the_field(kubectl, api, namespace, client):
    assert _server_side(kubectl, deployment(namespace, "web", app="web", replicas=2)).returncode == 0
    apps = kubernetes.client.AppsV1Api(client)
    intent = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}}
    with pytest.raises(kubernetes.client.ApiException) as refused:
        apps.patch_namespaced_deployment("web", namespace, intent, field_manager="autoscaler",
                                         _content_type=APPLY)
    assert refused.value.status == 409
    status = json.loads(refused.value.body)
    assert status["reason"] == "Conflict"
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas'
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "kubectl"',
                                            "field": ".spec.replicas"}]

    forced = apps.patch_namespaced_deployment("web", namespace, intent, field_manager="autoscaler", force=True,
                                              _content_type=APPLY)
    assert forced.spec.replicas == 5
    stored = call(api, "GET", _path(namespace)).json()
    managers = _managers(stored)
    assert managers[("autoscaler", "Apply")]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in managers[("kubectl", "Apply")]["fieldsV1"]["f:spec"]

    again = _server_side(kubectl, deployment(namespace, "web", app="web", replicas=2))
    assert again.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "autoscaler": .spec.replicas' in again.stderr
    assert _server_side(kubectl, deployment(namespace, "web", app="web", replicas=2),
                        "--force-conflicts").returncode == 0
    assert call(api, "GET", _path(namespace)).json()["spec"]["replicas"] == 2


def test_a_conflict_with_an_updater_names_its_api_version(kubectl, api, namespace):
    created = kubectl("-n", namespace, "create", "deployment", "web", "--image=example/web:1", "--replicas=1")
    assert created.returncode == 0, created.stderr
    response = _apply(api, namespace, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                                       "spec": {"replicas": 3}}, "ci")
    status = assert_status(response, 409, "Conflict")
    assert status["message"] == ('Apply failed with 1 conflict: conflict with "kubectl-create" using apps/v1: '
                                 ".spec.replicas")


def test_equal_values_are_co_owned_and_dropped_fields_are_removed(api, namespace):
    base = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    first = dict(deployment(namespace, "web", app="web"), metadata={
        "name": "web", "labels": {"team": "a", "tier": "front", "shared": "yes"}})
    assert _apply(api, namespace, first, "one").status_code == 201
    assert _apply(api, namespace, dict(base, metadata={"name": "web", "labels": {"shared": "yes"}}),
                  "two").status_code == 200  # same value: no conflict
    managers = _managers(call(api, "GET", _path(namespace)).json())
    assert "f:shared" in managers[("one", "Apply")]["fieldsV1"]["f:metadata"]["f:labels"]
    assert "f:shared" in managers[("two", "Apply")]["fieldsV1"]["f:metadata"]["f:labels"]

    less = dict(first, metadata={"name": "web", "labels": {"team": "a"}})
    response = _apply(api, namespace, less, "one")
    assert response.status_code == 200, response.text
    assert response.json()["metadata"]["labels"] == {"team": "a", "shared": "yes"}  # "shared" still has a manager


def test_apply_needs_a_field_manager_and_force_needs_apply(api, namespace):
    intent = deployment(namespace, "web", app="web")
    response = call(api, "PATCH", _path(namespace), body=json.dumps(intent), content_type=APPLY)
    assert_status(response, 422, "Invalid")
    assert "fieldManager: Required value" in response.json()["message"]
    assert _apply(api, namespace, intent, "one").status_code == 201
    response = call(api, "PATCH", _path(namespace) + "?force=true", body={"spec": {"replicas": 2}},
                    content_type=MERGE_PATCH)
    assert_status(response, 422, "Invalid")
    assert "force: Forbidden: may not be specified for non-apply patch" in response.json()["message"]


def test_every_write_path_records_its_manager(api, namespace, client, kubectl):
    apps = kubernetes.client.AppsV1Api(client)
    created = apps.create_namespaced_deployment(namespace, deployment(namespace, "web", app="web"))
    entries = {(e.manager, e.operation) for e in created.metadata.managed_fields}
    assert entries == {("OpenAPI-Generator", "Update")}  # the client's User-Agent, up to its first "/"

    current = call(api, "GET", _path(namespace)).json()
    current["spec"]["replicas"] = 3
    replaced = call(api, "PUT", _path(namespace) + "?fieldManager=deployer", body=current).json()
    deployer = _managers(replaced)[("deployer", "Update")]
    assert deployer["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in _managers(replaced)[("OpenAPI-Generator", "Update")]["fieldsV1"]["f:spec"]

    patched = call(api, "PATCH", _path(namespace), body={"metadata": {"annotations": {"note": "x"}}},
                   content_type=MERGE_PATCH).json()
    assert _managers(patched)[("pykube-ng", "Update")]["fieldsV1"] == {
        "f:metadata": {"f:annotations": {"f:note": {}}}}
    before = call(api, "GET", _path(namespace)).json()
    unchanged = call(api, "PATCH", _path(namespace), body={"metadata": {"annotations": {"note": "x"}}},
                     content_type=MERGE_PATCH).json()
    assert unchanged["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]

    assert kubectl("-n", namespace, "create", "service", "clusterip", "web", "--tcp=80:8080").returncode == 0
    service = call(api, "GET", f"/api/v1/namespaces/{namespace}/services/web").json()
    assert ("kubectl-create", "Update") in _managers(service)


def test_apply_to_the_status_subresource_applies_only_the_status(api, namespace):
    assert _apply(api, namespace, deployment(namespace, "web", app="web", replicas=1), "deployer").status_code == 201
    intent = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
              "spec": {"replicas": 9}, "status": {"replicas": 7}}
    path = _path(namespace) + "/status?fieldManager=probe"
    refused = call(api, "PATCH", path, body=json.dumps(intent), content_type=APPLY)
    status = assert_status(refused, 409, "Conflict")
    assert status["message"] == ('Apply failed with 1 conflict: conflict with "kube-controller-manager" using '
                                 'apps/v1: .status.replicas')
    forced = call(api, "PATCH", path + "&force=true", body=json.dumps(intent), content_type=APPLY)
    assert forced.status_code == 200, forced.text
    assert forced.json()["spec"]["replicas"] == 1 and forced.json()["status"]["replicas"] == 7
    entry = _managers(forced.json())[("probe", "Apply")]
    assert entry["subresource"] == "status" and entry["fieldsV1"] == {"f:status": {"f:replicas": {}}}
    missing = call(api, "PATCH", _path(namespace, "absent") + "/status?fieldManager=probe",
                   body=json.dumps(dict(intent, metadata={"name": "absent"})), content_type=APPLY)
    assert_status(missing, 404, "NotFound")


def test_switching_from_client_side_to_server_side_apply_needs_no_flag(kubectl, api, namespace):
    manifest = deployment(namespace, "web", app="web", replicas=2)
    assert kubectl("apply", "-f", "-", input=json.dumps(manifest)).returncode == 0  # client-side apply
    manifest["spec"]["replicas"] = 5
    switched = _server_side(kubectl, manifest)
    assert switched.returncode == 0, switched.stderr  # fields of the last-applied configuration are handed over
    stored = call(api, "GET", _path(namespace)).json()
    assert stored["spec"]["replicas"] == 5
    assert "f:replicas" in _managers(stored)[("kubectl", "Apply")]["fieldsV1"]["f:spec"]
    last_applied = json.loads(stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last_applied["spec"]["replicas"] == 5  # kept in step for a later client-side apply
    other = dict(manifest, spec=dict(manifest["spec"], replicas=7))
    refused = _apply(api, namespace, other, "someone-else")  # the hand-over is kubectl's only
    assert_status(refused, 409, "Conflict")


def test_managed_fields_written_by_a_client_are_kept_and_an_empty_entry_resets_them(api, namespace):
    created = _apply(api, namespace, deployment(namespace, "web", app="web"), "one").json()
    handed = [dict(entry, manager="two") if entry["manager"] == "one" else entry
              for entry in created["metadata"]["managedFields"]]
    patched = call(api, "PATCH", _path(namespace), content_type="application/json-patch+json",
                   body=[{"op": "replace", "path": "/metadata/managedFields", "value": handed}]).json()
    assert ("two", "Apply") in _managers(patched) and ("one", "Apply") not in _managers(patched)
    reset = call(api, "PATCH", _path(namespace), content_type="application/json-patch+json",
                 body=[{"op": "replace", "path": "/metadata/managedFields", "value": [{}]}]).json()
    assert "managedFields" not in reset["metadata"]
