"""CustomResourceDefinitions through the API, as kube-apiserver serves them.

Covers: every cluster starts with the TrafficSplit, HTTPRoute/GRPCRoute and Linkerd HTTPRoute
CRDs, Established and NamesAccepted (and, in the protected *.k8s.io groups,
KubernetesAPIApprovalPolicyConformant); a CRD created through the API is served at once
(discovery /apis, the group and its version, REST paths, the short name through kubectl)
and answers its schema (422 with causes, unknown fields pruned, defaults); deleting a CRD
removes the kind (404, gone from discovery, its objects deleted); custom objects go with
their namespace; deleting the default
TrafficSplit CRD makes the kind 404; an invalid CRD is 422, as is one whose client-side
apply copy overflows the 256 KiB annotation limit (server-side apply works); a short name already taken is
NamesAccepted=False and not served; `kubectl apply -f` of an upstream-shaped Gateway API
HTTPRoute CRD replaces the default one and is served; `kubectl apply -f` of linkerd-smi's
TrafficSplit CRD (v1alpha1 and v1alpha2 only) over the default one is served as it says
(`ts` reads at v1alpha2, v1alpha4 is gone, a missing weight 422, an unknown field pruned, integer
weights written at v1alpha2 read back unchanged at v1alpha1); the official `kubernetes` client
creates a CRD and custom objects.
"""
from __future__ import annotations

import json
from pathlib import Path

import kubernetes
import pytest

from failsync.sandbox import Sandbox
from tests.helpers import wait_for
from tests.integration.conformance.support import assert_status, call
from tests.integration.conftest import Kubectl

FIXTURE = Path(__file__).parents[2] / "fixtures" / "crds" / "gateway-httproute-standard.yaml"
LINKERD_SMI = FIXTURE.with_name("linkerd-smi-trafficsplit.yaml")
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def widget_crd(plural: str = "widgets", short_names: tuple[str, ...] = ("wd",)) -> dict:
    """A small namespaced CRD with a structural schema, a printer column and a category."""
    kind = plural[:-1].capitalize()
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": plural, "kind": kind, "shortNames": list(short_names), "categories": ["all"]},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "additionalPrinterColumns": [{"name": "Size", "type": "integer",
                                                             "jsonPath": ".spec.size"}],
                               "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                   "spec": {"type": "object", "required": ["size"], "properties": {
                                       "size": {"type": "integer", "minimum": 1, "maximum": 10},
                                       "colour": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                                       "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}}}]}}


def widget(namespace: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def condition(crd: dict, kind: str) -> dict:
    return next(c for c in crd["status"]["conditions"] if c["type"] == kind)


@pytest.fixture
def fresh(tmp_path: Path):
    """A cluster of its own, for tests that remove the default CRDs; with kubectl and a pykube client."""
    from tests.integration.conftest import http_client

    with Sandbox(["fresh"]) as sandbox:
        yield sandbox, http_client(sandbox.kubeconfig), Kubectl(sandbox.kubeconfig, tmp_path / "cache")


def test_clusters_start_with_the_route_and_split_crds_established(api):
    names = {item["metadata"]["name"]: item for item in call(api, "GET", CRDS).json()["items"]}
    for name in ("trafficsplits.split.smi-spec.io", "httproutes.gateway.networking.k8s.io",
                 "grpcroutes.gateway.networking.k8s.io", "httproutes.policy.linkerd.io"):
        assert condition(names[name], "Established")["status"] == "True", name
        assert condition(names[name], "NamesAccepted")["reason"] == "NoConflicts", name
    split = names["trafficsplits.split.smi-spec.io"]
    assert [v["name"] for v in split["spec"]["versions"]] == ["v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"]
    assert split["spec"]["conversion"] == {"strategy": "None"}
    assert split["status"]["storedVersions"] == ["v1alpha1"]
    routes = names["httproutes.gateway.networking.k8s.io"]
    assert {v["name"]: v["storage"] for v in routes["spec"]["versions"]} == {"v1": True, "v1beta1": False}
    assert condition(routes, "KubernetesAPIApprovalPolicyConformant")["reason"] == "ApprovedAnnotation"
    assert "KubernetesAPIApprovalPolicyConformant" not in {c["type"] for c in split["status"]["conditions"]}
    linkerd = names["httproutes.policy.linkerd.io"]
    assert {v["name"] for v in linkerd["spec"]["versions"]} == {"v1beta2", "v1beta3"}


def test_a_crd_created_through_the_api_is_served_at_once(api, kubectl, namespace):
    created = call(api, "POST", CRDS, body=widget_crd())
    assert created.status_code == 201, created.text
    try:
        stored = call(api, "GET", f"{CRDS}/widgets.example.com").json()
        assert condition(stored, "Established")["status"] == "True"
        assert stored["status"]["acceptedNames"]["shortNames"] == ["wd"]
        groups = call(api, "GET", "/apis").json()["groups"]
        assert {"name": "example.com", "versions": [{"groupVersion": "example.com/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "example.com/v1", "version": "v1"}} in groups
        listed = call(api, "GET", "/apis/example.com/v1").json()["resources"]
        assert [(r["name"], r["kind"], r["shortNames"], r["categories"]) for r in listed] == [
            ("widgets", "Widget", ["wd"], ["all"])]
        response = call(api, "POST", f"/apis/example.com/v1/namespaces/{namespace}/widgets",
                        body=widget(namespace, "w1", {"size": 3, "stray": True, "extra": {"anything": 1}}))
        assert response.status_code == 201, response.text
        assert response.json()["spec"] == {"size": 3, "colour": "red", "extra": {"anything": 1}}
        code, out, err = kubectl("-n", namespace, "get", "wd", "w1", "-o", "json")
        assert code == 0, err
        assert json.loads(out)["spec"]["size"] == 3
    finally:
        call(api, "DELETE", f"{CRDS}/widgets.example.com")


def test_a_custom_object_that_breaks_its_schema_is_422_with_causes(api, namespace):
    assert call(api, "POST", CRDS, body=widget_crd("gadgets", ("gd",))).status_code == 201
    try:
        path = f"/apis/example.com/v1/namespaces/{namespace}/gadgets"
        bad = dict(widget(namespace, "g1", {"size": 11, "colour": "green"}), kind="Gadget")
        status = assert_status(call(api, "POST", path, body=bad), 422, "Invalid")
        assert status["message"] == (
            'Gadget.example.com "g1" is invalid: [spec.size: Invalid value: 11: spec.size in body should be less '
            'than or equal to 10, spec.colour: Unsupported value: "green": supported values: "red", "blue"]')
        assert [(c["field"], c["reason"]) for c in status["details"]["causes"]] == [
            ("spec.size", "FieldValueInvalid"), ("spec.colour", "FieldValueNotSupported")]
        missing = dict(widget(namespace, "g2", {}), kind="Gadget")
        status = assert_status(call(api, "POST", path, body=missing), 422, "Invalid")
        assert status["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value",
                                                "field": "spec.size"}]
    finally:
        call(api, "DELETE", f"{CRDS}/gadgets.example.com")


def test_deleting_a_crd_removes_its_kind_and_objects(api, kubectl, namespace):
    assert call(api, "POST", CRDS, body=widget_crd("doodads", ("dd",))).status_code == 201
    path = f"/apis/example.com/v1/namespaces/{namespace}/doodads"
    assert call(api, "POST", path, body=dict(widget(namespace, "d1", {"size": 1}), kind="Doodad")).status_code == 201
    deleted = call(api, "DELETE", f"{CRDS}/doodads.example.com")
    assert deleted.status_code == 200, deleted.text
    assert call(api, "GET", f"{path}/d1").status_code == 404
    assert call(api, "GET", "/apis/example.com/v1").status_code == 404
    assert "example.com" not in {g["name"] for g in call(api, "GET", "/apis").json()["groups"]}
    assert_status(call(api, "GET", f"{CRDS}/doodads.example.com"), 404, "NotFound")
    code, _, err = kubectl("-n", namespace, "get", "doodads")
    assert code != 0 and "doesn't have a resource type" in err, err


def test_deleting_the_trafficsplit_crd_makes_the_kind_404(fresh):
    sandbox, client, kubectl = fresh
    assert call(client, "DELETE", f"{CRDS}/trafficsplits.split.smi-spec.io").status_code == 200
    assert call(client, "GET", "/apis/split.smi-spec.io/v1alpha4/namespaces/default/trafficsplits").status_code == 404
    assert "split.smi-spec.io" not in {g["name"] for g in call(client, "GET", "/apis").json()["groups"]}
    code, _, err = kubectl("get", "trafficsplits")
    assert code != 0 and "doesn't have a resource type" in err, err


def test_an_invalid_crd_is_422(api):
    crd = widget_crd("things")
    crd["metadata"]["name"] = "stuff.example.com"
    crd["spec"]["versions"][0]["storage"] = False
    status = assert_status(call(api, "POST", CRDS, body=crd), 422, "Invalid")
    fields = [c["field"] for c in status["details"]["causes"]]
    assert fields == ["metadata.name", "spec.versions"], status
    assert status["message"].startswith('CustomResourceDefinition.apiextensions.k8s.io "stuff.example.com" is '
                                        'invalid: [metadata.name: Invalid value: "stuff.example.com": must be '
                                        'spec.names.plural+"."+spec.group')


def test_a_crd_too_large_for_client_side_apply_is_refused_as_on_a_cluster(fresh, tmp_path):
    sandbox, client, kubectl = fresh
    crd = widget_crd("bulkies", ("bk",))
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["description"] = "x" * 270_000
    manifest = tmp_path / "big.json"
    manifest.write_text(json.dumps(crd))
    code, _, err = kubectl("apply", "-f", str(manifest))
    assert code != 0
    assert "metadata.annotations: Too long: may not be more than 262144 bytes" in err, err
    code, out, err = kubectl("apply", "--server-side", "-f", str(manifest))
    assert code == 0, err


def test_a_short_name_already_taken_is_not_accepted_nor_served(api):
    crd = widget_crd("splitters", ("ts",))
    crd["spec"]["group"] = "split.smi-spec.io"
    crd["metadata"]["name"] = "splitters.split.smi-spec.io"
    crd["spec"]["versions"][0]["name"] = "v1alpha4"
    assert call(api, "POST", CRDS, body=crd).status_code == 201
    try:
        stored = call(api, "GET", f"{CRDS}/splitters.split.smi-spec.io").json()
        assert condition(stored, "NamesAccepted") | {"lastTransitionTime": ""} == {
            "type": "NamesAccepted", "status": "False", "reason": "ShortNamesConflict",
            "message": '"ts" is already in use', "lastTransitionTime": ""}
        assert condition(stored, "Established")["status"] == "False"
        assert call(api, "GET", "/apis/split.smi-spec.io/v1alpha4/splitters").status_code == 404
    finally:
        call(api, "DELETE", f"{CRDS}/splitters.split.smi-spec.io")


def test_kubectl_apply_of_an_upstream_shaped_httproute_crd_is_served(fresh):
    sandbox, client, kubectl = fresh
    assert call(client, "DELETE", f"{CRDS}/httproutes.gateway.networking.k8s.io").status_code == 200
    code, out, err = kubectl("apply", "-f", str(FIXTURE))
    assert code == 0, err
    assert "customresourcedefinition.apiextensions.k8s.io/httproutes.gateway.networking.k8s.io created" in out
    wait_for(lambda: call(client, "GET", "/apis/gateway.networking.k8s.io/v1beta1").status_code == 200,
             timeout=1, message="the applied CRD to be served")
    code, out, err = kubectl("wait", "--for=condition=Established", "--timeout=5s",
                             "crd/httproutes.gateway.networking.k8s.io")
    assert code == 0, err
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "web", "namespace": "default"},
             "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "web-svc", "port": 80}],
                      "rules": [{"backendRefs": [{"name": "web-svc", "port": 80, "colour": "red"},
                                                 {"name": "web-svc-east", "port": 80, "weight": 0}]}]}}
    code, out, err = kubectl("apply", "-f", "-", input=json.dumps(route))
    assert code != 0
    assert ('HTTPRoute in version "v1" cannot be handled as a HTTPRoute: strict decoding error: unknown field '
            '"spec.rules[0].backendRefs[0].colour"') in err, err
    code, out, err = kubectl("apply", "--validate=warn", "-f", "-", input=json.dumps(route))
    assert code == 0, err
    assert 'Warning: unknown field "spec.rules[0].backendRefs[0].colour"' in err, err
    stored = call(client, "GET", "/apis/gateway.networking.k8s.io/v1beta1/namespaces/default/httproutes/web").json()
    assert stored["spec"]["rules"] == [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [
        {"group": "", "kind": "Service", "name": "web-svc", "port": 80, "weight": 1},
        {"group": "", "kind": "Service", "name": "web-svc-east", "port": 80, "weight": 0}]}]
    route["metadata"]["name"] = "heavy"
    route["spec"]["rules"][0]["backendRefs"][0] = {"name": "web-svc", "port": 80, "weight": 2_000_000}
    code, out, err = kubectl("apply", "-f", "-", input=json.dumps(route))
    assert code != 0
    assert ('The HTTPRoute "heavy" is invalid: spec.rules[0].backendRefs[0].weight: Invalid value: 2000000: '
            'spec.rules[0].backendRefs[0].weight in body should be less than or equal to 1000000') in err, err


def test_kubectl_apply_of_linkerd_smis_trafficsplit_crd_is_served_as_it_says(fresh):
    sandbox, client, kubectl = fresh
    code, out, err = kubectl("apply", "-f", str(LINKERD_SMI))
    assert code == 0, err
    assert out.strip() == "customresourcedefinition.apiextensions.k8s.io/trafficsplits.split.smi-spec.io configured"
    wait_for(lambda: call(client, "GET", "/apis/split.smi-spec.io/v1alpha4").status_code == 404, timeout=1,
             message="v1alpha4 to stop being served")
    group = call(client, "GET", "/apis/split.smi-spec.io").json()
    assert [v["version"] for v in group["versions"]] == ["v1alpha2", "v1alpha1"]
    assert group["preferredVersion"]["version"] == "v1alpha2"
    split = {"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
             "metadata": {"name": "web", "namespace": "default"},
             "spec": {"service": "web-svc", "backends": [{"service": "web-svc", "weight": 900, "colour": "red"},
                                                         {"service": "web-svc-east"}]}}
    code, out, err = kubectl("apply", "--validate=warn", "-f", "-", input=json.dumps(split))
    assert code != 0
    assert 'The TrafficSplit "web" is invalid: spec.backends[1].weight: Required value' in err, err
    split["spec"]["backends"][1]["weight"] = 100
    code, out, err = kubectl("apply", "--validate=warn", "-f", "-", input=json.dumps(split))
    assert code == 0, err
    assert 'Warning: unknown field "spec.backends[0].colour"' in err, err
    # kubectl's discovery cache still lists v1alpha4 (as it would against a cluster); a fresh one reads v1alpha2
    code, out, err = Kubectl(sandbox.kubeconfig, kubectl.cache_dir.with_name("after"))("get", "ts", "web", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["apiVersion"] == "split.smi-spec.io/v1alpha2"
    old = call(client, "GET", "/apis/split.smi-spec.io/v1alpha1/namespaces/default/trafficsplits/web").json()
    assert old["spec"]["backends"] == [{"service": "web-svc", "weight": 900},
                                       {"service": "web-svc-east", "weight": 100}]


def test_the_official_client_creates_a_crd_and_custom_objects(sandbox, namespace):
    client = kubernetes.config.new_client_from_config(str(sandbox.kubeconfig))
    extensions = kubernetes.client.ApiextensionsV1Api(client)
    custom = kubernetes.client.CustomObjectsApi(client)
    extensions.create_custom_resource_definition(widget_crd("sprockets", ("sp",)))
    try:
        crd = extensions.read_custom_resource_definition("sprockets.example.com")
        assert {c.type: c.status for c in crd.status.conditions} == {"NamesAccepted": "True", "Established": "True"}
        body = dict(widget(namespace, "s1", {"size": 2}), kind="Sprocket")
        created = custom.create_namespaced_custom_object("example.com", "v1", namespace, "sprockets", body)
        assert created["spec"] == {"size": 2, "colour": "red"}
        with pytest.raises(kubernetes.client.ApiException) as raised:
            custom.create_namespaced_custom_object("example.com", "v1", namespace, "sprockets",
                                                   dict(body, metadata={"name": "s2"}, spec={"size": 0}))
        assert raised.value.status == 422
        assert json.loads(raised.value.body)["details"]["causes"][0]["field"] == "spec.size"
    finally:
        extensions.delete_custom_resource_definition("sprockets.example.com")
    with pytest.raises(kubernetes.client.ApiException) as raised:
        custom.get_namespaced_custom_object("example.com", "v1", namespace, "sprockets", "s1")
    assert raised.value.status == 404


def test_custom_objects_go_with_their_namespace(api, namespace):
    path = f"/apis/split.smi-spec.io/v1alpha4/namespaces/{namespace}/trafficsplits"
    split = {"apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
             "metadata": {"name": "web", "namespace": namespace},
             "spec": {"service": "web-svc", "backends": [{"service": "web-svc", "weight": 1}]}}
    assert call(api, "POST", path, body=split).status_code == 201
    assert call(api, "DELETE", f"/api/v1/namespaces/{namespace}").status_code == 200
    wait_for(lambda: call(api, "GET", f"{path}/web").status_code == 404, timeout=5,
             message="the TrafficSplit to go with its namespace")
