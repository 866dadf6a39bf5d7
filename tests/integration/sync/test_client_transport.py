"""The client's transport against a TLS sandbox with tokens (kubeconfig: insecure-skip-tls-verify).

Covers:
- a kubeconfig with insecure-skip-tls-verify talks TLS with its bearer token and prints no
  InsecureRequestWarning (kubectl prints nothing either), while an unverified request to any other
  host still warns;
- the proxy environment (HTTPS_PROXY / NO_PROXY), read once when the client is made, is still
  honoured: a dead proxy makes the server unreachable, NO_PROXY for the server bypasses it;
- a paged LIST (limit/continue) returns every object exactly once, each page at the first
  page's resourceVersion, in as many requests as pages;
- the persistent write path verifies the server: a kubeconfig naming the server's CA
  (certificate-authority-data) lists and patches, one trusting other CAs cannot reach it (TLS
  handshake), and a wrong bearer token is a 401 naming the credentials;
- a ``tokenFile`` user sends the file's token, as kubectl does;
- an exec credential plugin (sent through pykube-ng and requests) authenticates, its wrong token is a 401;
- a converged one-shot ``sync`` never imports pykube-ng, requests or urllib3 (the kubeconfig is
  read by failsync, every request goes over the lean transport), nor does a watch;
- a watch over TLS with a token (lean) and one through an exec plugin (pykube-ng) stream events
  until the caller ends them.
"""
from __future__ import annotations

import base64
import json
import ssl
import subprocess
import sys
import warnings
from urllib.parse import urlsplit

import yaml

import pytest
import requests
import urllib3

from failsync.errors import ApiError, Unauthorized, Unreachable
from failsync.kube import SERVICES, KubeClient
from failsync.sandbox import Sandbox
from tests.integration.sync.support import policy_document


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


def _kubeconfig_with(tmp_path, sandbox, cluster_fields: dict, token: str):
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    entry = config["clusters"][0]["cluster"]
    entry.pop("insecure-skip-tls-verify")
    entry.update(cluster_fields)
    config["users"][0]["user"] = {"token": token}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_write_path_verifies_the_server_and_sends_the_token(sandbox, tmp_path) -> None:
    server = urlsplit(sandbox["west"].url)
    authority = base64.b64encode(ssl.get_server_certificate((server.hostname, server.port)).encode()).decode()
    verified = KubeClient.from_kubeconfig(
        _kubeconfig_with(tmp_path, sandbox, {"certificate-authority-data": authority}, "admin-token"), "west")
    sandbox["west"].apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ca", "namespace": "default"},
                           "spec": {"ports": [{"port": 80}]}})
    patched = verified.patch(SERVICES, "default", "ca",
                             [{"op": "add", "path": "/metadata/labels", "value": {"a": "b"}}])
    assert patched["metadata"]["labels"] == {"a": "b"}
    assert any(i["metadata"]["name"] == "ca" for i in verified.list(SERVICES, namespace="default").items)
    with pytest.raises(Unreachable, match="TLS handshake failed"):
        KubeClient.from_kubeconfig(_kubeconfig_with(tmp_path, sandbox, {}, "admin-token"), "west").list(SERVICES)
    with pytest.raises(Unauthorized, match="rejected the credentials"):
        KubeClient.from_kubeconfig(
            _kubeconfig_with(tmp_path, sandbox, {"certificate-authority-data": authority}, "wrong"), "west"
        ).patch(SERVICES, "default", "ca", [{"op": "add", "path": "/metadata/labels/c", "value": "d"}])


def test_a_token_file_user_sends_the_files_token(sandbox, tmp_path) -> None:
    token = tmp_path / "token"
    token.write_text("admin-token\n")
    config = yaml.safe_load(_kubeconfig_with(tmp_path, sandbox, {"insecure-skip-tls-verify": True}, "x").read_text())
    config["users"][0]["user"] = {"tokenFile": str(token)}
    path = tmp_path / "token-file-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    assert KubeClient.from_kubeconfig(path, "west").list(SERVICES, namespace="default") is not None
    token.write_text("wrong")
    with pytest.raises(Unauthorized, match="rejected the credentials"):
        KubeClient.from_kubeconfig(path, "west").list(SERVICES, namespace="default")


def _exec_kubeconfig(tmp_path, sandbox, token: str):
    config = yaml.safe_load(_kubeconfig_with(tmp_path, sandbox, {"insecure-skip-tls-verify": True}, "x").read_text())
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {"token": token}}
    config["users"][0]["user"] = {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
        "args": ["-c", f"print({json.dumps(json.dumps(credential))})"]}}
    path = tmp_path / f"exec-{token}"
    path.write_text(yaml.safe_dump(config))
    return path


def test_an_exec_plugin_authenticates_through_pykube(sandbox, tmp_path) -> None:
    client = KubeClient.from_kubeconfig(_exec_kubeconfig(tmp_path, sandbox, "admin-token"), "west")
    seen: list[tuple[str, int]] = []
    client.answered.append(lambda verb, code: seen.append((verb, code)))
    assert client.list(SERVICES, namespace="default") is not None
    assert seen == [("list", 200)]
    with pytest.raises(Unauthorized, match="rejected the credentials"):
        KubeClient.from_kubeconfig(_exec_kubeconfig(tmp_path, sandbox, "wrong"), "west").list(SERVICES)


def test_a_sync_of_plain_policy_files_imports_no_http_library_and_no_pyyaml(tmp_path) -> None:
    """The kubeconfig and the policy files read by the fast reader; PyYAML only for what it declines."""
    policy = tmp_path / "policies" / "web.yaml"
    policy.parent.mkdir()
    policy.write_text(policy_document("plain", "web"))
    with Sandbox(clusters=("west",)) as plain:
        plain["west"].apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "plain"}})
        code = ("import sys\nfrom failsync.cli import main\n"
                f"sys.argv = ['failsync', '--kubeconfig', {str(plain.kubeconfig)!r}, 'sync', {str(policy.parent)!r}]\n"
                "try:\n    main()\nexcept SystemExit as end:\n    assert not end.code, end.code\n"
                "print(sorted({m.split('.')[0] for m in sys.modules} & {'pykube', 'requests', 'urllib3', 'yaml', 'jinja2'}))")
        for _ in range(2):  # from scratch, then converged
            answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            assert answer.stdout.strip().splitlines()[-1] == "[]", answer.stderr


def _watched_service(client: KubeClient, sandbox, name: str) -> tuple[list[tuple[str, str]], list[tuple[str, int]]]:
    """Open a watch of default's Services, create ``name`` once it is open, end the stream on its
    ADDED event: the events seen (type, name) and the watch requests answered (verb, status)."""
    answered: list[tuple[str, int]] = []
    client.answered.append(lambda verb, code: answered.append((verb, code)))
    listed = client.list(SERVICES, namespace="default")
    ends: list = []

    def opened(end) -> None:  # type: ignore[no-untyped-def]
        ends.append(end)
        sandbox["west"].apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
                               "spec": {"ports": [{"port": 80}]}})

    seen: list[tuple[str, str]] = []
    with pytest.raises(Unreachable):  # ended from our side: the stream stops with the connection
        for event in client.watch(SERVICES, namespace="default", resource_version=listed.resource_version,
                                  timeout_seconds=30, on_open=opened):
            seen.append((event.type, event.object["metadata"]["name"]))
            if event.object["metadata"]["name"] == name:
                ends[0]()
    return seen, [a for a in answered if a[0] == "watch"]


def test_a_watch_over_tls_with_a_token_streams_events_until_ended(sandbox) -> None:
    client = KubeClient.from_kubeconfig(sandbox.kubeconfig, "west")
    seen, answered = _watched_service(client, sandbox, "watched-lean")
    assert seen == [("ADDED", "watched-lean")]
    assert answered == [("watch", 200)]


def test_a_watch_through_an_exec_plugin_goes_through_pykube(sandbox, tmp_path) -> None:
    client = KubeClient.from_kubeconfig(_exec_kubeconfig(tmp_path, sandbox, "admin-token"), "west")
    seen, answered = _watched_service(client, sandbox, "watched-exec")
    assert seen == [("ADDED", "watched-exec")]
    assert answered == [("watch", 200)]


def test_a_watch_imports_no_http_library(sandbox) -> None:
    """The loop's watches go over the lean transport too: it never pays pykube-ng's and requests' import."""
    code = ("import sys\nfrom failsync.kube import SERVICES, KubeClient\n"
            f"client = KubeClient.from_kubeconfig({str(sandbox.kubeconfig)!r}, 'west')\n"
            "events = list(client.watch(SERVICES, namespace='default', timeout_seconds=1))\n"
            "assert ('ADDED', 'replayed') in [(e.type, e.object['metadata'].get('name')) for e in events], events\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pykube', 'requests', 'urllib3'}))")
    sandbox["west"].apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "replayed", "namespace": "default"},
                           "spec": {"ports": [{"port": 80}]}})
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "[]", answer.stderr
