"""``$KUBECONFIG`` lists are merged as kubectl merges them (unit level; the CLI test is in
tests/integration/sync/test_repair_and_messages.py).

Covers: the first file naming a cluster/user/context wins, the first current-context wins,
missing files are skipped, relative file paths resolve against the file that names them;
the in-cluster service account gives the API server of the pod's environment, its token, CA and
namespace (pykube-ng's configuration of it agrees), and none is one line saying what to pass;
a context naming a missing cluster or certificate file is one line naming the context and what is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from failsync.errors import FailsyncError
from failsync.kube import kubeconfig
from failsync.kube.client import kubeconfig_files, load_config, merge_kubeconfigs


def _write(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def test_first_file_wins_and_relative_paths_follow_their_file(tmp_path: Path) -> None:
    first = _write(tmp_path / "a" / "config", {
        "current-context": "west",
        "clusters": [{"name": "west", "cluster": {"server": "https://a", "certificate-authority": "ca.crt"}}],
        "contexts": [{"name": "west", "context": {"cluster": "west", "user": "me"}}]})
    second = _write(tmp_path / "b" / "config", {
        "current-context": "east",
        "clusters": [{"name": "west", "cluster": {"server": "https://loses"}},
                     {"name": "east", "cluster": {"server": "https://b", "certificate-authority": "/abs/ca.crt"}}],
        "users": [{"name": "me", "user": {"token": "t", "client-key": "keys/me.key"}}],
        "contexts": [{"name": "east", "context": {"cluster": "east", "user": "me"}}]})
    listed = os.pathsep.join([str(first), str(tmp_path / "missing"), str(second)])
    assert kubeconfig_files(listed) == [first, tmp_path / "missing", second]

    merged = merge_kubeconfigs(kubeconfig_files(listed))
    assert merged["current-context"] == "west"
    clusters = {item["name"]: item["cluster"] for item in merged["clusters"]}
    assert clusters["west"] == {"server": "https://a", "certificate-authority": str(tmp_path / "a" / "ca.crt")}
    assert clusters["east"]["certificate-authority"] == "/abs/ca.crt"
    (user,) = merged["users"]
    assert user["user"]["client-key"] == str(tmp_path / "b" / "keys" / "me.key")
    assert [item["name"] for item in merged["contexts"]] == ["west", "east"]


def test_in_cluster_service_account(tmp_path: Path, monkeypatch) -> None:
    for name, text in (("token", "sa-token"), ("namespace", "failsync"), ("ca.crt", "PEM")):
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(kubeconfig, "SERVICE_ACCOUNT_DIR", tmp_path)
    monkeypatch.delenv("PYKUBE_KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("PYKUBE_KUBERNETES_SERVICE_PORT", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    config = load_config(None)
    assert (config.server, config.user["token"], config.namespace) == ("https://10.96.0.1:443", "sa-token", "failsync")
    assert config.credential("cluster", "certificate-authority").bytes() == b"PEM"
    assert config.pykube().cluster["server"] == config.server and config.pykube().namespace == "failsync"
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    with pytest.raises(FailsyncError, match="no Kubernetes configuration: pass --kubeconfig"):
        load_config(None)


def test_a_context_naming_what_does_not_exist_is_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "config", {
        "clusters": [{"name": "c", "cluster": {"server": "https://a", "certificate-authority": "gone.crt"}}],
        "contexts": [{"name": "lost", "context": {"cluster": "nowhere"}}, {"name": "ca", "context": {"cluster": "c"}}]})
    with pytest.raises(FailsyncError, match=r"context 'lost' in kubeconfig .* is incomplete: no clusters entry 'nowhere'"):
        load_config(path, "lost")
    with pytest.raises(FailsyncError, match=r"context 'ca' in kubeconfig .* is incomplete: certificate-authority file"):
        load_config(path, "ca")
