"""Discovery, as kubectl 1.32 and pykube-ng read it.

Covers: /version shape; /api, /apis, /apis/GROUP and /apis/G/V documents; complete
resource entries (name, singularName, namespaced, kind, verbs, shortNames); the
deployments/scale subresource (autoscaling/v1 Scale); TrafficSplit at v1alpha1..v1alpha4
with shortName ts and v1alpha4 preferred; HTTPRoute; the CRDs listed;
`kubectl api-resources` (trafficsplits ts), `kubectl api-versions`, `kubectl version`;
pykube object_factory resolving kinds through discovery; unknown resource types.
"""
from __future__ import annotations

import json
import re

import pykube

from tests.integration.conformance.support import SPLIT_GROUP, SPLIT_VERSIONS, call


def resource(api: pykube.HTTPClient, path: str, name: str) -> dict:
    response = call(api, "GET", path)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["kind"] == "APIResourceList"
    by_name = {entry["name"]: entry for entry in document["resources"]}
    assert name in by_name, sorted(by_name)
    return by_name[name]


def test_version_has_the_fields_kubectl_and_pykube_read(api):
    response = call(api, "GET", "/version")
    assert response.status_code == 200
    version = response.json()
    for key in ("major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate",
                "goVersion", "compiler", "platform"):
        assert key in version, key
    assert re.fullmatch(r"v\d+\.\d+\.\d+.*", version["gitVersion"])
    assert version["gitVersion"].startswith(f"v{version['major']}.{version['minor'].rstrip('+')}.")
    assert api.version == (version["major"], version["minor"])


def test_kubectl_version_reports_the_server_without_skew_warning(kubectl):
    code, out, err = kubectl("version", "-o", "json")
    assert code == 0, err
    server = json.loads(out)["serverVersion"]
    assert server["major"] == "1"
    assert "WARNING" not in err, err


def test_core_and_group_lists_are_legacy_discovery_documents(api):
    core = call(api, "GET", "/api").json()
    assert core["kind"] == "APIVersions" and core["versions"] == ["v1"]
    groups = call(api, "GET", "/apis").json()
    assert groups["kind"] == "APIGroupList"
    by_name = {group["name"]: group for group in groups["groups"]}
    for name in ("apps", "discovery.k8s.io", "coordination.k8s.io", "events.k8s.io",
                 "apiextensions.k8s.io", SPLIT_GROUP, "gateway.networking.k8s.io"):
        assert name in by_name, sorted(by_name)
    split = by_name[SPLIT_GROUP]
    assert {v["version"] for v in split["versions"]} == set(SPLIT_VERSIONS)
    assert all(v["groupVersion"] == f"{SPLIT_GROUP}/{v['version']}" for v in split["versions"])
    assert split["preferredVersion"] == {"groupVersion": f"{SPLIT_GROUP}/v1alpha4", "version": "v1alpha4"}
    group = call(api, "GET", f"/apis/{SPLIT_GROUP}").json()
    assert group["kind"] == "APIGroup" and group["name"] == SPLIT_GROUP


def test_trafficsplit_is_listed_with_shortname_ts_at_every_version(api):
    for version in SPLIT_VERSIONS:
        entry = resource(api, f"/apis/{SPLIT_GROUP}/{version}", "trafficsplits")
        assert entry["singularName"] == "trafficsplit"
        assert entry["namespaced"] is True
        assert entry["kind"] == "TrafficSplit"
        assert entry["shortNames"] == ["ts"]
        assert {"get", "list", "watch", "create", "update", "patch", "delete"} <= set(entry["verbs"])


def test_deployments_have_a_scale_subresource_of_kind_scale(api):
    deployments = resource(api, "/apis/apps/v1", "deployments")
    assert deployments["kind"] == "Deployment" and "deploy" in deployments["shortNames"]
    scale = resource(api, "/apis/apps/v1", "deployments/scale")
    assert scale["kind"] == "Scale"
    assert scale.get("group") == "autoscaling" and scale.get("version") == "v1"
    assert {"get", "patch", "update"} <= set(scale["verbs"])


def test_every_served_resource_entry_is_complete(api):
    paths = ["/api/v1", "/apis/apps/v1", "/apis/discovery.k8s.io/v1", "/apis/coordination.k8s.io/v1",
             "/apis/events.k8s.io/v1", "/apis/apiextensions.k8s.io/v1",
             "/apis/gateway.networking.k8s.io/v1"]
    expected = {"/api/v1": {"namespaces", "services", "endpoints", "events"},
                "/apis/apps/v1": {"deployments"},
                "/apis/discovery.k8s.io/v1": {"endpointslices"},
                "/apis/coordination.k8s.io/v1": {"leases"},
                "/apis/events.k8s.io/v1": {"events"},
                "/apis/apiextensions.k8s.io/v1": {"customresourcedefinitions"},
                "/apis/gateway.networking.k8s.io/v1": {"httproutes"}}
    for path in paths:
        document = call(api, "GET", path).json()
        assert document["groupVersion"] == path.removeprefix("/api/").removeprefix("/apis/")
        names = {entry["name"] for entry in document["resources"]}
        assert expected[path] <= names, (path, names)
        for entry in document["resources"]:
            assert {"name", "singularName", "namespaced", "kind", "verbs"} <= set(entry), entry


def test_kubectl_api_resources_lists_trafficsplits_as_ts(kubectl):
    code, out, err = kubectl("api-resources")
    assert code == 0, err
    rows = [line.split() for line in out.splitlines()]
    assert ["trafficsplits", "ts", f"{SPLIT_GROUP}/v1alpha4", "true", "TrafficSplit"] in rows, out
    assert ["deployments", "deploy", "apps/v1", "true", "Deployment"] in rows, out
    assert "unable to retrieve" not in err, err


def test_kubectl_api_versions_lists_every_trafficsplit_version(kubectl):
    code, out, err = kubectl("api-versions")
    assert code == 0, err
    for version in SPLIT_VERSIONS:
        assert f"{SPLIT_GROUP}/{version}" in out.split()


def test_trafficsplit_and_httproute_crds_are_listed(api, kubectl):
    crds = call(api, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions").json()
    names = {item["metadata"]["name"] for item in crds["items"]}
    assert {"trafficsplits.split.smi-spec.io", "httproutes.gateway.networking.k8s.io"} <= names
    code, out, err = kubectl("get", "crd", "trafficsplits.split.smi-spec.io", "-o", "json")
    assert code == 0, err
    crd = json.loads(out)
    assert crd["spec"]["names"]["shortNames"] == ["ts"]
    assert {v["name"] for v in crd["spec"]["versions"]} == set(SPLIT_VERSIONS)


def test_pykube_object_factory_resolves_kinds_through_discovery(api):
    split_class = pykube.object_factory(api, f"{SPLIT_GROUP}/v1alpha4", "TrafficSplit")
    assert split_class.endpoint == "trafficsplits"
    assert issubclass(split_class, pykube.objects.NamespacedAPIObject)
    slice_class = pykube.object_factory(api, "discovery.k8s.io/v1", "EndpointSlice")
    assert slice_class.endpoint == "endpointslices"


def test_kubectl_rejects_an_unknown_resource_type(kubectl):
    code, _, err = kubectl("get", "frobnicators")
    assert code != 0
    assert 'the server doesn\'t have a resource type "frobnicators"' in err, err
