"""`sync` repairs what it owns and says what really happened; secrets and forged lines never reach output.

Covers: an owned TrafficSplit whose `spec` was removed is repaired (the patch adds /spec whole);
after `failsync.io/policy` is removed the error names that annotation, not the managed-by label;
a server URL with userinfo never appears whole in "cannot reach"; a malformed `client-key-data` is
one line naming the field; `$KUBECONFIG` with two files (`a:b`) is merged as kubectl merges it;
`diff` exits 2 (never 1) when a policy is invalid, even with changes pending; a policy
subdirectory that cannot be read is an error and `sync --prune` then deletes nothing.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import yaml

from tests.helpers import deny_to_the_loader
from tests.integration.sync.support import GUIDE_POLICIES, failsync, policy_document

SPLIT = "split.smi-spec.io/v1alpha2"


def _patch(cluster, name: str, operations: list) -> None:
    import requests

    response = requests.patch(f"{cluster.url}/apis/{SPLIT}/namespaces/emojivoto/trafficsplits/{name}",
                              data=json.dumps(operations),
                              headers={"Content-Type": "application/json-patch+json"}, timeout=10)
    assert response.status_code == 200, response.text


def test_owned_object_without_spec_is_repaired(guide, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    policy = tmp_path / "repair.yaml"
    policy.write_text(policy_document("emojivoto", "spec-repair"))
    assert failsync(config, "sync", str(policy)).exit_code == 0
    _patch(west, "spec-repair", [{"op": "remove", "path": "/spec"}])
    assert "spec" not in (west.get(SPLIT, "TrafficSplit", "emojivoto", "spec-repair") or {})

    result = failsync(config, "sync", str(policy))
    assert result.exit_code == 0, result.output
    assert "resourceVersion guard" not in result.output
    spec = west.get(SPLIT, "TrafficSplit", "emojivoto", "spec-repair")["spec"]
    assert spec["backends"] == [{"service": "web-svc", "weight": 1}, {"service": "web-svc-east", "weight": 0}]


def test_removed_policy_annotation_is_the_cause_named(guide, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    policy = tmp_path / "marks.yaml"
    policy.write_text(policy_document("emojivoto", "marks"))
    assert failsync(config, "sync", str(policy)).exit_code == 0
    _patch(west, "marks", [{"op": "remove", "path": "/metadata/annotations/failsync.io~1policy"}])

    result = failsync(config, "sync", str(policy))
    assert result.exit_code == 2
    assert "no failsync.io/policy annotation" in result.stderr
    assert "app.kubernetes.io/managed-by label" not in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _kubeconfig(tmp_path: Path, server: str, user: dict) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    return path


def test_userinfo_of_the_server_url_is_never_printed(tmp_path) -> None:
    config = _kubeconfig(tmp_path, f"http://admin:s3cr3t-token@127.0.0.1:{_free_port()}", {"token": "t"})
    result = failsync(config, "diff", str(GUIDE_POLICIES), context="x")
    assert result.exit_code == 2
    assert "cannot reach the Kubernetes API server at http://***@127.0.0.1:" in result.stderr
    assert "s3cr3t-token" not in result.output and "admin" not in result.output


def test_malformed_client_key_data_is_one_line_naming_the_field(tmp_path) -> None:
    config = _kubeconfig(tmp_path, "https://127.0.0.1:1", {
        "client-certificate-data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==", "client-key-data": "//79/A=="})
    result = failsync(config, "diff", str(GUIDE_POLICIES), context="x")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: kubeconfig {config}: users entry 'u': client-key-data is not base64 of a PEM key; "
        f"expected the output of base64 -w0 on a PEM file"]


def test_kubeconfig_list_is_merged_as_kubectl_merges_it(guide, tmp_path) -> None:
    whole = yaml.safe_load(guide.kubeconfig.read_text())
    first = tmp_path / "contexts.yaml"  # contexts and current-context only
    first.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "west",
                                     "contexts": whole["contexts"]}))
    second = tmp_path / "credentials.yaml"  # clusters and users, and a current-context that loses
    second.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "east",
                                      "clusters": whole["clusters"], "users": whole["users"]}))
    listed = os.pathsep.join([str(first), str(tmp_path / "missing.yaml"), str(second)])
    from click.testing import CliRunner

    from failsync.cli import main
    result = CliRunner().invoke(main, ["diff", str(GUIDE_POLICIES)], env={"KUBECONFIG": listed})
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output


def test_diff_with_an_invalid_policy_exits_2_not_1(guide, tmp_path) -> None:
    (tmp_path / "good.yaml").write_text(policy_document("emojivoto", "pending-and-broken"))
    (tmp_path / "bad.yaml").write_text("apiVersion: failsync.io/v1alpha1\nkind: FailoverPolicy\nmetadata: {}\n")
    result = failsync(guide.kubeconfig, "diff", str(tmp_path))
    assert result.exit_code == 2, result.output
    assert "bad.yaml" in result.stderr


def test_unreadable_policy_directory_is_an_error_and_prune_deletes_nothing(guide, tmp_path, monkeypatch) -> None:
    """As root every directory is readable, so the failure is made where the loader reads it."""
    west, config = guide["west"], guide.kubeconfig
    (tmp_path / "kept.yaml").write_text(policy_document("emojivoto", "kept-beside-hidden"))
    hidden = tmp_path / "team-b"
    hidden.mkdir()
    (hidden / "theirs.yaml").write_text(policy_document("emojivoto", "theirs"))
    assert failsync(config, "sync", str(tmp_path)).exit_code == 0
    assert west.get(SPLIT, "TrafficSplit", "emojivoto", "theirs") is not None

    deny_to_the_loader(monkeypatch, hidden, "scandir")
    result = failsync(config, "sync", "--prune", str(tmp_path))
    assert result.exit_code == 2
    assert f"{hidden}: cannot read this directory: Permission denied" in result.stderr
    assert "prune skipped" in result.stderr
    assert west.get(SPLIT, "TrafficSplit", "emojivoto", "theirs") is not None


def test_hostile_files_never_block_the_good_policies(guide, tmp_path) -> None:
    """An alias bomb, a recursive alias, a named pipe and an empty file beside a good policy: each is
    one file:line error, the good policy syncs, and nothing hangs."""
    west, config = guide["west"], guide.kubeconfig
    (tmp_path / "good.yaml").write_text(policy_document("emojivoto", "beside-hostile"))
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
    (tmp_path / "bomb.yaml").write_text(bomb)
    (tmp_path / "loop.yaml").write_text("a: &a [*a]\n")
    (tmp_path / "empty.yaml").write_text("")
    os.mkfifo(tmp_path / "pipe.yaml")

    result = failsync(config, "sync", str(tmp_path))
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if "1 object" not in line and "other error" not in line]
    assert [line.split(":")[1].rpartition("/")[2] for line in errors] == [
        "bomb.yaml", "empty.yaml", "loop.yaml", "pipe.yaml"], errors
    assert "emojivoto/beside-hostile: created" in result.stdout
    assert west.get(SPLIT, "TrafficSplit", "emojivoto", "beside-hostile") is not None
