"""Deletion as on a real cluster, driven by kubectl and the official `kubernetes` client.

Covers: a finalizer holds a DELETE (200 with the object, deletionTimestamp and
deletionGracePeriodSeconds 0; 202 only for orphanDependents=false), no new finalizer while
deleting (422), removal when the last finalizer goes; propagationPolicy validated (422
Invalid from DeleteOptions); garbage collection through ownerReferences in the background,
in the foreground (foregroundDeletion finalizer, blockOwnerDeletion holds the owner) and
orphaning (ownerReferences removed); a namespace goes Terminating with its conditions,
refuses new content (403 with the real message) and is removed after its contents.
"""
from __future__ import annotations

import kubernetes
import pytest

from tests.helpers import wait_for
from tests.integration.conformance.support import (MERGE_PATCH, SPLIT_GROUP, assert_status, call, create, deployment,
                                                   split_path, traffic_split)

HOLD = "example.com/hold"


@pytest.fixture(scope="module")
def client(sandbox) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(sandbox.kubeconfig), context="west")


def _split_with(namespace: str, name: str, *, finalizers=(), owners=()) -> dict:
    split = traffic_split(namespace, name)
    if finalizers:
        split["metadata"]["finalizers"] = list(finalizers)
    if owners:
        split["metadata"]["ownerReferences"] = list(owners)
    return split


def _owner(obj: dict, *, block: bool = False) -> dict:
    reference = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
                 "uid": obj["metadata"]["uid"]}
    if block:
        reference["blockOwnerDeletion"] = True
    return reference


def _gone(api, path: str) -> bool:
    return call(api, "GET", path).status_code == 404


def _release(api, path: str) -> None:
    response = call(api, "PATCH", path, body={"metadata": {"finalizers": None}}, content_type=MERGE_PATCH)
    assert response.status_code == 200, response.text


def test_a_finalizer_holds_a_delete_until_it_is_removed(api, namespace, client):
    custom = kubernetes.client.CustomObjectsApi(client)
    custom.create_namespaced_custom_object(SPLIT_GROUP, "v1alpha4", namespace, "trafficsplits",
                                           _split_with(namespace, "held", finalizers=[HOLD]))
    answer = custom.delete_namespaced_custom_object(SPLIT_GROUP, "v1alpha4", namespace, "trafficsplits", "held")
    assert answer["kind"] == "TrafficSplit" and answer["metadata"]["deletionTimestamp"]
    assert answer["metadata"]["deletionGracePeriodSeconds"] == 0 and answer["metadata"]["finalizers"] == [HOLD]
    held = custom.get_namespaced_custom_object(SPLIT_GROUP, "v1alpha4", namespace, "trafficsplits", "held")
    assert held["metadata"]["deletionTimestamp"] == answer["metadata"]["deletionTimestamp"]

    adding = call(api, "PATCH", split_path(namespace, "held"), content_type=MERGE_PATCH,
                  body={"metadata": {"finalizers": [HOLD, "example.com/more"]}})
    status = assert_status(adding, 422, "Invalid")
    assert "no new finalizers can be added if the object is being deleted" in status["message"]

    _release(api, split_path(namespace, "held"))
    assert _gone(api, split_path(namespace, "held"))


def test_delete_answers_202_only_when_orphan_dependents_is_false(api, namespace):
    create(api, _split_with(namespace, "accepted", finalizers=[HOLD]))
    response = call(api, "DELETE", split_path(namespace, "accepted"),
                    body={"kind": "DeleteOptions", "apiVersion": "v1", "orphanDependents": False})
    assert response.status_code == 202, response.text
    assert response.json()["metadata"]["deletionTimestamp"]
    _release(api, split_path(namespace, "accepted"))
    wait_for(lambda: _gone(api, split_path(namespace, "accepted")))


def test_a_bad_propagation_policy_is_invalid(api, namespace):
    create(api, traffic_split(namespace, "policy"))
    response = call(api, "DELETE", split_path(namespace, "policy"), body={"propagationPolicy": "Sideways"})
    assert_status(response, 422, "Invalid",
                  'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "Sideways": '
                  'supported values: "Foreground", "Background", "Orphan", "nil"')
    assert call(api, "GET", split_path(namespace, "policy")).status_code == 200


def test_background_deletion_collects_dependents(api, namespace, kubectl):
    owner = create(api, deployment(namespace, "owner", app="owner"))
    create(api, _split_with(namespace, "dependent", owners=[_owner(owner)]))
    other = create(api, deployment(namespace, "other", app="other"))
    create(api, _split_with(namespace, "shared", owners=[_owner(owner), _owner(other)]))

    result = kubectl("-n", namespace, "delete", "deployment", "owner")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: _gone(api, split_path(namespace, "dependent")), message="the dependent to be collected")
    shared = wait_for(lambda: (lambda obj: obj if len(obj["metadata"]["ownerReferences"]) == 1 else None)(
        call(api, "GET", split_path(namespace, "shared")).json()))
    assert shared["metadata"]["ownerReferences"][0]["uid"] == other["metadata"]["uid"]


def test_a_dependent_of_an_owner_that_does_not_exist_is_collected(api, namespace):
    ghost = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ghost",
                                                                       "uid": "00000000-0000-0000-0000-000000000000"}}
    create(api, _split_with(namespace, "haunted", owners=[_owner(ghost)]))
    wait_for(lambda: _gone(api, split_path(namespace, "haunted")), message="the orphaned dependent to be collected")


def test_foreground_deletion_waits_for_blocking_dependents(api, namespace, kubectl):
    owner = create(api, deployment(namespace, "front", app="front"))
    create(api, _split_with(namespace, "blocker", finalizers=[HOLD], owners=[_owner(owner, block=True)]))
    owner_path = f"/apis/apps/v1/namespaces/{namespace}/deployments/front"

    result = kubectl("-n", namespace, "delete", "deployment", "front", "--cascade=foreground", "--wait=false")
    assert result.returncode == 0, result.stderr
    waiting = call(api, "GET", owner_path).json()
    assert waiting["metadata"]["deletionTimestamp"] and "foregroundDeletion" in waiting["metadata"]["finalizers"]
    wait_for(lambda: call(api, "GET", split_path(namespace, "blocker")).json()["metadata"].get("deletionTimestamp"),
             message="the garbage collector to delete the dependent")
    assert call(api, "GET", owner_path).status_code == 200  # held by the blocking dependent

    _release(api, split_path(namespace, "blocker"))
    wait_for(lambda: _gone(api, split_path(namespace, "blocker")))
    wait_for(lambda: _gone(api, owner_path), message="the owner to go once its dependents are gone")


def test_orphan_deletion_keeps_dependents_and_removes_their_owner_references(api, namespace, kubectl):
    owner = create(api, deployment(namespace, "parent", app="parent"))
    create(api, _split_with(namespace, "orphaned", owners=[_owner(owner)]))
    result = kubectl("-n", namespace, "delete", "deployment", "parent", "--cascade=orphan")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: _gone(api, f"/apis/apps/v1/namespaces/{namespace}/deployments/parent"))
    orphan = call(api, "GET", split_path(namespace, "orphaned"))
    assert orphan.status_code == 200 and "ownerReferences" not in orphan.json()["metadata"]


def test_a_namespace_terminates_after_its_contents(api, kubectl, client):
    core = kubernetes.client.CoreV1Api(client)
    core.create_namespace({"metadata": {"name": "doomed"}})
    create(api, _split_with("doomed", "lingering", finalizers=[HOLD]))
    create(api, traffic_split("doomed", "plain"))

    result = kubectl("delete", "namespace", "doomed", "--wait=false")
    assert result.returncode == 0, result.stderr

    def terminating():
        namespace = core.read_namespace("doomed")
        conditions = {c.type: c for c in namespace.status.conditions or []}
        remaining = conditions.get("NamespaceFinalizersRemaining")
        return namespace if remaining is not None and remaining.status == "True" else None

    namespace = wait_for(terminating, message="the namespace to report its remaining finalizers")
    assert namespace.status.phase == "Terminating" and namespace.metadata.deletion_timestamp
    conditions = {c.type: c for c in namespace.status.conditions}
    assert conditions["NamespaceFinalizersRemaining"].message == (
        f"Some content in the namespace has finalizers remaining: {HOLD} in 1 resource instances")
    assert conditions["NamespaceContentRemaining"].reason == "SomeResourcesRemain"
    assert _gone(api, split_path("doomed", "plain"))
    assert kubectl("get", "namespace", "doomed", "-o", "jsonpath={.status.phase}").stdout == "Terminating"

    refused = call(api, "POST", split_path("doomed"), body=traffic_split("doomed", "late"))
    assert_status(refused, 403, "Forbidden",
                  'trafficsplits.split.smi-spec.io "late" is forbidden: unable to create new content in namespace '
                  "doomed because it is being terminated")
    created = kubectl("-n", "doomed", "create", "service", "clusterip", "late", "--tcp=80:80")
    assert created.returncode != 0 and "because it is being terminated" in created.stderr

    _release(api, split_path("doomed", "lingering"))
    wait_for(lambda: _gone(api, "/api/v1/namespaces/doomed"), message="the namespace to be removed")
