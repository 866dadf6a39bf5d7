"""`failback.holdSeconds` across separate one-shot `sync` runs, carried by an annotation on the object.

Covers: after a failover, the primary coming back does not get traffic while the hold runs: `sync`
records `failsync.io/primary-healthy-since` (without touching weights) and a later `sync` still holds;
once the recorded time is older than holdSeconds, `sync` fails back; while the primary is down the
annotation is removed; policies with holdSeconds 0 never get the annotation.
"""
from __future__ import annotations

import copy

from tests.helpers import wait_for
from tests.integration.sync.conftest import ready_count
from tests.integration.sync.support import failsync, policy_document, weights

SPLIT = "split.smi-spec.io/v1alpha2"
SINCE = "failsync.io/primary-healthy-since"


def annotations(cluster, name: str) -> dict:
    return cluster.get(SPLIT, "TrafficSplit", "emojivoto", name)["metadata"].get("annotations") or {}


def scale(kubectl, cluster, replicas: int) -> None:
    code, _, err = kubectl("--context", "west", "-n", "emojivoto", "scale", "deploy/web", f"--replicas={replicas}")
    assert code == 0, err
    wait_for(lambda: ready_count(cluster, "emojivoto", "web-svc") == replicas, message=f"web-svc at {replicas}")


def test_failback_waits_for_hold_seconds_across_runs(guide, kubectl, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    policies = tmp_path / "p.yaml"
    policies.write_text(policy_document("emojivoto", "held", hold=3600) + "---\n"
                        + policy_document("emojivoto", "unheld"))
    assert failsync(config, "sync", str(policies)).exit_code == 0
    assert SINCE in annotations(west, "held")
    assert SINCE not in annotations(west, "unheld")

    scale(kubectl, west, 0)
    assert failsync(config, "sync", str(policies)).exit_code == 0
    assert weights(west, name="held") == {"web-svc": 0, "web-svc-east": 1}
    assert SINCE not in annotations(west, "held")

    scale(kubectl, west, 1)
    first = failsync(config, "sync", str(policies))
    assert first.exit_code == 0, first.output
    assert weights(west, name="held") == {"web-svc": 0, "web-svc-east": 1}
    assert weights(west, name="unheld") == {"web-svc": 1, "web-svc-east": 0}
    assert SINCE in annotations(west, "held")
    second = failsync(config, "sync", str(policies))
    assert "emojivoto/held: unchanged" in second.stdout
    assert weights(west, name="held") == {"web-svc": 0, "web-svc-east": 1}

    aged = copy.deepcopy(west.get(SPLIT, "TrafficSplit", "emojivoto", "held"))
    aged["metadata"]["annotations"][SINCE] = "2000-01-01T00:00:00Z"  # as if the hold had run out
    west.apply(aged)
    released = failsync(config, "sync", str(policies))
    assert "emojivoto/held: patched (web-svc 0->1, web-svc-east 1->0)" in released.stdout
    assert weights(west, name="held") == {"web-svc": 1, "web-svc-east": 0}
