"""Server-side Table output, the form `kubectl get` asks for.

Covers: a LIST or GET with `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` answers a
meta.k8s.io/v1 Table (columnDefinitions, rows, PartialObjectMetadata objects by default,
the whole object with includeObject=Object, none with None); a CRD's additionalPrinterColumns
(JSONPath cells, date columns as ages, priority 1 only with -o wide; Name and Age when it
has none); the built-in columns kubectl shows for namespaces, services, endpoints,
endpointslices, deployments (-o wide adds containers, images, selector), events and
leases; a watch asked for as Table streams one-row Tables; the official `kubernetes` client gets
a Table when it asks for one.
"""
from __future__ import annotations

import json

import kubernetes

from tests.integration.conformance.support import call, create, deployment, split_path, traffic_split

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io," \
        "application/json"


def rows(kubectl, *args: str) -> list[list[str]]:
    code, out, err = kubectl(*args)
    assert code == 0, err
    return [line.split() for line in out.strip().splitlines()]


def test_a_list_asked_as_table_answers_a_table(api, namespace):
    create(api, traffic_split(namespace, "web"))
    table = call(api, "GET", split_path(namespace), headers={"Accept": TABLE}).json()
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Service"]
    assert table["columnDefinitions"][0]["format"] == "name"
    assert [row["cells"] for row in table["rows"]] == [["web", "web-svc"]]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table["rows"][0]["object"]["metadata"]["name"] == "web"
    assert table["metadata"]["resourceVersion"]
    full = call(api, "GET", split_path(namespace), params={"includeObject": "Object"},
                headers={"Accept": TABLE}).json()
    assert full["rows"][0]["object"]["spec"]["service"] == "web-svc"
    bare = call(api, "GET", split_path(namespace, "web"), params={"includeObject": "None"},
                headers={"Accept": TABLE}).json()
    assert bare["kind"] == "Table" and "object" not in bare["rows"][0]
    plain = call(api, "GET", split_path(namespace)).json()
    assert plain["kind"] == "TrafficSplitList"


def test_crd_printer_columns_follow_their_json_paths(api, kubectl, namespace):
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "web", "namespace": namespace},
             "spec": {"hostnames": ["web.example.com"]}}
    assert call(api, "POST", f"/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes",
                body=route).status_code == 201
    table = call(api, "GET", f"/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes",
                 headers={"Accept": TABLE}).json()
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
        ("Name", "string"), ("Hostnames", "string"), ("Age", "date")]
    name, hostnames, age = table["rows"][0]["cells"]
    assert (name, hostnames) == ("web", '["web.example.com"]') and age.endswith("s")
    assert rows(kubectl, "-n", namespace, "get", "httproutes")[0] == ["NAME", "HOSTNAMES", "AGE"]


def test_kubectl_get_wide_shows_the_deployment_columns(api, kubectl, namespace):
    create(api, deployment(namespace, "web", app="web", replicas=2))
    lines = rows(kubectl, "-n", namespace, "get", "deploy", "-o", "wide")
    assert lines[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert lines[1][:4] == ["web", "2/2", "2", "2"] and lines[1][5:] == ["web", "example/web:1", "app=web"]
    assert rows(kubectl, "-n", namespace, "get", "deploy")[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]


def test_kubectl_get_shows_the_service_and_endpoint_columns(api, kubectl, namespace):
    create(api, deployment(namespace, "web", app="web"))
    create(api, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc", "namespace": namespace},
                 "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    services = rows(kubectl, "-n", namespace, "get", "svc", "-o", "wide")
    assert services[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert services[1][:2] == ["web-svc", "ClusterIP"] and services[1][4] == "80/TCP"
    assert services[1][6] == "app=web"
    endpoints = rows(kubectl, "-n", namespace, "get", "endpoints")
    assert endpoints[0] == ["NAME", "ENDPOINTS", "AGE"]
    assert endpoints[1][0] == "web-svc" and endpoints[1][1].endswith(":80")
    slices = rows(kubectl, "-n", namespace, "get", "endpointslices")
    assert slices[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert slices[1][1:3] == ["IPv4", "80"]


def test_kubectl_get_shows_namespace_lease_and_event_columns(api, kubectl, namespace):
    assert ["NAME", "STATUS", "AGE"] == rows(kubectl, "get", "namespaces")[0]
    assert [namespace, "Active"] == next(r for r in rows(kubectl, "get", "namespaces") if r[0] == namespace)[:2]
    create(api, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "leader", "namespace": namespace}, "spec": {"holderIdentity": "pod-0"}})
    leases = rows(kubectl, "-n", namespace, "get", "leases")
    assert leases[0] == ["NAME", "HOLDER", "AGE"] and leases[1][:2] == ["leader", "pod-0"]
    create(api, {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1", "namespace": namespace},
                 "involvedObject": {"kind": "TrafficSplit", "name": "web", "namespace": namespace},
                 "reason": "FailedOver", "message": "primary down", "type": "Normal",
                 "lastTimestamp": "2026-01-01T00:00:00Z", "firstTimestamp": "2026-01-01T00:00:00Z", "count": 1})
    code, out, err = kubectl("-n", namespace, "get", "events")
    assert code == 0, err
    header, line = out.strip().splitlines()
    assert header.split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert line.split()[1:] == ["Normal", "FailedOver", "trafficsplit/web", "primary", "down"]


def test_a_watch_asked_as_table_streams_one_row_tables(api, namespace):
    create(api, traffic_split(namespace, "web"))
    response = call(api, "GET", split_path(namespace), params={"watch": "true", "timeoutSeconds": "1"},
                    headers={"Accept": TABLE}, stream=True)
    try:
        first = json.loads(next(response.iter_lines()))
    finally:
        response.close()
    assert first["type"] == "ADDED"
    assert first["object"]["kind"] == "Table" and first["object"]["rows"][0]["cells"] == ["web", "web-svc"]


def test_the_official_client_gets_a_table_when_it_asks_for_one(sandbox, api, namespace):
    create(api, traffic_split(namespace, "web"))
    client = kubernetes.config.new_client_from_config(config_file=str(sandbox.kubeconfig), context="west")
    response = client.call_api(*client.param_serialize("GET", split_path(namespace), header_params={"Accept": TABLE},
                                                       auth_settings=["BearerToken"]))
    answer = json.loads(response.read())
    assert answer["kind"] == "Table"
    assert [c["name"] for c in answer["columnDefinitions"]] == ["Name", "Service"]
    assert [row["cells"] for row in answer["rows"]] == [["web", "web-svc"]]
