"""`sync --prune` deletes owned objects whose policy is gone, and nothing else.

Covers: an owned orphan (label managed-by=failsync and a failsync.io/policy annotation naming a
policy that no longer exists) is deleted, in any namespace; a hand-written TrafficSplit, one with
only the managed-by label, and the objects of current policies are kept; `--dry-run --prune`
shows "would prune" and writes nothing; with an invalid policy file prune is skipped (its object
might be one of the "orphans") and the command exits 2.
"""
from __future__ import annotations

from tests.integration.sync.support import failsync, namespace, policy_document, writes

SPLIT = "split.smi-spec.io/v1alpha2"


def split(cluster, ns: str, name: str, labels: dict, annotations: dict) -> None:
    cluster.apply({"apiVersion": SPLIT, "kind": "TrafficSplit",
                   "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
                   "spec": {"service": "web-svc", "backends": [{"service": "web-svc", "weight": 1}]}})


OWNED = {"app.kubernetes.io/managed-by": "failsync"}


def names(cluster) -> set[tuple[str, str]]:
    found = set()
    for ns in ("emojivoto", "other"):
        for name in ("kept", "orphan", "hand-written", "label-only", "far-orphan"):
            if cluster.get(SPLIT, "TrafficSplit", ns, name) is not None:
                found.add((ns, name))
    return found


def test_prune_deletes_only_owned_orphans(guide, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    west.apply(namespace("other"))
    split(west, "emojivoto", "orphan", OWNED, {"failsync.io/policy": "emojivoto/orphan"})
    split(west, "other", "far-orphan", OWNED, {"failsync.io/policy": "other/far-orphan"})
    split(west, "emojivoto", "hand-written", {"failover.linkerd.io/controlled-by": "linkerd-failover"}, {})
    split(west, "emojivoto", "label-only", OWNED, {})
    policy_file = tmp_path / "kept.yaml"
    policy_file.write_text(policy_document("emojivoto", "kept"))

    west.requests.clear()
    dry = failsync(config, "sync", "--dry-run", "--prune", str(policy_file))
    assert dry.exit_code == 0, dry.output
    assert "emojivoto/orphan: would prune: policy emojivoto/orphan is gone" in dry.stdout
    assert "other/far-orphan: would prune" in dry.stdout
    assert "emojivoto/kept: would create" in dry.stdout
    assert writes(west) == []

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.yaml").write_text("apiVersion: failsync.io/v1alpha1\nkind: FailoverPolicy\nmetadata: {}\n")
    skipped = failsync(config, "sync", "--prune", str(policy_file), str(broken))
    assert skipped.exit_code == 2
    assert "prune skipped" in skipped.stderr
    assert ("emojivoto", "orphan") in names(west)

    pruned = failsync(config, "sync", "--prune", str(policy_file))
    assert pruned.exit_code == 0, pruned.output
    assert "emojivoto/orphan: pruned" in pruned.stdout
    assert names(west) == {("emojivoto", "kept"), ("emojivoto", "hand-written"), ("emojivoto", "label-only")}
