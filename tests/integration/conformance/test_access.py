"""Access with tokens: `kubectl auth can-i` (SelfSubjectAccessReview answered from the token's
rights), the sandbox's own endpoints behind the tokens, and 403 messages that never name a
user after its (secret) bearer token."""
from __future__ import annotations

from pathlib import Path

import kubernetes
import pytest
import requests

from failsync.sandbox import Sandbox
from tests.integration.conformance.support import assert_status, call, split_path, traffic_split
from tests.integration.conftest import http_client

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
TOKENS = {"admin-token": "*", "reader-token": {"verbs": ["get", "list", "watch"], "resources": ["*"]}}


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(clusters=("west",), tokens=TOKENS) as running:
        yield running


@pytest.fixture(scope="module")
def reader_kubeconfig(sandbox) -> Path:
    return Path(sandbox.kubeconfig_for("reader-token"))


def test_kubectl_auth_can_i_answers_from_the_token_rights(kubectl, reader_kubeconfig):
    denied = kubectl("auth", "can-i", "patch", "trafficsplits", kubeconfig=reader_kubeconfig)
    assert (denied.returncode, denied.stdout.strip()) == (1, "no")
    allowed = kubectl("auth", "can-i", "list", "trafficsplits", kubeconfig=reader_kubeconfig)
    assert (allowed.returncode, allowed.stdout.strip()) == (0, "yes")
    admin = kubectl("auth", "can-i", "patch", "trafficsplits")
    assert (admin.returncode, admin.stdout.strip()) == (0, "yes")


def test_the_official_client_reviews_its_own_access(reader_kubeconfig):
    client = kubernetes.config.new_client_from_config(config_file=str(reader_kubeconfig), context="west")
    client.configuration.verify_ssl = False
    authorization = kubernetes.client.AuthorizationV1Api(client)
    review = {"spec": {"resourceAttributes": {"verb": "delete", "group": "apps", "resource": "deployments",
                                              "namespace": "default"}}}
    answer = authorization.create_self_subject_access_review(review)
    assert answer.status.allowed is False
    review["spec"]["resourceAttributes"]["verb"] = "get"
    assert authorization.create_self_subject_access_review(review).status.allowed is True


def test_the_sandbox_endpoints_need_a_token(sandbox):
    west = sandbox["west"]
    assert_status(requests.get(west.url + "/_sandbox/requests"), 401, "Unauthorized")
    assert_status(requests.post(west.url + "/_sandbox/faults", json={"latency": 0}), 401, "Unauthorized")
    reader = {"Authorization": "Bearer reader-token"}
    assert requests.get(west.url + "/_sandbox/requests", headers=reader).status_code == 200
    assert_status(requests.post(west.url + "/_sandbox/faults", json={"latency": 0}, headers=reader), 403,
                  "Forbidden")
    admin = {"Authorization": "Bearer admin-token"}
    assert requests.post(west.url + "/_sandbox/faults", json={"latency": 0}, headers=admin).status_code == 200


def test_a_403_never_names_the_user_after_its_token(reader_kubeconfig):
    reader = http_client(reader_kubeconfig, "west")
    response = call(reader, "POST", split_path("default"), body=traffic_split("default", "web"))
    status = assert_status(response, 403, "Forbidden")
    assert "reader-token" not in status["message"] and "reader" not in status["message"]
    assert 'User "token-user-2" cannot create resource "trafficsplits"' in status["message"]
