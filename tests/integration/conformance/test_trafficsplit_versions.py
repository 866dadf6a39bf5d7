"""TrafficSplit served at split.smi-spec.io v1alpha1..v1alpha4: one stored object.

Covers: an object created at v1alpha4 is read (GET and LIST) at every version with the
same name, uid and resourceVersion and the requested apiVersion; conversion None, as the
upstream CRD: integer weights written at v1alpha2 read back as the same integers at
v1alpha1, Quantity weights written at v1alpha1 read back unchanged at v1alpha4, and
v1alpha2's schema rejects a Quantity weight; a change through one version is seen through
every other; kubectl resolves `ts` to v1alpha4 and reads an explicit version
(`trafficsplits.v1alpha1.split.smi-spec.io`); pykube classes for two versions see one object.
"""
from __future__ import annotations

import json

import pykube

from tests.integration.conformance.support import (MERGE_PATCH, SPLIT_GROUP, SPLIT_VERSIONS, call,
                                                   create, split_path, traffic_split)

def test_one_object_is_served_at_every_version(api, namespace):
    stored = create(api, traffic_split(namespace, "web", weights={"web-svc": 900, "web-svc-east": 100}))
    for version in SPLIT_VERSIONS:
        response = call(api, "GET", split_path(namespace, "web", version))
        assert response.status_code == 200, (version, response.text)
        served = response.json()
        assert served["apiVersion"] == f"{SPLIT_GROUP}/{version}"
        assert served["kind"] == "TrafficSplit"
        for key in ("name", "uid", "resourceVersion", "creationTimestamp"):
            assert served["metadata"][key] == stored["metadata"][key], (version, key)
        listed = call(api, "GET", split_path(namespace, version=version)).json()
        assert [item["metadata"]["uid"] for item in listed["items"]] == [stored["metadata"]["uid"]]
        assert listed["items"][0]["apiVersion"] == f"{SPLIT_GROUP}/{version}"


def test_integer_weights_written_at_v1alpha2_read_back_as_the_same_integers_at_v1alpha1(api, namespace):
    manifest = traffic_split(namespace, "web", version="v1alpha2", weights={"web-svc": 900, "web-svc-east": 100})
    assert call(api, "POST", split_path(namespace, version="v1alpha2"), body=manifest).status_code == 201
    old = call(api, "GET", split_path(namespace, "web", "v1alpha1")).json()
    assert old["apiVersion"] == f"{SPLIT_GROUP}/v1alpha1"
    assert [b["weight"] for b in old["spec"]["backends"]] == [900, 100]


def test_quantity_weights_written_at_v1alpha1_read_back_unchanged_at_v1alpha4(api, namespace):
    manifest = traffic_split(namespace, "web", version="v1alpha1")
    manifest["spec"]["backends"] = [{"service": "web-svc", "weight": "500m"},
                                    {"service": "web-svc-east", "weight": "1"}]
    response = call(api, "POST", split_path(namespace, version="v1alpha1"), body=manifest)
    assert response.status_code == 201, response.text
    new = call(api, "GET", split_path(namespace, "web", "v1alpha4")).json()
    assert [(b["service"], b["weight"]) for b in new["spec"]["backends"]] == [("web-svc", "500m"),
                                                                             ("web-svc-east", "1")]


def test_v1alpha2_rejects_quantity_weights_that_v1alpha1_accepts(api, namespace):
    manifest = traffic_split(namespace, "web", version="v1alpha2")
    manifest["spec"]["backends"] = [{"service": "web-svc", "weight": "500m"}]
    response = call(api, "POST", split_path(namespace, version="v1alpha2"), body=manifest)
    assert response.status_code == 422, response.text
    assert response.json()["details"]["causes"][0]["field"] == "spec.backends[0].weight"


def test_change_through_one_version_is_seen_through_all(api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    patch = {"spec": {"backends": [{"service": "web-svc", "weight": 0}, {"service": "web-svc-east", "weight": 1}]}}
    patched = call(api, "PATCH", split_path(namespace, "web", "v1alpha2"), body=patch, content_type=MERGE_PATCH)
    assert patched.status_code == 200, patched.text
    for version in ("v1alpha3", "v1alpha4"):
        served = call(api, "GET", split_path(namespace, "web", version)).json()
        assert [b["weight"] for b in served["spec"]["backends"]] == [0, 1]
        assert served["metadata"]["resourceVersion"] == patched.json()["metadata"]["resourceVersion"]
        assert served["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"]


def test_kubectl_reads_ts_at_v1alpha4_and_at_an_explicit_version(kubectl, api, namespace):
    create(api, traffic_split(namespace, "web"))
    code, out, err = kubectl("-n", namespace, "get", "ts", "web", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["apiVersion"] == f"{SPLIT_GROUP}/v1alpha4"
    code, out, err = kubectl("-n", namespace, "get", f"trafficsplits.v1alpha1.{SPLIT_GROUP}", "web", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["apiVersion"] == f"{SPLIT_GROUP}/v1alpha1"


def test_pykube_classes_for_two_versions_see_one_object(api, namespace):
    new_class = pykube.object_factory(api, f"{SPLIT_GROUP}/v1alpha4", "TrafficSplit")
    old_class = pykube.object_factory(api, f"{SPLIT_GROUP}/v1alpha2", "TrafficSplit")
    new_class(api, traffic_split(namespace, "web")).create()
    old = old_class.objects(api, namespace=namespace).get(name="web")
    assert old.obj["apiVersion"] == f"{SPLIT_GROUP}/v1alpha2"
    old.obj["spec"]["service"] = "apex"
    old.update()
    assert new_class.objects(api, namespace=namespace).get(name="web").obj["spec"]["service"] == "apex"
