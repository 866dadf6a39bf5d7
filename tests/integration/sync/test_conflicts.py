"""Concurrent writers never lose an update: the guarded patch fails, failsync re-reads and decides again.

Covers (made deterministic by running another writer inside the client call, after failsync
read the object and before its write reaches the server):
- a writer adding a label between read and write: the first PATCH is answered 422 (the
  resourceVersion test op), failsync GETs the object once, decides again and patches; the
  other writer's label survives and the weights are right;
- a writer resetting the weights: failsync's second decision is made from the fresh object;
- an object created between LIST and POST: the 409 leads to a re-read and a patch;
- a writer that changes the object before every attempt: bounded retries, then a failed
  result naming the cause while the other objects are still synced.
"""
from __future__ import annotations

import copy

import pytest

from failsync.core.policies import parse_policies
from failsync.kube import KubeClient
from failsync.sync import MAX_ATTEMPTS, Outcome, SyncEngine
from tests.integration.sync.support import policy_document, weights

SPLIT = "split.smi-spec.io/v1alpha2"


@pytest.fixture
def client(guide) -> KubeClient:
    return KubeClient.from_kubeconfig(guide.kubeconfig, "west")


def policies(*names: str):
    parsed = parse_policies("---\n".join(policy_document("emojivoto", name) for name in names), "test.yaml")
    assert parsed.ok, parsed.errors
    return parsed.policies


def owned_split(cluster, name: str, primary: int, fallback: int) -> dict:
    return cluster.apply({
        "apiVersion": SPLIT, "kind": "TrafficSplit",
        "metadata": {"name": name, "namespace": "emojivoto",
                     "labels": {"app.kubernetes.io/managed-by": "failsync"},
                     "annotations": {"failsync.io/policy": f"emojivoto/{name}",
                                     "failover.linkerd.io/primary-service": "web-svc"}},
        "spec": {"service": "web-svc", "backends": [{"service": "web-svc", "weight": primary},
                                                     {"service": "web-svc-east", "weight": fallback}]}})


def interfere_before(client: KubeClient, method: str, writer, times: int = 1) -> list:
    """Run ``writer()`` just before the next ``times`` calls of ``client.<method>``; returns the call log."""
    real = getattr(client, method)
    calls: list = []

    def wrapped(*args, **kwargs):
        calls.append(args)
        if len(calls) <= times:
            writer()
        return real(*args, **kwargs)

    setattr(client, method, wrapped)
    return calls


def test_label_added_between_read_and_write_survives_and_weights_are_right(guide, client) -> None:
    west = guide["west"]
    owned_split(west, "conflict-label", 0, 1)  # primary web-svc is healthy: failsync wants 1/0

    def other_writer():
        current = copy.deepcopy(west.get(SPLIT, "TrafficSplit", "emojivoto", "conflict-label"))
        current["metadata"]["labels"]["team"] = "web"
        west.apply(current)

    calls = interfere_before(client, "patch", other_writer)
    west.requests.clear()
    report = SyncEngine(client).sync(policies("conflict-label"))
    [result] = report.results
    assert result.outcome is Outcome.PATCHED, result.message
    assert result.attempts == 2 and len(calls) == 2
    final = west.get(SPLIT, "TrafficSplit", "emojivoto", "conflict-label")
    assert final["metadata"]["labels"]["team"] == "web"
    assert weights(west, name="conflict-label") == {"web-svc": 1, "web-svc-east": 0}
    patches = [r.status for r in west.requests if r.verb == "patch"]
    assert patches == [422, 200]
    assert [r.verb for r in west.requests if r.verb == "get" and "trafficsplits" in r.path] == ["get"]


def test_weights_changed_between_read_and_write_are_decided_again(guide, client) -> None:
    west = guide["west"]
    owned_split(west, "conflict-weights", 0, 1)

    def other_writer():
        owned_split(west, "conflict-weights", 0, 0)

    interfere_before(client, "patch", other_writer)
    [result] = SyncEngine(client).sync(policies("conflict-weights")).results
    assert result.outcome is Outcome.PATCHED
    assert result.live_weights == {"web-svc": 0, "web-svc-east": 0}  # the decision saw the fresh object
    assert weights(west, name="conflict-weights") == {"web-svc": 1, "web-svc-east": 0}


def test_object_created_between_list_and_create_is_patched(guide, client) -> None:
    west = guide["west"]
    interfere_before(client, "create", lambda: owned_split(west, "conflict-create", 0, 1))
    [result] = SyncEngine(client).sync(policies("conflict-create")).results
    assert result.outcome is Outcome.PATCHED, result.message
    assert weights(west, name="conflict-create") == {"web-svc": 1, "web-svc-east": 0}


def test_object_changing_before_every_attempt_fails_after_bounded_retries(guide, client) -> None:
    west = guide["west"]
    owned_split(west, "conflict-forever", 0, 1)
    flips = iter(range(100))

    def other_writer():
        current = copy.deepcopy(west.get(SPLIT, "TrafficSplit", "emojivoto", "conflict-forever"))
        current["metadata"]["labels"]["flip"] = str(next(flips))
        west.apply(current)

    calls = interfere_before(client, "patch", other_writer, times=100)
    report = SyncEngine(client).sync(policies("conflict-forever", "conflict-bystander"))
    by_name = {r.name: r for r in report.results}
    assert by_name["conflict-forever"].outcome is Outcome.FAILED
    assert f"gave up after {MAX_ATTEMPTS} attempts" in by_name["conflict-forever"].message
    assert len([c for c in calls if c[2] == "conflict-forever"]) == MAX_ATTEMPTS
    assert by_name["conflict-bystander"].outcome is Outcome.CREATED
