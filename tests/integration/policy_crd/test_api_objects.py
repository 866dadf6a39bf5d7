"""FailoverPolicy objects applied with kubectl, read back, listed, and synced.

Covers: `kubectl get fop -o yaml` output (one object, or the List of several), with its
server metadata, validates and renders exactly as the policy file that was applied;
`failsync get` lists the live objects (table with PRIMARY/ACTIVE/STATE/AGE; -o json a List
that validates); `failsync status --source cluster` lists the live objects' routes with their
state, names an invalid object's field on stderr, and with `--source all` reports a file and an
object rendering the same TrafficSplit (the file's policy is the one shown); `failsync sync` of an object read from the API creates the TrafficSplit,
and every write failsync makes carries `fieldManager=failsync`.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.integration.sync.support import GUIDE_POLICIES, failsync, install_emojivoto, writes

NS = "fop-live"


def _guide_policy() -> str:
    return (GUIDE_POLICIES / "web-svc-failover.yaml").read_text().replace("namespace: emojivoto",
                                                                          f"namespace: {NS}")


def _applied(sandbox, kubectl, tmp_path: Path) -> Path:
    if sandbox["west"].get("v1", "Namespace", None, NS) is None:
        install_emojivoto(sandbox["west"], NS)
    done = kubectl("apply", "-f", "-", input=_guide_policy())
    assert done.returncode == 0, done.stderr
    plain = tmp_path / "plain.yaml"
    plain.write_text(_guide_policy())
    return plain


def test_an_object_read_back_with_kubectl_validates_and_renders_as_its_file(installed, sandbox, kubectl,
                                                                             tmp_path: Path) -> None:
    plain = _applied(sandbox, kubectl, tmp_path)
    one = kubectl("get", "fop", "web-svc-failover", "-n", NS, "-o", "yaml")
    listed = kubectl("get", "fop", "-n", NS, "-o", "yaml")
    assert one.returncode == listed.returncode == 0, one.stderr + listed.stderr
    live = yaml.safe_load(one.stdout)
    assert {"uid", "resourceVersion", "creationTimestamp"} <= set(live["metadata"])
    for name, text in (("one.yaml", one.stdout), ("list.yaml", listed.stdout)):
        path = tmp_path / name
        path.write_text(text)
        checked = failsync(sandbox.kubeconfig, "validate", str(path))
        assert checked.exit_code == 0, checked.output
        assert failsync(sandbox.kubeconfig, "render", str(path)).output == \
            failsync(sandbox.kubeconfig, "render", str(plain)).output


def test_get_lists_the_live_policies(installed, sandbox, kubectl, tmp_path: Path) -> None:
    _applied(sandbox, kubectl, tmp_path)
    table = failsync(sandbox.kubeconfig, "get", "-n", NS)
    assert table.exit_code == 0, table.output
    header, row = table.output.splitlines()[:2]
    assert header.split() == ["NAMESPACE", "NAME", "PRIMARY", "ACTIVE", "STATE", "AGE"]
    assert row.split()[:3] == [NS, "web-svc-failover", "web-svc"]
    listed = failsync(sandbox.kubeconfig, "get", "-o", "json")
    items = json.loads(listed.output)["items"]
    assert any(item["metadata"] == {**item["metadata"], "name": "web-svc-failover", "namespace": NS}
               for item in items)
    path = tmp_path / "live.json"
    path.write_text(listed.output)
    path = path.rename(tmp_path / "live.yaml")  # JSON is YAML; policy files end in .yaml
    assert failsync(sandbox.kubeconfig, "validate", str(path)).exit_code == 0


def test_sync_of_a_live_object_writes_as_failsync(installed, sandbox, kubectl, tmp_path: Path) -> None:
    _applied(sandbox, kubectl, tmp_path)
    live = tmp_path / "live.yaml"
    live.write_text(kubectl("get", "fop", "-n", NS, "-o", "yaml").stdout)
    west = sandbox["west"]
    west.requests.clear()
    synced = failsync(sandbox.kubeconfig, "sync", str(live))
    assert synced.exit_code == 0, synced.output
    assert west.get("split.smi-spec.io/v1alpha2", "TrafficSplit", NS, "web-svc-failover") is not None
    made = writes(west)
    assert made and all(record.query.get("fieldManager") == "failsync" for record in made), made


def test_status_source_cluster_lists_the_live_policies(installed, sandbox, kubectl, tmp_path: Path) -> None:
    plain = _applied(sandbox, kubectl, tmp_path)
    bad = yaml.safe_load(_guide_policy())
    bad["metadata"] = {"name": "bad", "namespace": NS, "labels": {"app.kubernetes.io/managed-by": "argocd"}}
    done = kubectl("apply", "-f", "-", input=yaml.safe_dump(bad))
    assert done.returncode == 0, done.stderr
    try:
        shown = failsync(sandbox.kubeconfig, "status", "--source", "cluster", "-n", NS)
        rows = [line.split() for line in shown.stdout.splitlines()]
        assert rows[0][:4] == ["NAMESPACE", "NAME", "TARGET", "STATE"]
        assert [row[:2] for row in rows[1:]] == [[NS, "web-svc-failover"]], shown.output
        assert f"FailoverPolicy {NS}/bad" in shown.stderr
        assert "metadata.labels.app.kubernetes.io/managed-by" in shown.stderr, shown.stderr
        as_json = json.loads(failsync(sandbox.kubeconfig, "status", "--source", "cluster", "-n", NS,
                                      "-o", "json").stdout)
        assert [(o["namespace"], o["name"]) for o in as_json["objects"]] == [(NS, "web-svc-failover")]

        both = failsync(sandbox.kubeconfig, "status", "--source", "all", "-n", NS, str(plain))
        assert [line.split()[:2] for line in both.stdout.splitlines()[1:]] == [[NS, "web-svc-failover"]]
        assert f"FailoverPolicy {NS}/web-svc-failover: the policy file {plain}" in both.stderr, both.stderr
    finally:
        kubectl("delete", "fop", "bad", "-n", NS)
