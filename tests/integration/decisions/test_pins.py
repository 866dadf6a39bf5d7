"""`failsync pin` / `unpin` against the sandbox, and the pin honoured by `sync` and `status`.

Covers:
- pin --to a fallback --for 30m: the failsync.io/pin annotation with an RFC 3339 until, the
  weights moved at once (over a healthy primary), a Pinned Event; `sync` keeps both; `status`
  says pinned and shows the PIN column; `-o json` carries it;
- a pin to a backend outside the policy, or of an unknown policy, exits 2 and writes nothing;
- --dry-run writes nothing and says what would change; a bad --for exits 2;
- unpin removes the annotation, health decides again, an Unpinned Event; unpin again is a no-op;
- an expired pin: the next `sync` removes the annotation, goes back to health, a PinExpired Event;
- a hand-written pin that cannot be read or names no backend: ignored, kept, and said by `explain`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from failsync.core.pins import PIN_ANNOTATION, parse_pin
from tests.integration.decisions.conftest import (annotations, backends, failsync, set_endpoints, weights,
                                                  write_policy)

SPLIT = "split.smi-spec.io/v1alpha2"
PRIMARY = {"web-svc": 1, "web-svc-east": 0, "web-svc-central": 0}
CENTRAL = {"web-svc": 0, "web-svc-east": 0, "web-svc-central": 1}


@pytest.fixture
def synced(sandbox, namespace: str, tmp_path: Path) -> tuple[str, Path]:
    west = sandbox["west"]
    backends(west, namespace)
    for service in ("web-svc", "web-svc-east", "web-svc-central"):
        set_endpoints(west, namespace, service, 1)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    assert failsync(sandbox.kubeconfig, "sync", str(policy)).exit_code == 0
    assert weights(west, namespace) == PRIMARY
    return namespace, policy


def _events(cluster, namespace: str, reason: str) -> list[dict]:
    return [e for e in cluster.list("v1", "Event", namespace) if e.get("reason") == reason]


def test_pin_moves_traffic_at_once_and_sync_and_status_honour_it(sandbox, synced) -> None:
    west = sandbox["west"]
    ns, policy = synced
    result = failsync(sandbox.kubeconfig, "pin", f"{ns}/web-svc-failover", "--to", "web-svc-central",
                      "--for", "30m", "-f", str(policy))
    assert result.exit_code == 0, result.output
    assert f"{ns}/web-svc-failover: pinned ({PIN_ANNOTATION}=web-svc-central,until=" in result.stdout
    assert f"{ns}/web-svc-failover: patched (web-svc 1->0, web-svc-central 0->1)" in result.stdout
    assert weights(west, ns) == CENTRAL
    pin = parse_pin(annotations(west, ns)[PIN_ANNOTATION])
    assert pin.backend == "web-svc-central" and pin.until is not None
    (event,) = _events(west, ns, "Pinned")
    assert "web-svc-central carries all traffic" in event["message"]

    again = failsync(sandbox.kubeconfig, "sync", str(policy))
    assert f"{ns}/web-svc-failover: unchanged" in again.stdout and weights(west, ns) == CENTRAL
    status = failsync(sandbox.kubeconfig, "status", str(policy))
    header, row = status.stdout.splitlines()[:2]
    assert header.split()[-1] == "PIN" and "pinned" in row.split() and "web-svc-central until" in row
    as_json = json.loads(failsync(sandbox.kubeconfig, "status", str(policy), "-o", "json").stdout)
    assert as_json["objects"][0]["pin"].startswith("web-svc-central until ")

    unpinned = failsync(sandbox.kubeconfig, "unpin", "web-svc-failover", "-f", str(policy))
    assert unpinned.exit_code == 0, unpinned.output
    assert "unpinned" in unpinned.stdout and weights(west, ns) == PRIMARY
    assert PIN_ANNOTATION not in annotations(west, ns)
    assert len(_events(west, ns, "Unpinned")) == 1
    noop = failsync(sandbox.kubeconfig, "unpin", "web-svc-failover", "-f", str(policy))
    assert noop.exit_code == 0 and "already not pinned" in noop.stdout


def test_pin_to_a_backend_outside_the_policy_is_refused(sandbox, synced) -> None:
    west = sandbox["west"]
    ns, policy = synced
    before = west.get(SPLIT, "TrafficSplit", ns, "web-svc-failover")["metadata"]["resourceVersion"]
    result = failsync(sandbox.kubeconfig, "pin", "web-svc-failover", "--to", "web-svc-north", "-f", str(policy))
    assert result.exit_code == 2
    assert "'web-svc-north' is not a backend of" in result.stderr and "web-svc-east" in result.stderr
    unknown = failsync(sandbox.kubeconfig, "pin", "nope", "--to", "web-svc-east", "-f", str(policy))
    assert unknown.exit_code == 2 and "no policy 'nope'" in unknown.stderr
    bad = failsync(sandbox.kubeconfig, "pin", "web-svc-failover", "--to", "web-svc-east", "--for", "soon",
                   "-f", str(policy))
    assert bad.exit_code == 2 and "is not a duration" in bad.output
    assert west.get(SPLIT, "TrafficSplit", ns, "web-svc-failover")["metadata"]["resourceVersion"] == before


def test_pin_dry_run_writes_nothing(sandbox, synced) -> None:
    west = sandbox["west"]
    ns, policy = synced
    result = failsync(sandbox.kubeconfig, "pin", "web-svc-failover", "--to", "web-svc-east", "--dry-run",
                      "-f", str(policy))
    assert result.exit_code == 0, result.output
    assert "would be pinned" in result.stdout
    assert f"{ns}/web-svc-failover: would patch (web-svc 1->0, web-svc-east 0->1)" in result.stdout
    assert PIN_ANNOTATION not in annotations(west, ns) and weights(west, ns) == PRIMARY


def test_an_expired_pin_is_removed_by_sync_with_an_event(sandbox, synced) -> None:
    west = sandbox["west"]
    ns, policy = synced
    assert failsync(sandbox.kubeconfig, "pin", "web-svc-failover", "--to", "web-svc-central",
                    "-f", str(policy)).exit_code == 0
    assert weights(west, ns) == CENTRAL
    obj = copy.deepcopy(west.get(SPLIT, "TrafficSplit", ns, "web-svc-failover"))
    obj["metadata"]["annotations"][PIN_ANNOTATION] = "web-svc-central,until=2000-01-01T00:00:00Z"
    west.apply(obj)
    result = failsync(sandbox.kubeconfig, "sync", str(policy))
    assert f"{ns}/web-svc-failover: patched (web-svc 0->1, web-svc-central 1->0)" in result.stdout
    assert PIN_ANNOTATION not in annotations(west, ns)
    (event,) = _events(west, ns, "PinExpired")
    assert "web-svc-central" in event["message"]


def test_a_hand_written_pin_that_cannot_be_used_is_ignored_kept_and_explained(sandbox, synced) -> None:
    west = sandbox["west"]
    ns, policy = synced
    for text, said in (("web-svc-east,until=soon", "the pin cannot be read and is ignored"),
                       ("web-svc-north", "is ignored: not a backend of this policy")):
        obj = copy.deepcopy(west.get(SPLIT, "TrafficSplit", ns, "web-svc-failover"))
        obj["metadata"]["annotations"][PIN_ANNOTATION] = text
        west.apply(obj)
        result = failsync(sandbox.kubeconfig, "sync", str(policy))
        assert f"{ns}/web-svc-failover: unchanged" in result.stdout, result.output
        assert weights(west, ns) == PRIMARY and annotations(west, ns)[PIN_ANNOTATION] == text
        assert said in failsync(sandbox.kubeconfig, "explain", "web-svc-failover", "-f", str(policy)).stdout
