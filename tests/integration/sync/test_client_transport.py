"""The client's transport against a TLS sandbox with tokens (kubeconfig: insecure-skip-tls-verify).

Covers:
- a kubeconfig with insecure-skip-tls-verify talks TLS with its bearer token and prints no
  InsecureRequestWarning (kubectl prints nothing either), while an unverified request to any other
  host still warns;
- the proxy environment (HTTPS_PROXY / NO_PROXY), read once when the client is made, is still
  honoured: a dead proxy makes the server unreachable, NO_PROXY for the server bypasses it;
- a paged LIST (limit/continue) returns every object exactly once, each page at the first
  page's resourceVersion, in as many requests as pages.
"""
from __future__ import annotations

import warnings

import pytest
import requests
import urllib3

from failsync.errors import ApiError
from failsync.kube import SERVICES, KubeClient
from failsync.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(clusters=("west",), tokens={"admin-token": "*"}) as running:
        yield running


def test_insecure_kubeconfig_is_quiet_and_other_unverified_requests_still_warn(sandbox) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = KubeClient.from_kubeconfig(sandbox.kubeconfig, "west")
        for _ in range(3):
            client.list(SERVICES, namespace="default")
        assert client.server.startswith("https://")
        assert [w for w in caught if issubclass(w.category, urllib3.exceptions.InsecureRequestWarning)] == []
        other = client.server.replace("127.0.0.1", "localhost")
        requests.get(f"{other}/version", verify=False, timeout=5)
        assert any(issubclass(w.category, urllib3.exceptions.InsecureRequestWarning) for w in caught)


def test_proxy_environment_is_still_honoured(sandbox, monkeypatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(ApiError):
        KubeClient.from_kubeconfig(sandbox.kubeconfig, "west", timeout=2).list(SERVICES, namespace="default")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert KubeClient.from_kubeconfig(sandbox.kubeconfig, "west").list(SERVICES, namespace="default") is not None


def test_paged_list_returns_every_object_once_at_one_resource_version(sandbox) -> None:
    west = sandbox["west"]
    west.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "paged"}})
    for index in range(7):
        west.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{index}", "namespace": "paged"},
                    "spec": {"ports": [{"port": 80}]}})
    client = KubeClient.from_kubeconfig(sandbox.kubeconfig, "west")
    west.requests.clear()
    pages = list(client.list_pages(SERVICES, namespace="paged", page_size=3))
    names = [item["metadata"]["name"] for page in pages for item in page.items]
    assert sorted(names) == [f"svc-{index}" for index in range(7)]
    assert [len(page.items) for page in pages] == [3, 3, 1]
    assert len({page.resource_version for page in pages}) == 1
    assert [record.verb for record in west.requests] == ["list", "list", "list"]
