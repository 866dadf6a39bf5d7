"""Health from where a backend really runs (SPEC §11): the policy fields and the pure verdict.

Covers: ``fallbacks[].health`` and ``health.remoteGraceSeconds`` parse (defaults, bounds,
file:line:key errors); reading Linkerd's mirror labels; where a backend's health is read
(policy, mirror, local fallback, unknown cluster); the verdict table (gateway up/down,
remote discovery, grace of an unreachable cluster) and the sentence that says why.
"""

from __future__ import annotations

import pytest

from failsync.core.model import Backend, Policy, RemoteHealth
from failsync.core.policies import parse_policies
from failsync.core.remote_health import (
    BackendHealth,
    Mirror,
    RemoteReading,
    RemoteTarget,
    assess,
    combined_counts,
    explained,
    mirror_of,
    place,
)
from tests.helpers import MINIMAL_POLICY

BASE = MINIMAL_POLICY.format(name="web-svc-failover")


def test_defaults_read_nothing_remote() -> None:
    (policy,) = parse_policies(BASE, "p.yaml").policies
    assert policy.remote_grace_seconds == 30 and all(b.remote is None for b in policy.backends)


def test_fallback_health_and_grace_parse() -> None:
    text = BASE + """\
      health:
        cluster: east
        service: web-svc
        namespace: shop
    - service: web-svc-central
      health: {cluster: central}
  health:
    remoteGraceSeconds: 90
"""
    result = parse_policies(text, "p.yaml")
    assert result.errors == ()
    (policy,) = result.policies
    assert policy.remote_grace_seconds == 90
    assert policy.fallbacks[0].remote == RemoteHealth("east", "web-svc", "shop")
    assert policy.fallbacks[1].remote == RemoteHealth("central")


@pytest.mark.parametrize(("extra", "line", "key", "says"), [
    ("      health:\n        service: web-svc\n", 10, "spec.fallbacks[0].health.cluster", "required field"),
    ("      health:\n        cluster: East_1\n", 11, "spec.fallbacks[0].health.cluster", "DNS-1123"),
    ("      health:\n        cluster: east\n        zone: a\n", 12, "spec.fallbacks[0].health.zone", "unknown key"),
    ("      health: east\n", 10, "spec.fallbacks[0].health", "expected a mapping"),
    ("      health: {}\n", 10, "spec.fallbacks[0].health", "empty mapping"),
    ("  health:\n    remoteGraceSeconds: -1\n", 11, "spec.health.remoteGraceSeconds", "from 0 to 86400"),
    ("  health:\n    remoteGraceSeconds: 100000\n", 11, "spec.health.remoteGraceSeconds", "found 100000"),
    ("  health:\n    remoteGraceSeconds: soon\n", 11, "spec.health.remoteGraceSeconds", "the string 'soon'"),
])
def test_bad_values_name_file_line_and_key(extra: str, line: int, key: str, says: str) -> None:
    result = parse_policies(BASE + extra, "p.yaml")
    assert result.policies == ()
    (error,) = result.errors
    assert (error.location.file, error.location.line, error.location.key) == ("p.yaml", line, key)
    assert says in str(error)


def _service(labels: dict, annotations: dict | None = None) -> dict:
    return {"metadata": {"name": "web-svc-east", "namespace": "emojivoto", "labels": labels,
                         "annotations": annotations or {}}}


MIRROR_LABELS = {"mirror.linkerd.io/mirrored-service": "true", "mirror.linkerd.io/cluster-name": "east"}
FQ = {"mirror.linkerd.io/remote-svc-fq-name": "web-svc.emojivoto.svc.cluster.local"}


@pytest.mark.parametrize(("service", "expected"), [
    (None, None),
    (_service({}), None),
    (_service({"mirror.linkerd.io/mirrored-service": "true"}), None),  # no cluster name: not a mirror we can follow
    (_service(MIRROR_LABELS, FQ), Mirror("east", "web-svc", "emojivoto", False)),
    (_service(MIRROR_LABELS), Mirror("east", None, None, False)),
    (_service({**MIRROR_LABELS, "multicluster.linkerd.io/remote-discovery": "east"}, FQ),
     Mirror("east", "web-svc", "emojivoto", True)),
    (_service({**MIRROR_LABELS, "mirror.linkerd.io/remote-discovery": "true"}), Mirror("east", None, None, True)),
])
def test_mirror_labels(service: dict | None, expected: Mirror | None) -> None:
    assert mirror_of(service) == expected


POLICY = Policy("web-svc-failover", "emojivoto", "web-svc", "web-svc", (Backend("web-svc-east"),))
EAST_MIRROR = Mirror("east", "web-svc", "emojivoto", False)


def test_a_mirror_is_read_in_its_cluster_without_any_policy_change() -> None:
    placed = place(POLICY, POLICY.fallbacks[0], EAST_MIRROR, ["east"])
    assert placed.target == RemoteTarget("east", "emojivoto", "web-svc", "mirror")


def test_a_mirror_of_an_unknown_cluster_falls_back_to_local_endpoints_and_says_so() -> None:
    placed = place(POLICY, POLICY.fallbacks[0], EAST_MIRROR, ["central"])
    assert placed.target is None and placed.error is None
    assert "mirror of cluster east, which failsync does not read" in placed.note
    assert "--cluster east=CONTEXT" in placed.note and "local endpoints" in placed.note


def test_policy_health_wins_and_defaults_from_the_mirror_then_the_backend() -> None:
    backend = Backend("web-svc-east", remote=RemoteHealth("east"))
    assert place(POLICY, backend, None, ["east"]).target == RemoteTarget("east", "emojivoto", "web-svc-east", "policy")
    assert place(POLICY, backend, EAST_MIRROR, ["east"]).target == RemoteTarget("east", "emojivoto", "web-svc", "policy")
    named = Backend("web-svc-east", remote=RemoteHealth("east", "web", "shop"))
    assert place(POLICY, named, EAST_MIRROR, ["east"]).target == RemoteTarget("east", "shop", "web", "policy")


def test_an_unknown_cluster_name_is_an_error_listing_the_known_ones() -> None:
    backend = Backend("web-svc-east", remote=RemoteHealth("esat"))
    placed = place(POLICY, backend, None, ["west", "east"])
    assert placed.target is None
    assert placed.error == ("backend web-svc-east: health.cluster 'esat' is not a cluster failsync reads; "
                            "known clusters: east, west")


GATEWAY = RemoteTarget("east", "emojivoto", "web-svc", "mirror")
DISCOVERY = RemoteTarget("east", "emojivoto", "web-svc", "mirror", remote_discovery=True)


@pytest.mark.parametrize(("target", "local", "reading", "now", "healthy", "ready", "reason"), [
    # gateway mode: the gateway's address stays ready while east's pods are gone (linkerd-failover#175)
    (GATEWAY, (1, 1), RemoteReading(0), 0, False, 0, "web-svc-east: 0 ready in east, gateway up"),
    (GATEWAY, (1, 1), RemoteReading(3), 0, True, 3, "web-svc-east: 3 ready in east, gateway up"),
    (GATEWAY, (0, 1), RemoteReading(3), 0, False, 0,
     "web-svc-east: 3 ready in east, gateway down (0 of 1 local endpoints ready)"),
    # remote discovery: no local endpoints, the remote count alone decides
    (DISCOVERY, (0, 0), RemoteReading(2), 0, True, 2, "web-svc-east: 2 ready in east, remote discovery"),
    (DISCOVERY, (0, 0), RemoteReading(0), 0, False, 0, "web-svc-east: 0 ready in east, remote discovery"),
    (GATEWAY, (0, 0), RemoteReading(2), 0, True, 2, "web-svc-east: 2 ready in east, no local endpoints"),
    # unreachable: the last known count within the grace, then unhealthy
    (GATEWAY, (1, 1), RemoteReading(3, unreachable_since=100), 110, True, 3,
     "web-svc-east: east unreachable for 10s; last known 3 ready, kept for the 30s grace, gateway up"),
    (GATEWAY, (1, 1), RemoteReading(3, unreachable_since=100), 130, False, 0,
     "web-svc-east: east unreachable for 30s, past the 30s grace: unhealthy"),
    (GATEWAY, (1, 1), RemoteReading(None, unreachable_since=100), 101, False, 0,
     "web-svc-east: east unreachable for 1s and never read: unhealthy"),
    (GATEWAY, (1, 1), RemoteReading(None), 0, False, 0, "web-svc-east: emojivoto/web-svc not read in east: unhealthy"),
])
def test_verdicts(target: RemoteTarget, local: tuple[int, int], reading: RemoteReading, now: float,
                  healthy: bool, ready: int, reason: str) -> None:
    verdict = assess("web-svc-east", target, *local, reading, min_ready=1, grace_seconds=30, now=now)
    assert (verdict.healthy, verdict.ready, verdict.reason) == (healthy, ready, reason)


def test_min_ready_applies_to_the_remote_count_and_the_grace_end_is_a_revisit() -> None:
    assert not assess("b", GATEWAY, 1, 1, RemoteReading(2), min_ready=3, grace_seconds=30, now=0).healthy
    within = assess("b", GATEWAY, 1, 1, RemoteReading(3, unreachable_since=100), min_ready=1, grace_seconds=30, now=105)
    assert within.revisit_at == 130


def test_combined_counts_replace_only_remote_backends_and_the_reason_names_them() -> None:
    verdict = BackendHealth("web-svc-east", False, 0, 0, "web-svc-east: 0 ready in east, gateway up")
    ready, total = combined_counts(("web-svc", "web-svc-east"), {"web-svc": 2, "web-svc-east": 1}, None,
                                   {"web-svc-east": verdict})
    assert (ready, total) == ({"web-svc": 2, "web-svc-east": 0}, None)
    assert explained("all down", [verdict.reason]) == "all down (web-svc-east: 0 ready in east, gateway up)"
    assert explained("primary healthy", []) == "primary healthy"
