"""Several clusters in one process, one kubeconfig.

Covers: the kubeconfig has a context per cluster named after it (west, east), the
current context is the first cluster, each context points at its own URL; objects are
isolated per cluster (created in west through kubectl --context west, absent in east and
vice versa, same name in both holds different uids); Cluster.apply/get/delete act on the
cluster directly and are visible over HTTP and through watches; the request log records
method, path, query, status and verb, and clear() empties it; GET /_sandbox/requests
serves the log as JSON.
"""
from __future__ import annotations

import json

import requests
import yaml

from tests.helpers import wait_for
from tests.integration.conformance.support import (SPLIT_GROUP, Watch, call, create, split_path,
                                                   traffic_split)


def test_kubeconfig_has_one_context_per_cluster_and_west_is_current(sandbox, kubectl):
    code, out, err = kubectl("config", "get-contexts", "-o", "name")
    assert code == 0, err
    assert sorted(out.split()) == ["east", "west"]
    code, out, err = kubectl("config", "current-context")
    assert out.strip() == "west"
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    clusters = {c["name"]: c["cluster"]["server"] for c in config["clusters"]}
    contexts = {c["name"]: c["context"]["cluster"] for c in config["contexts"]}
    assert clusters[contexts["west"]] == sandbox["west"].url
    assert clusters[contexts["east"]] == sandbox["east"].url
    assert sandbox["west"].url != sandbox["east"].url
    assert sandbox["west"].name == "west"


def test_objects_are_isolated_per_cluster(kubectl, api, east_api):
    namespace = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "iso"}})
    for context in ("west", "east"):
        code, _, err = kubectl("--context", context, "apply", "-f", "-", input=namespace)
        assert code == 0, err
    manifest = json.dumps(traffic_split("iso", "only-west"))
    code, _, err = kubectl("--context", "west", "apply", "-f", "-", input=manifest)
    assert code == 0, err
    code, _, err = kubectl("--context", "east", "-n", "iso", "get", "ts", "only-west")
    assert code == 1 and "(NotFound)" in err, err
    assert call(east_api, "GET", split_path("iso", "only-west")).status_code == 404
    west_copy = create(api, traffic_split("iso", "both"))
    east_copy = create(east_api, traffic_split("iso", "both"))
    assert west_copy["metadata"]["uid"] != east_copy["metadata"]["uid"]
    code, out, err = kubectl("--context", "east", "-n", "iso", "get", "ts", "-o", "name")
    assert out.split() == ["trafficsplit.split.smi-spec.io/both"]


def test_cluster_apply_get_delete_act_directly_and_are_seen_over_http(sandbox, api):
    west = sandbox["west"]
    west.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "direct"}})
    with Watch(api, split_path("direct"), {"resourceVersion": "0"}) as watch:
        stored = west.apply(traffic_split("direct", "web"))
        assert stored["metadata"]["uid"] and stored["metadata"]["resourceVersion"]
        assert watch.next_of({"ADDED"})["object"]["metadata"]["uid"] == stored["metadata"]["uid"]
        served = call(api, "GET", split_path("direct", "web")).json()
        assert served["metadata"]["uid"] == stored["metadata"]["uid"]
        west.apply(traffic_split("direct", "web", weights={"web-svc": 0, "web-svc-east": 1}))
        assert watch.next_of({"MODIFIED"})["object"]["spec"]["backends"][1]["weight"] == 1
        assert west.get(f"{SPLIT_GROUP}/v1alpha4", "TrafficSplit", "direct", "web")["spec"]["backends"][1]["weight"] == 1
        west.delete(f"{SPLIT_GROUP}/v1alpha4", "TrafficSplit", "direct", "web")
        assert watch.next_of({"DELETED"})["object"]["metadata"]["name"] == "web"
    assert west.get(f"{SPLIT_GROUP}/v1alpha4", "TrafficSplit", "direct", "web") is None
    assert call(api, "GET", split_path("direct", "web")).status_code == 404


def test_request_log_records_each_request_and_can_be_cleared(sandbox, api):
    east = sandbox["east"]
    east.requests.clear()
    east_client_path = split_path("nowhere", "nothing")
    requests.get(east.url + east_client_path, timeout=10)
    requests.get(east.url + split_path(None), params={"labelSelector": "a=b"}, timeout=10)
    records = wait_for(lambda: list(east.requests) if len(east.requests) >= 2 else None)
    first, second = records[0], records[1]
    assert (first.method, first.path, first.status, first.verb) == ("GET", east_client_path, 404, "get")
    assert (second.path, second.status, second.verb) == (split_path(None), 200, "list")
    assert second.query.get("labelSelector") in ("a=b", ["a=b"])
    assert first.finished >= first.started
    served = requests.get(east.url + "/_sandbox/requests", timeout=10)
    assert served.status_code == 200
    entries = [(e["method"], e["path"], e["status"]) for e in served.json()]
    assert ("GET", east_client_path, 404) in entries, entries
    east.requests.clear()
    assert len(east.requests) == 0
