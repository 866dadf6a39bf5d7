"""``$KUBECONFIG`` lists are merged as kubectl merges them (unit level; the CLI test is in
tests/integration/sync/test_repair_and_messages.py).

Covers: the first file naming a cluster/user/context wins, the first current-context wins,
missing files are skipped, relative file paths resolve against the file that names them.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from failsync.kube.client import kubeconfig_files, merge_kubeconfigs


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
