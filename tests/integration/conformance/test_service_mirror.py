"""Linkerd's service mirror in the sandbox, driven by kubectl and the `failsync sandbox` command.

Covers: labelling a Service `mirror.linkerd.io/exported=true` in east makes `<name>-east`
in west with Linkerd's labels and annotations; in gateway mode its Endpoints (and mirrored
EndpointSlice) hold east's gateway address on port 4143, ready while east's
linkerd-multicluster/linkerd-gateway runs even when east's pods are gone, not ready once the
gateway is scaled to 0; `exported=remote-discovery` (or `--mirror-mode remote-discovery`)
makes a Service labelled multicluster.linkerd.io/remote-discovery with no Endpoints at all;
removing the label removes the mirror; the official `kubernetes` client reads a mirror and its
ready EndpointSlice. `failsync sandbox --cluster west --cluster east` runs it, in either
`--mirror-mode`; `--cluster a --cluster a` is a usage error, not a traceback; `--help` states
the real defaults and offers no option the command ignores.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import kubernetes
import pytest

from failsync.sandbox import Sandbox
from failsync.sandbox.service_mirror import gateway_address
from tests.helpers import LineStream, exit_code_after_sigterm, reaped, wait_for
from tests.integration.conformance.support import call, deployment, service
from tests.integration.conftest import KUBECTL

FAILSYNC = Path(sys.executable).parent / "failsync"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(clusters=("west", "east"), mirror_mode="gateway") as running:
        yield running


def _install(kubectl, namespace: str, name: str, *, export: str | None) -> None:
    manifests = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                 deployment(namespace, name, app=name), service(namespace, f"{name}-svc", app=name)]
    for manifest in manifests:
        result = kubectl("--context", "east", "apply", "-f", "-", input=json.dumps(manifest))
        assert result.returncode == 0, result.stderr
    if export is not None:
        result = kubectl("--context", "east", "-n", namespace, "label", f"svc/{name}-svc",
                         f"mirror.linkerd.io/exported={export}")
        assert result.returncode == 0, result.stderr


def _get(api, path: str) -> dict | None:
    response = call(api, "GET", path)
    return response.json() if response.status_code == 200 else None


def _slice_ready(api, namespace: str, service_name: str) -> list[bool]:
    slices = call(api, "GET", f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
                  params={"labelSelector": f"kubernetes.io/service-name={service_name}"}).json()["items"]
    return [endpoint["conditions"]["ready"] for item in slices for endpoint in item["endpoints"]]


def test_gateway_mode_mirrors_with_the_gateway_address_ready_while_the_gateway_runs(kubectl, api, east_api):
    _install(kubectl, "shop", "web", export="true")
    mirrored = wait_for(lambda: _get(api, "/api/v1/namespaces/shop/services/web-svc-east"))
    assert mirrored["metadata"]["labels"] == {"mirror.linkerd.io/mirrored-service": "true",
                                              "mirror.linkerd.io/cluster-name": "east"}
    assert mirrored["metadata"]["annotations"]["mirror.linkerd.io/remote-svc-fq-name"] == \
        "web-svc.shop.svc.cluster.local"
    assert "selector" not in mirrored["spec"]
    endpoints = wait_for(lambda: _get(api, "/api/v1/namespaces/shop/endpoints/web-svc-east"))
    assert endpoints["subsets"] == [{"addresses": [{"ip": gateway_address("east")}],
                                     "ports": [{"name": "http", "protocol": "TCP", "port": 4143}]}]
    wait_for(lambda: _slice_ready(api, "shop", "web-svc-east") == [True])

    scaled = kubectl("--context", "east", "-n", "shop", "scale", "deploy/web", "--replicas=0")
    assert scaled.returncode == 0, scaled.stderr
    wait_for(lambda: "subsets" not in _get(east_api, "/api/v1/namespaces/shop/endpoints/web-svc"),
             message="east's web-svc to lose its pods")
    assert _slice_ready(api, "shop", "web-svc-east") == [True]  # the gateway still answers: Linkerd says ready

    stopped = kubectl("--context", "east", "-n", "linkerd-multicluster", "scale", "deploy/linkerd-gateway",
                      "--replicas=0")
    assert stopped.returncode == 0, stopped.stderr
    wait_for(lambda: _slice_ready(api, "shop", "web-svc-east") == [False], message="the gateway probe to fail")
    assert _get(api, "/api/v1/namespaces/shop/endpoints/web-svc-east")["subsets"][0]["notReadyAddresses"] == [
        {"ip": gateway_address("east")}]
    started = kubectl("--context", "east", "-n", "linkerd-multicluster", "scale", "deploy/linkerd-gateway",
                      "--replicas=1")
    assert started.returncode == 0, started.stderr
    wait_for(lambda: _slice_ready(api, "shop", "web-svc-east") == [True])


def test_remote_discovery_mirrors_have_no_local_endpoints(kubectl, api):
    _install(kubectl, "store", "cart", export="remote-discovery")
    mirrored = wait_for(lambda: _get(api, "/api/v1/namespaces/store/services/cart-svc-east"))
    assert mirrored["metadata"]["labels"]["multicluster.linkerd.io/remote-discovery"] == "east"
    assert mirrored["metadata"]["labels"]["multicluster.linkerd.io/remote-service"] == "cart-svc"
    assert _get(api, "/api/v1/namespaces/store/endpoints/cart-svc-east") is None
    assert _slice_ready(api, "store", "cart-svc-east") == []
    deleted = kubectl("--context", "east", "-n", "store", "delete", "svc/cart-svc")
    assert deleted.returncode == 0, deleted.stderr
    wait_for(lambda: _get(api, "/api/v1/namespaces/store/services/cart-svc-east") is None,
             message="the mirror of a deleted Service to go")


def test_removing_the_export_label_removes_the_mirror(kubectl, api):
    _install(kubectl, "blog", "post", export="true")
    wait_for(lambda: _get(api, "/api/v1/namespaces/blog/services/post-svc-east"))
    result = kubectl("--context", "east", "-n", "blog", "label", "svc/post-svc", "mirror.linkerd.io/exported-")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: _get(api, "/api/v1/namespaces/blog/services/post-svc-east") is None)
    assert _get(api, "/api/v1/namespaces/blog/endpoints/post-svc-east") is None


def test_mirror_mode_remote_discovery_applies_to_exported_true():
    with Sandbox(clusters=("west", "east"), mirror_mode="remote-discovery") as box:
        box["east"].apply({"apiVersion": "v1", "kind": "Service",
                           "metadata": {"name": "api", "namespace": "default",
                                        "labels": {"mirror.linkerd.io/exported": "true"}},
                           "spec": {"ports": [{"port": 80}]}})
        mirrored = wait_for(lambda: box["west"].get("v1", "Service", "default", "api-east"))
        assert mirrored["metadata"]["labels"]["multicluster.linkerd.io/remote-discovery"] == "east"
        assert box["west"].get("v1", "Endpoints", "default", "api-east") is None


@pytest.mark.parametrize("mode", ["gateway", "remote-discovery"])
def test_failsync_sandbox_runs_the_mirror_between_its_clusters(tmp_path, mode):
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen([str(FAILSYNC), "sandbox", "--cluster", "west", "--cluster", "east",
                                "--mirror-mode", mode, "--kubeconfig", str(kubeconfig)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, bufsize=1)
    with reaped(process):
        lines = LineStream(process.stdout)
        assert lines.until(lambda line: line.startswith("service mirror:"), timeout=20).strip() == \
            f"service mirror: {mode} mode (label a Service mirror.linkerd.io/exported=true)"
        lines.until(lambda line: line.startswith("kubeconfig:"), timeout=20)

        def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
            return subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"),
                                   *args], input=stdin, capture_output=True, text=True, timeout=30)

        manifest = {"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "web-svc", "namespace": "default",
                                 "labels": {"mirror.linkerd.io/exported": "true"}},
                    "spec": {"ports": [{"name": "http", "port": 80}]}}
        created = kubectl("--context", "east", "apply", "-f", "-", stdin=json.dumps(manifest))
        assert created.returncode == 0, created.stderr
        wait_for(lambda: kubectl("--context", "west", "get", "svc", "web-svc-east").returncode == 0, timeout=10)
        gateway = kubectl("--context", "west", "-n", "linkerd-multicluster", "get", "deploy", "linkerd-gateway")
        assert gateway.returncode == 0, gateway.stderr
        labels = json.loads(kubectl("--context", "west", "get", "svc", "web-svc-east", "-o", "json").stdout)[
            "metadata"]["labels"]
        endpoints = kubectl("--context", "west", "get", "endpoints", "web-svc-east")
        if mode == "gateway":
            assert "multicluster.linkerd.io/remote-discovery" not in labels
            assert endpoints.returncode == 0, endpoints.stderr
        else:
            assert labels["multicluster.linkerd.io/remote-discovery"] == "east"
            assert endpoints.returncode == 1 and "NotFound" in endpoints.stderr
        assert exit_code_after_sigterm(process, timeout=15) == 0


def test_the_official_client_reads_a_mirror_and_its_ready_slice(sandbox, kubectl):
    _install(kubectl, "news", "feed", export="true")
    client = kubernetes.config.new_client_from_config(config_file=str(sandbox.kubeconfig), context="west")
    core, discovery = kubernetes.client.CoreV1Api(client), kubernetes.client.DiscoveryV1Api(client)

    def mirror():
        found = core.list_namespaced_service("news", label_selector="mirror.linkerd.io/cluster-name=east").items
        return found and found[0]

    mirrored = wait_for(mirror, message="the mirror feed-svc-east")
    assert mirrored.metadata.name == "feed-svc-east" and mirrored.spec.selector is None
    assert mirrored.metadata.labels["mirror.linkerd.io/mirrored-service"] == "true"

    def ready() -> list[bool]:
        slices = discovery.list_namespaced_endpoint_slice(
            "news", label_selector="kubernetes.io/service-name=feed-svc-east").items
        return [endpoint.conditions.ready for item in slices for endpoint in item.endpoints or []]

    wait_for(lambda: ready() == [True])
    [item] = discovery.list_namespaced_endpoint_slice("news", label_selector="kubernetes.io/service-name=feed-svc-east"
                                                      ).items
    assert item.endpoints[0].addresses == [gateway_address("east")] and item.ports[0].port == 4143


def test_duplicate_cluster_names_are_a_usage_error():
    done = subprocess.run([str(FAILSYNC), "sandbox", "--cluster", "a", "--cluster", "a"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 2
    assert "Error: Invalid value for '--cluster': 'a' is given twice" in done.stderr
    assert "Traceback" not in done.stderr
    invalid = subprocess.run([str(FAILSYNC), "sandbox", "--cluster", "West_1"], capture_output=True, text=True,
                             timeout=30)
    assert invalid.returncode == 2 and "'West_1' is not a valid cluster name" in invalid.stderr


def test_help_states_the_real_defaults_and_no_idle_options():
    done = subprocess.run([str(FAILSYNC), "sandbox", "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for default in ("[default: 0]", "[default: sandbox]", "[default: gateway]", "[default: ./sandbox.kubeconfig]",
                    "[default: 0.0]"):
        assert default in text
    options = " ".join(done.stdout.split("Options:")[1].split())
    assert "--context TEXT" not in options and "--templates" not in options
