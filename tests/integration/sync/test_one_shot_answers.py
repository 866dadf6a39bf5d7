"""A one-shot pass (``sync_once``) leaves the objects its writes return undecoded, and loses nothing by it.

Covers:
- its writes still overlap once one has landed (two creates in flight at once), every object is
  created at its weights, and the report is the one a ``SyncEngine`` that keeps the answers gives;
- ``ObjectResult.written`` is None there and the stored object for an engine that keeps them (the loop's case);
- a drifted object is patched back the same way, and a second pass finds everything in sync.
"""
from __future__ import annotations

import threading

from failsync.core.policies import parse_policies
from failsync.kube import KubeClient
from failsync.sync import Outcome, SyncEngine, sync_once
from tests.integration.sync.support import policy_document, weights

COUNT = 8


def policies(prefix: str):
    parsed = parse_policies("---\n".join(policy_document("emojivoto", f"{prefix}-{i:02d}") for i in range(COUNT)),
                            "test.yaml")
    assert parsed.ok, parsed.errors
    return parsed.policies


def lines(report, prefix: str) -> list[tuple[str, str, str]]:
    return [(result.key.replace(prefix, "P"), result.outcome.value, result.weight_changes) for result in report.results]


def test_one_shot_writes_overlap_and_report_as_an_engine_keeping_the_answers(guide) -> None:
    west = guide["west"]
    client = KubeClient.from_kubeconfig(guide.kubeconfig, "west")
    kept = SyncEngine(client).sync(policies("kept"))
    assert all(result.written is not None for result in kept.results)
    meeting = threading.Barrier(2, timeout=10)
    real, calls = client.create, []

    def create(*args, **kwargs):
        calls.append(args)
        if len(calls) in (2, 3):  # passes only when two creates are in flight at once
            meeting.wait()
        return real(*args, **kwargs)

    client.create = create  # type: ignore[method-assign]
    report = sync_once(client, policies("once"))
    assert report.ok, report.failed
    assert lines(report, "once") == lines(kept, "kept")
    assert all(result.outcome is Outcome.CREATED and result.written is None for result in report.results)
    assert all(weights(west, name=f"once-{i:02d}") == {"web-svc": 1, "web-svc-east": 0} for i in range(COUNT))


def test_one_shot_patches_drift_back_and_then_finds_everything_in_sync(guide, kubectl) -> None:
    west = guide["west"]
    client = KubeClient.from_kubeconfig(guide.kubeconfig, "west")
    assert sync_once(client, policies("drift")).ok
    kubectl("--context", "west", "-n", "emojivoto", "patch", "ts", "drift-03", "--type=json",
            "-p", '[{"op": "replace", "path": "/spec/backends/0/weight", "value": 0}]')
    repaired = sync_once(client, policies("drift"))
    assert [r.key for r in repaired.results if r.outcome is Outcome.PATCHED] == ["emojivoto/drift-03"]
    assert weights(west, name="drift-03") == {"web-svc": 1, "web-svc-east": 0}
    again = sync_once(client, policies("drift"))
    assert again.ok and not again.changed
