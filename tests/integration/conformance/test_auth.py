"""Bearer-token auth on a Sandbox started with tokens.

Covers: no token and an unknown token are 401 Unauthorized (Status body, message
"Unauthorized"); kubectl with an unknown token says "You must be logged in to the server"; the kubeconfig
carries the first (admin) token, which may read and write; a reader token (get, list,
watch) may GET, LIST and WATCH but a PATCH/POST/DELETE is 403 Forbidden with the real
message shape (`<resource>.<group> "<name>" is forbidden: User "<u>" cannot patch
resource "<resource>" in API group "<group>" in the namespace "<ns>"`; cluster-scoped
requests say "at the cluster scope"); kubectl with the reader kubeconfig lists and
prints `Error from server (Forbidden)` on a patch; pykube with the reader kubeconfig lists.
"""
from __future__ import annotations

import re
from pathlib import Path

import pykube
import pytest
import requests
import yaml

from failsync.sandbox import Sandbox
from tests.integration.conformance.support import (MERGE_PATCH, SPLIT_GROUP, assert_status, call, create,
                                                   split_path, traffic_split)
from tests.integration.conftest import http_client

# With tokens the kubeconfig points at the sandbox's self-signed https side with
# insecure-skip-tls-verify (kubectl sends credentials only over https).
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

TOKENS = {"admin-token": "*", "reader-token": {"verbs": ["get", "list", "watch"], "resources": ["*"]}}


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(clusters=("west", "east"), tokens=TOKENS) as running:
        yield running


@pytest.fixture(scope="module")
def reader_kubeconfig(sandbox) -> Path:
    return Path(sandbox.kubeconfig_for("reader-token"))


@pytest.fixture(scope="module")
def unknown_token_kubeconfig(sandbox, tmp_path_factory) -> Path:
    """The sandbox's kubeconfig with a token the server does not know.

    (With no credentials at all kubectl prompts for a username on https servers.)
    """
    config = yaml.safe_load(Path(sandbox.kubeconfig).read_text())
    for user in config.get("users") or []:
        user["user"] = {"token": "not-a-known-token"}
    path = tmp_path_factory.mktemp("unknown-token") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def reader(reader_kubeconfig) -> pykube.HTTPClient:
    return http_client(reader_kubeconfig, "west")


@pytest.fixture(scope="module")
def existing(api) -> dict:
    create(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "auth"}})
    return create(api, traffic_split("auth", "web"))


FORBIDDEN = re.compile(r'trafficsplits\.split\.smi-spec\.io "web" is forbidden: User "[^"]+" cannot patch '
                       r'resource "trafficsplits" in API group "split\.smi-spec\.io" in the namespace "auth"')


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}], ids=["none", "unknown"])
def test_missing_or_unknown_token_is_401_unauthorized(sandbox, existing, headers):
    response = requests.get(sandbox["west"].url + split_path("auth"), headers=headers, timeout=10)
    assert_status(response, 401, "Unauthorized", "Unauthorized")


def test_admin_token_from_the_kubeconfig_reads_and_writes(api, existing):
    response = call(api, "PATCH", split_path("auth", "web"), body={"metadata": {"labels": {"by": "admin"}}},
                    content_type=MERGE_PATCH)
    assert response.status_code == 200, response.text


def test_reader_token_can_get_list_and_watch(reader, existing):
    assert call(reader, "GET", split_path("auth", "web")).status_code == 200
    assert call(reader, "GET", split_path(None)).status_code == 200
    watch = call(reader, "GET", split_path("auth"), params={"watch": "true", "timeoutSeconds": "1"},
                 stream=True)
    assert watch.status_code == 200
    watch.close()
    split = pykube.object_factory(reader, f"{SPLIT_GROUP}/v1alpha4", "TrafficSplit")
    assert [obj.name for obj in split.objects(reader, namespace="auth")] == ["web"]


def test_reader_token_patch_is_403_with_the_real_message(reader, existing):
    response = call(reader, "PATCH", split_path("auth", "web"), body={"metadata": {"labels": {"x": "y"}}},
                    content_type=MERGE_PATCH)
    status = assert_status(response, 403, "Forbidden")
    assert FORBIDDEN.fullmatch(status["message"]), status["message"]
    assert status["details"]["name"] == "web" and status["details"]["kind"] == "trafficsplits"


def test_reader_token_cannot_create_or_delete(reader, existing):
    assert_status(call(reader, "POST", split_path("auth"), body=traffic_split("auth", "new")), 403, "Forbidden")
    assert_status(call(reader, "DELETE", split_path("auth", "web")), 403, "Forbidden")
    status = assert_status(call(reader, "POST", "/api/v1/namespaces",
                                body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}),
                           403, "Forbidden")
    assert status["message"].endswith('cannot create resource "namespaces" in API group "" at the cluster scope')


def test_kubectl_reader_lists_but_patch_prints_forbidden(kubectl, reader_kubeconfig, existing):
    code, out, err = kubectl("-n", "auth", "get", "ts", "-o", "name", kubeconfig=reader_kubeconfig)
    assert code == 0, err
    assert out.strip() == "trafficsplit.split.smi-spec.io/web"
    code, _, err = kubectl("-n", "auth", "patch", "ts", "web", "--type=merge", "-p", '{"spec":{"service":"x"}}',
                           kubeconfig=reader_kubeconfig)
    assert code == 1
    assert err.startswith("Error from server (Forbidden): "), err
    assert FORBIDDEN.search(err), err


def test_kubectl_with_an_unknown_token_must_log_in(kubectl, unknown_token_kubeconfig, existing):
    code, _, err = kubectl("-n", "auth", "get", "ts", kubeconfig=unknown_token_kubeconfig)
    assert code == 1
    assert "error: You must be logged in to the server" in err, err
