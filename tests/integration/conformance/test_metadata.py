"""Metadata the server sets, read through pykube-ng and kubectl.

Covers: uid is a fresh UUID (a client's uid is wiped); resourceVersion is a decimal
string from one counter shared by every kind and namespace, increasing with each write;
a list's resourceVersion is at least its newest item's; creationTimestamp is RFC 3339 UTC
whole seconds and kept across updates; generation starts at 1 and moves only on spec
changes (not on label changes) for TrafficSplits and Deployments, and is never set on
Namespaces; Namespaces get the kubernetes.io/metadata.name label; a write that changes
nothing keeps the resourceVersion (pykube update, merge patch, `kubectl patch` prints
"patched (no change)"); `kubectl label` bumps the resourceVersion but not the generation;
POST with a resourceVersion set is refused.
"""
from __future__ import annotations

import json
import re
import uuid

import pykube

from tests.integration.conformance.support import (MERGE_PATCH, SPLIT_GROUP, call, create,
                                                   deployment, object_path, resource_version,
                                                   service, split_path, traffic_split)

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def split_class(api: pykube.HTTPClient) -> type:
    return pykube.object_factory(api, f"{SPLIT_GROUP}/v1alpha4", "TrafficSplit")


def test_create_sets_uid_resource_version_timestamp_and_generation(api, namespace):
    manifest = traffic_split(namespace, "web")
    manifest["metadata"]["uid"] = "client-chosen"
    manifest["metadata"]["generation"] = 7
    split = split_class(api)(api, manifest)
    split.create()
    meta = split.obj["metadata"]
    assert str(uuid.UUID(meta["uid"])) == meta["uid"]
    assert re.fullmatch(r"[1-9]\d*", meta["resourceVersion"])
    assert TIMESTAMP.fullmatch(meta["creationTimestamp"])
    assert meta["generation"] == 1
    other = create(api, traffic_split(namespace, "other"))
    assert other["metadata"]["uid"] != meta["uid"]


def test_resource_versions_come_from_one_counter_across_kinds_and_namespaces(api, namespace):
    other_namespace = create(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{namespace}-b"}})
    versions = [resource_version(other_namespace)]
    versions.append(resource_version(create(api, traffic_split(namespace, "a"))))
    versions.append(resource_version(create(api, service(f"{namespace}-b", "svc", app="web"))))
    versions.append(resource_version(create(api, deployment(namespace, "web", app="web"))))
    versions.append(resource_version(create(api, traffic_split(f"{namespace}-b", "a"))))
    assert versions == sorted(versions) and len(set(versions)) == len(versions), versions
    listing = call(api, "GET", split_path(None)).json()
    assert int(listing["metadata"]["resourceVersion"]) >= versions[-1]


def test_spec_change_bumps_generation_and_label_change_does_not(api, namespace):
    split = split_class(api)(api, traffic_split(namespace, "web"))
    split.create()
    first = resource_version(split.obj)
    split.obj["metadata"]["labels"]["team"] = "web"
    split.update()
    assert split.obj["metadata"]["generation"] == 1
    second = resource_version(split.obj)
    assert second > first
    split.obj["spec"]["backends"][0]["weight"] = 0
    split.obj["spec"]["backends"][1]["weight"] = 1
    split.update()
    assert split.obj["metadata"]["generation"] == 2
    assert resource_version(split.obj) > second


def test_creation_timestamp_and_uid_are_kept_across_updates(api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    patched = call(api, "PATCH", object_path(stored), body={"spec": {"service": "web-apex"}},
                   content_type=MERGE_PATCH).json()
    assert patched["metadata"]["creationTimestamp"] == stored["metadata"]["creationTimestamp"]
    assert patched["metadata"]["uid"] == stored["metadata"]["uid"]


def test_deployment_generation_follows_spec_changes_only(api, namespace):
    stored = create(api, deployment(namespace, "web", app="web", replicas=1))
    assert stored["metadata"]["generation"] == 1
    labelled = call(api, "PATCH", object_path(stored), body={"metadata": {"labels": {"x": "y"}}},
                    content_type=MERGE_PATCH).json()
    assert labelled["metadata"]["generation"] == 1
    scaled = call(api, "PATCH", object_path(stored), body={"spec": {"replicas": 3}},
                  content_type=MERGE_PATCH).json()
    assert scaled["metadata"]["generation"] == 2


def test_namespace_has_no_generation_and_carries_its_name_label(api, namespace):
    stored = call(api, "GET", f"/api/v1/namespaces/{namespace}").json()
    assert "generation" not in stored["metadata"]
    assert stored["metadata"]["labels"]["kubernetes.io/metadata.name"] == namespace
    assert stored["status"]["phase"] == "Active"


def test_write_that_changes_nothing_keeps_the_resource_version(api, namespace):
    split = split_class(api)(api, traffic_split(namespace, "web", labels={"team": "web"}))
    split.create()
    before = split.obj["metadata"]["resourceVersion"]
    split.update()
    assert split.obj["metadata"]["resourceVersion"] == before
    response = call(api, "PATCH", object_path(split.obj), body={"metadata": {"labels": {"team": "web"}}},
                    content_type=MERGE_PATCH)
    assert response.status_code == 200
    assert response.json()["metadata"]["resourceVersion"] == before
    put = call(api, "PUT", object_path(split.obj), body=split.obj)
    assert put.status_code == 200
    assert put.json()["metadata"]["resourceVersion"] == before


def test_kubectl_patch_without_change_prints_no_change(kubectl, api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    code, out, err = kubectl("-n", namespace, "patch", "ts", "web", "--type=merge",
                             "-p", '{"spec":{"service":"web-svc"}}')
    assert code == 0, err
    assert out.strip() == "trafficsplit.split.smi-spec.io/web patched (no change)"
    after = call(api, "GET", object_path(stored)).json()
    assert after["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


def test_kubectl_label_bumps_resource_version_but_not_generation(kubectl, api, namespace):
    stored = create(api, traffic_split(namespace, "web"))
    code, out, err = kubectl("-n", namespace, "label", "ts", "web", "tier=edge")
    assert code == 0, err
    assert out.strip() == "trafficsplit.split.smi-spec.io/web labeled"
    code, out, err = kubectl("-n", namespace, "get", "ts", "web", "-o", "json")
    assert code == 0, err
    labelled = json.loads(out)
    assert labelled["metadata"]["labels"]["tier"] == "edge"
    assert resource_version(labelled) > resource_version(stored)
    assert labelled["metadata"]["generation"] == 1


def test_create_with_a_resource_version_is_refused(api, namespace):
    manifest = traffic_split(namespace, "web")
    manifest["metadata"]["resourceVersion"] = "5"
    response = call(api, "POST", split_path(namespace), body=manifest)
    assert response.status_code == 500, response.text
    assert response.json()["message"] == "resourceVersion should not be set on objects to be created"
