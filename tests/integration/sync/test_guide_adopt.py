"""The guide in drop-in mode: its hand-written TrafficSplit, applied with kubectl, driven by `sync --adopt`.

Covers: with no policy files `--adopt` is fine; the guide's TrafficSplit in sync writes nothing;
scaling web to zero makes `sync --adopt` move weight to web-svc-east and back after scaling up;
failsync changes only the weights (no labels or annotations of its own on the hand-written object,
kubectl's last-applied annotation kept); `status --adopt` shows the state; a TrafficSplit that does
not match the selector is left alone; a malformed adopted object is reported and skipped while the
others proceed.
"""
from __future__ import annotations

import json

from tests.helpers import wait_for
from tests.integration.sync.conftest import ready_count
from tests.helpers import GUIDE_TRAFFIC_SPLIT
from tests.integration.sync.support import failsync, weights, writes


def apply_guide_split(kubectl) -> None:
    code, _, err = kubectl("--context", "west", "apply", "-f", "-", input=GUIDE_TRAFFIC_SPLIT)
    assert code == 0, err


def test_guide_trafficsplit_fails_over_and_back_with_sync_adopt(guide, kubectl, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    apply_guide_split(kubectl)
    original = west.get("split.smi-spec.io/v1alpha2", "TrafficSplit", "emojivoto", "web-svc-failover")
    no_policies = str(tmp_path / "none")

    west.requests.clear()
    steady = failsync(config, "sync", "--adopt", no_policies)
    assert steady.exit_code == 0, steady.output
    assert "emojivoto/web-svc-failover: unchanged" in steady.stdout
    assert writes(west) == []

    code, _, err = kubectl("--context", "west", "-n", "emojivoto", "scale", "deploy/web", "--replicas=0")
    assert code == 0, err
    wait_for(lambda: ready_count(west, "emojivoto", "web-svc") == 0, message="web-svc emptied")
    assert failsync(config, "diff", "--adopt", no_policies).exit_code == 1
    failed_over = failsync(config, "sync", "--adopt", no_policies)
    assert failed_over.exit_code == 0, failed_over.output
    assert "patched (web-svc 1->0, web-svc-east 0->1)" in failed_over.stdout
    assert weights(west) == {"web-svc": 0, "web-svc-east": 1}

    after = west.get("split.smi-spec.io/v1alpha2", "TrafficSplit", "emojivoto", "web-svc-failover")
    assert after["metadata"]["labels"] == original["metadata"]["labels"]
    assert after["metadata"]["annotations"] == original["metadata"]["annotations"]
    assert after["spec"]["service"] == "web-svc"

    status = json.loads(failsync(config, "status", "--adopt", no_policies, "-o", "json").stdout)
    [item] = status["objects"]
    assert (item["state"], item["origin"]) == ("failed-over", "adopted")

    code, _, err = kubectl("--context", "west", "-n", "emojivoto", "scale", "deploy/web", "--replicas=1")
    assert code == 0, err
    wait_for(lambda: ready_count(west, "emojivoto", "web-svc") == 1, message="web-svc refilled")
    restored = failsync(config, "sync", "--adopt", no_policies)
    assert restored.exit_code == 0, restored.output
    assert weights(west) == {"web-svc": 1, "web-svc-east": 0}
    code, out, _ = kubectl("--context", "west", "-n", "emojivoto", "get", "ts/web-svc-failover", "-o", "json")
    assert code == 0 and json.loads(out)["spec"]["backends"][0] == {"service": "web-svc", "weight": 1}


def test_unselected_and_malformed_trafficsplits_are_left_alone(guide, kubectl, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    apply_guide_split(kubectl)
    base = {"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
            "spec": {"service": "web-svc", "backends": [{"service": "web-svc", "weight": 0},
                                                         {"service": "web-svc-east", "weight": 1}]}}
    west.apply({**base, "metadata": {"name": "not-selected", "namespace": "emojivoto"}})
    west.apply({**base, "metadata": {"name": "wrong-primary", "namespace": "emojivoto",
                                     "labels": {"failover.linkerd.io/controlled-by": "linkerd-failover"},
                                     "annotations": {"failover.linkerd.io/primary-service": "nope"}}})
    result = failsync(config, "sync", "--adopt", str(tmp_path / "none"))
    assert result.exit_code == 2
    assert "emojivoto/wrong-primary: failed: cannot adopt" in result.stdout
    assert "primary service 'nope' is not one of the backends" in result.stderr
    assert "emojivoto/web-svc-failover:" in result.stdout  # the good one still synced
    assert "not-selected" not in result.stdout
    assert weights(west, name="not-selected") == {"web-svc": 0, "web-svc-east": 1}
    assert weights(west, name="wrong-primary") == {"web-svc": 0, "web-svc-east": 1}
