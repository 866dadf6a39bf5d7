"""A one-shot sync sends its writes a few at a time once it has written one object.

Covers:
- from scratch, writes overlap (two creates are in flight at once) and the report is the
  sequential one: the same outcomes and weight changes, in the same order, every object created;
- a write the server rejects fails that object alone; the others are created;
- an unexpected error in one write ends the pass with that error, and no write is started after it;
- a converged pass (nothing to write) sends no write at all.
"""
from __future__ import annotations

import threading

import pytest

from failsync.core.policies import parse_policies
from failsync.errors import ApiError
from failsync.kube import KubeClient
from failsync.sync import Outcome, SyncEngine
from tests.integration.sync.support import policy_document, weights, writes

COUNT = 12


@pytest.fixture
def client(guide) -> KubeClient:
    return KubeClient.from_kubeconfig(guide.kubeconfig, "west")


def policies(prefix: str, count: int = COUNT):
    parsed = parse_policies("---\n".join(policy_document("emojivoto", f"{prefix}-{i:02d}") for i in range(count)),
                            "test.yaml")
    assert parsed.ok, parsed.errors
    return parsed.policies


def lines(report) -> list[tuple[str, str, str]]:
    return [(result.key, result.outcome.value, result.weight_changes) for result in report.results]


def test_writes_overlap_and_the_report_is_the_sequential_one(guide, client) -> None:
    west = guide["west"]
    sequential = SyncEngine(client, write_concurrency=1).sync(policies("one-by-one"))
    # The second and third creates meet at a barrier: they pass only when both are in flight at once.
    meeting = threading.Barrier(2, timeout=10)
    real, calls = client.create, []

    def create(*args, **kwargs):
        calls.append(args)
        if len(calls) in (2, 3):
            meeting.wait()
        return real(*args, **kwargs)

    client.create = create  # type: ignore[method-assign]
    concurrent = SyncEngine(client, write_concurrency=4).sync(policies("at-once"))
    assert concurrent.ok, concurrent.failed
    assert [(k.replace("at-once", "one-by-one"), o, w) for k, o, w in lines(concurrent)] == lines(sequential)
    assert [result.name for result in concurrent.results] == [f"at-once-{i:02d}" for i in range(COUNT)]
    assert {result.outcome for result in concurrent.results} == {Outcome.CREATED}
    assert all(weights(west, name=f"at-once-{i:02d}") == {"web-svc": 1, "web-svc-east": 0} for i in range(COUNT))


def test_a_rejected_write_fails_that_object_alone(guide, client) -> None:
    real = client.create

    def create(resource, obj):
        if obj["metadata"]["name"] == "rejected-05":
            raise ApiError("the server said no")
        return real(resource, obj)

    client.create = create  # type: ignore[method-assign]
    report = SyncEngine(client, write_concurrency=4).sync(policies("rejected"))
    assert [result.key for result in report.failed] == ["emojivoto/rejected-05"]
    assert "the server said no" in report.failed[0].message
    assert sum(result.outcome is Outcome.CREATED for result in report.results) == COUNT - 1


def test_an_unexpected_error_ends_the_pass_and_no_write_starts_after_it(guide, client) -> None:
    real, started = client.create, []
    lock = threading.Lock()

    def create(resource, obj):
        with lock:
            started.append(obj["metadata"]["name"])
            if len(started) == 3:
                raise RuntimeError("a bug in a write")
        return real(resource, obj)

    client.create = create  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="a bug in a write"):
        SyncEngine(client, write_concurrency=2).sync(policies("broken", 40))
    # The other thread may have started one more write while the failing one raised; none after that.
    assert 3 <= len(started) <= 4


def test_a_converged_pass_sends_no_write(guide, client) -> None:
    west = guide["west"]
    assert SyncEngine(client).sync(policies("settled")).ok
    west.requests.clear()
    report = SyncEngine(client).sync(policies("settled"))
    assert {result.outcome for result in report.results} == {Outcome.UNCHANGED}
    assert writes(west) == []
