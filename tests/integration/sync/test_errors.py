"""Errors a user understands, with exit code 2 and never a traceback.

Covers: a token allowed only to read: `diff` works, `sync` fails with a 403 message naming the
verb, the resource and the RBAC rule to grant; no credentials: the 401 message; an API server
that is not there: the message names the server; a cluster without the TrafficSplit CRD: the
message says to install linkerd-smi; a policy targeting a TrafficSplit version the cluster does not
serve fails alone, naming the versions served, while the others sync; an unknown --context names the choices; a bad --selector
names the selector.
"""
from __future__ import annotations

import socket

import pytest
import yaml

from failsync.sandbox import Sandbox
from tests.integration.sync.support import (GUIDE_POLICIES, FilteringProxy, failsync, install_emojivoto,
                                            policy_document)

TOKENS = {"admin-token": "*", "reader-token": {"verbs": ["get", "list", "watch"], "resources": ["*"]}}


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(clusters=("west",), tokens=TOKENS) as running:
        install_emojivoto(running["west"])
        yield running


def no_traceback(result) -> None:
    assert "Traceback" not in result.output


def test_read_only_token_can_diff_but_sync_names_the_missing_rbac_rule(sandbox) -> None:
    reader = sandbox.kubeconfig_for("reader-token")
    diff = failsync(reader, "diff", str(GUIDE_POLICIES))
    assert diff.exit_code == 1, diff.output
    result = failsync(reader, "sync", str(GUIDE_POLICIES))
    assert result.exit_code == 2
    no_traceback(result)
    assert 'forbidden: cannot create trafficsplits.split.smi-spec.io "web-svc-failover" in namespace "emojivoto"' \
        in result.stderr
    assert 'apiGroups: ["split.smi-spec.io"], resources: ["trafficsplits"], verbs: ["create"]' in result.stderr
    assert "emojivoto/web-svc-failover: failed" in result.stdout


def test_missing_credentials_give_the_401_message(sandbox, tmp_path) -> None:
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    for user in config["users"]:
        user["user"] = {}
    anonymous = tmp_path / "anonymous.yaml"
    anonymous.write_text(yaml.safe_dump(config))
    result = failsync(anonymous, "diff", str(GUIDE_POLICIES))
    assert result.exit_code == 2
    no_traceback(result)
    server = config["clusters"][0]["cluster"]["server"]  # https://: the sandbox speaks TLS when tokens are set
    assert f"the API server at {server} rejected the credentials (401 Unauthorized)" in result.stderr


def test_unreachable_server_is_named(tmp_path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before failsync connects: nothing listens there
    config = tmp_path / "gone.yaml"
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "west",
        "clusters": [{"name": "west", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "west", "user": {}}],
        "contexts": [{"name": "west", "context": {"cluster": "west", "user": "west"}}]}))
    for command in ("diff", "sync", "status"):
        result = failsync(config, command, str(GUIDE_POLICIES))
        assert result.exit_code == 2
        no_traceback(result)
        assert f"cannot reach the Kubernetes API server at http://127.0.0.1:{port}" in result.stderr


def test_missing_trafficsplit_crd_says_to_install_linkerd_smi(tmp_path) -> None:
    with Sandbox(clusters=("west",)) as plain:
        install_emojivoto(plain["west"])
        with FilteringProxy(plain["west"].url, hide_groups=["split.smi-spec.io"]) as proxy:
            result = failsync(proxy.kubeconfig(tmp_path), "sync", str(GUIDE_POLICIES))
    assert result.exit_code == 2
    no_traceback(result)
    assert "the TrafficSplit CRD is missing; install linkerd-smi" in result.stderr


def test_unserved_trafficsplit_version_fails_only_its_policy(tmp_path) -> None:
    policies = tmp_path / "p.yaml"
    policies.write_text(policy_document("emojivoto", "v4", api_version="split.smi-spec.io/v1alpha4") + "---\n"
                        + policy_document("emojivoto", "v2"))
    with Sandbox(clusters=("west",)) as plain:
        install_emojivoto(plain["west"])
        with FilteringProxy(plain["west"].url, hide_groups=["split.smi-spec.io/v1alpha4"]) as proxy:
            result = failsync(proxy.kubeconfig(tmp_path), "sync", str(policies))
        assert plain["west"].get("split.smi-spec.io/v1alpha2", "TrafficSplit", "emojivoto", "v2") is not None
        assert plain["west"].get("split.smi-spec.io/v1alpha2", "TrafficSplit", "emojivoto", "v4") is None
    assert result.exit_code == 2
    assert "emojivoto/v2: created" in result.stdout
    assert "emojivoto/v4: failed" in result.stdout
    assert "not split.smi-spec.io/v1alpha4; set spec.target.apiVersion to one of those" in result.stderr


def test_unknown_context_lists_the_available_ones(sandbox) -> None:
    result = failsync(sandbox.kubeconfig, "diff", str(GUIDE_POLICIES), context="north")
    assert result.exit_code == 2
    assert "context 'north' not found in kubeconfig" in result.stderr and "available: west" in result.stderr


def test_bad_selector_is_reported_before_any_request(sandbox) -> None:
    sandbox["west"].requests.clear()
    result = failsync(sandbox.kubeconfig, "sync", "--adopt", "--selector", "a=b=c")
    assert result.exit_code != 0
    assert "--selector: invalid label selector 'a=b=c'" in result.stderr
    assert list(sandbox["west"].requests) == []
