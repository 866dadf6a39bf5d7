"""/openapi/v2 and /openapi/v3, so kubectl validates, applies, edits and explains as on a cluster.

Covers: /openapi/v2 answers the protobuf kubectl asks for (and JSON otherwise), with the
definitions of the built-in kinds (v1.32) and of every CRD version carrying their
x-kubernetes-group-version-kind; /openapi/v3 lists every served group/version with a hash
that changes when a CRD changes (and the new schema is what validates), and each document's PATCH operations take fieldValidation;
plain `kubectl apply` (custom and built-in kinds), `kubectl create`, `kubectl edit` and `kubectl explain
trafficsplit.spec` work without --validate=false (explain also from the protobuf v2
document); a CRD installed later is explained too; the official `kubernetes` client reads the v3
documents.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import kubernetes

from tests.integration.conformance.support import call, deployment, traffic_split

PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTOBUF_ANSWER = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def test_openapi_v2_is_protobuf_for_kubectl_and_json_otherwise(api):
    proto = call(api, "GET", "/openapi/v2", headers={"Accept": f"{PROTOBUF},application/json"})
    assert proto.status_code == 200 and proto.headers["Content-Type"] == PROTOBUF_ANSWER
    assert proto.content[:1] == b"\x0a" and b"io.k8s.api.apps.v1.Deployment" in proto.content
    document = call(api, "GET", "/openapi/v2", headers={"Accept": "application/json"}).json()
    assert document["swagger"] == "2.0"
    definitions = document["definitions"]
    assert definitions["io.k8s.api.apps.v1.DeploymentSpec"]["required"] == ["selector", "template"]
    split = definitions["io.smi-spec.split.v1alpha4.TrafficSplit"]
    assert split["x-kubernetes-group-version-kind"] == [
        {"group": "split.smi-spec.io", "kind": "TrafficSplit", "version": "v1alpha4"}]
    assert split["properties"]["spec"]["required"] == ["service", "backends"]
    assert "io.k8s.networking.gateway.v1.HTTPRoute" in definitions


def test_openapi_v3_lists_every_group_version_and_patch_takes_field_validation(api):
    root = call(api, "GET", "/openapi/v3").json()["paths"]
    for path in ("api/v1", "apis/apps/v1", "apis/split.smi-spec.io/v1alpha1", "apis/gateway.networking.k8s.io/v1",
                 "apis/policy.linkerd.io/v1beta3", "apis/apiextensions.k8s.io/v1"):
        assert root[path]["serverRelativeURL"].startswith(f"/openapi/v3/{path}?hash="), path
    document = call(api, "GET", root["apis/split.smi-spec.io/v1alpha4"]["serverRelativeURL"]).json()
    item = document["paths"]["/apis/split.smi-spec.io/v1alpha4/namespaces/{namespace}/trafficsplits/{name}"]
    assert item["patch"]["x-kubernetes-group-version-kind"] == {"group": "split.smi-spec.io",
                                                                "kind": "TrafficSplit", "version": "v1alpha4"}
    assert "fieldValidation" in {p["name"] for p in item["patch"]["parameters"]}
    assert "application/strategic-merge-patch+json" not in item["patch"]["requestBody"]["content"]
    schema = document["components"]["schemas"]["io.smi-spec.split.v1alpha4.TrafficSplit"]
    assert schema["properties"]["spec"]["properties"]["matches"]["items"]["required"] == ["kind", "name"]
    assert call(api, "GET", "/openapi/v3/apis/nothing.example.com/v1").status_code == 404


def test_the_v3_hash_changes_when_a_crd_changes(sandbox, api):
    from tests.integration.conformance.test_crds import CRDS, widget_crd

    assert "apis/example.com/v1" not in call(api, "GET", "/openapi/v3").json()["paths"]
    assert call(api, "POST", CRDS, body=widget_crd("gizmos", ("gz",))).status_code == 201
    try:
        first = call(api, "GET", "/openapi/v3").json()["paths"]["apis/example.com/v1"]["serverRelativeURL"]
        crd = call(api, "GET", f"{CRDS}/gizmos.example.com").json()
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"][
            "maximum"] = 20
        assert call(api, "PUT", f"{CRDS}/gizmos.example.com", body=crd).status_code == 200
        second = call(api, "GET", "/openapi/v3").json()["paths"]["apis/example.com/v1"]["serverRelativeURL"]
        assert first != second
        schema = call(api, "GET", second).json()["components"]["schemas"]["com.example.v1.Gizmo"]
        assert schema["properties"]["spec"]["properties"]["size"]["maximum"] == 20
        gizmo = {"apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}, "spec": {"size": 15}}
        assert call(api, "POST", "/apis/example.com/v1/namespaces/default/gizmos", body=gizmo).status_code == 201
    finally:
        call(api, "DELETE", f"{CRDS}/gizmos.example.com")


def test_kubectl_explain_reads_the_crd_schemas(kubectl):
    code, out, err = kubectl("explain", "trafficsplit.spec")
    assert code == 0, err
    assert "KIND:       TrafficSplit" in out and "VERSION:    v1alpha4" in out
    assert "backends\t<[]Object> -required-" in out and "The apex service of this split." in out
    code, out, err = kubectl("explain", "httproutes.spec.rules.backendRefs.weight")
    assert code == 0, err
    assert "FIELD: weight <integer>" in out
    code, out, err = kubectl("explain", "deployment.spec.replicas")
    assert code == 0, err
    assert "Number of desired pods" in out


def test_kubectl_reads_the_protobuf_v2_document(kubectl):
    code, out, err = kubectl("explain", "trafficsplit.spec.backends", "--output=plaintext-openapiv2")
    assert code == 0, err
    assert "VERSION:  split.smi-spec.io/v1alpha4" in out and "weight\t<integer> -required-" in out


def test_plain_kubectl_apply_and_create_validate_without_the_flag(kubectl, api, namespace):
    code, out, err = kubectl("apply", "-f", "-", input=json.dumps(traffic_split(namespace, "web")))
    assert code == 0, err
    assert out.strip() == "trafficsplit.split.smi-spec.io/web created"
    code, out, err = kubectl("apply", "-f", "-", input=json.dumps(deployment(namespace, "web", app="web")))
    assert code == 0, err
    code, out, err = kubectl("apply", "-f", "-", input=json.dumps(deployment(namespace, "web", app="web", replicas=3)))
    assert code == 0 and out.strip() == "deployment.apps/web configured", err
    code, out, err = kubectl("create", "namespace", f"{namespace}-extra")
    assert code == 0 and out.strip() == f"namespace/{namespace}-extra created", err


def test_kubectl_edit_saves_through_the_validating_server(kubectl, api, namespace, tmp_path: Path):
    kubectl("apply", "-f", "-", input=json.dumps(traffic_split(namespace, "web")))
    editor = tmp_path / "editor.py"
    editor.write_text("import re, sys\np = sys.argv[1]\ntext = open(p).read()\n"
                      "open(p, 'w').write(re.sub(r'(?m)^  service: web-svc$', '  service: apex', text))\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    environment = {**os.environ, "KUBE_EDITOR": f"{sys.executable} {editor}"}
    done = subprocess.run(kubectl.command(("-n", namespace, "edit", "trafficsplit", "web")), env=environment,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "trafficsplit.split.smi-spec.io/web edited" in done.stdout
    stored = call(api, "GET", f"/apis/split.smi-spec.io/v1alpha4/namespaces/{namespace}/trafficsplits/web").json()
    assert stored["spec"]["service"] == "apex"


def test_the_official_client_reads_the_v3_documents(sandbox):
    client = kubernetes.config.new_client_from_config(config_file=str(sandbox.kubeconfig), context="west")

    def get(path: str, query: list[tuple[str, str]] | None = None) -> dict:
        response = client.call_api(*client.param_serialize("GET", path, query_params=query,
                                                           auth_settings=["BearerToken"]))
        assert response.status == 200
        return json.loads(response.read())

    relative = get("/openapi/v3")["paths"]["apis/split.smi-spec.io/v1alpha2"]["serverRelativeURL"]
    path, _, query = relative.partition("?")
    document = get(path, [tuple(query.split("=", 1))])
    spec = document["components"]["schemas"]["io.smi-spec.split.v1alpha2.TrafficSplit"]["properties"]["spec"]
    assert spec["required"] == ["service", "backends"]
    assert spec["properties"]["backends"]["items"]["properties"]["weight"]["type"] == "integer"
