"""TrafficSplit served at split.smi-spec.io v1alpha1..v1alpha4: one stored object.

Covers: an object created at v1alpha4 is read (GET and LIST) at every version with the
same name, uid and resourceVersion and the requested apiVersion; v1alpha1 serves weights
as Quantity strings and v1alpha2+ as integers; an object written at v1alpha1 with
Quantity weights reads back as integers at v1alpha4; a change through one version is seen
through every other; kubectl resolves `ts` to v1alpha4 and reads an explicit version
(`trafficsplits.v1alpha1.split.smi-spec.io`); pykube classes for two versions see one object.
"""
from __future__ import annotations

import json
import re

import pykube

from tests.integration.conformance.support import (MERGE_PATCH, SPLIT_GROUP, SPLIT_VERSIONS, call,
                                                   create, split_path, traffic_split)

SUFFIXES = {"": 1, "m": 0.001, "k": 1000, "M": 1_000_000}


def quantity(value: str | int) -> float:
    """The numeric value of a Kubernetes Quantity as v1alpha1 serves it."""
    assert isinstance(value, str), f"v1alpha1 weight should be a Quantity string, got {value!r}"
    number, suffix = re.fullmatch(r"(\d+(?:\.\d+)?)([mkM]?)", value).groups()
    return float(number) * SUFFIXES[suffix]


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


def test_v1alpha1_serves_weights_as_quantities_and_later_versions_as_integers(api, namespace):
    create(api, traffic_split(namespace, "web", weights={"web-svc": 900, "web-svc-east": 100}))
    old = call(api, "GET", split_path(namespace, "web", "v1alpha1")).json()
    assert [quantity(b["weight"]) for b in old["spec"]["backends"]] == [900, 100]
    for version in ("v1alpha2", "v1alpha3", "v1alpha4"):
        new = call(api, "GET", split_path(namespace, "web", version)).json()
        assert [b["weight"] for b in new["spec"]["backends"]] == [900, 100], version


def test_object_written_at_v1alpha1_with_quantities_reads_as_integers(api, namespace):
    manifest = traffic_split(namespace, "web", version="v1alpha1")
    manifest["spec"]["backends"] = [{"service": "web-svc", "weight": "1"},
                                    {"service": "web-svc-east", "weight": "0"}]
    response = call(api, "POST", split_path(namespace, version="v1alpha1"), body=manifest)
    assert response.status_code == 201, response.text
    new = call(api, "GET", split_path(namespace, "web", "v1alpha4")).json()
    assert [(b["service"], b["weight"]) for b in new["spec"]["backends"]] == [("web-svc", 1), ("web-svc-east", 0)]


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
