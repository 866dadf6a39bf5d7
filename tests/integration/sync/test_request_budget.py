"""The API request budget of one-shot syncs, proven by the sandbox's request log (50 policies).

Covers: the first sync makes one discovery GET, one LIST of TrafficSplits, one LIST of
EndpointSlices and one POST per policy, with no GET per policy; a second sync makes zero writes;
after the primary dies, exactly one PATCH per changed object and still no per-policy GET;
`diff` and `status` only read.
"""
from __future__ import annotations

from collections import Counter

from tests.helpers import wait_for
from tests.integration.sync.conftest import ready_count
from tests.integration.sync.support import failsync, policy_document, writes

COUNT = 50


def by_kind(requests) -> Counter:
    """(verb, resource plural) of every request, e.g. ("list", "trafficsplits")."""
    counts: Counter = Counter()
    for record in requests:
        parts = record.path.strip("/").split("/")
        if "namespaces" in parts and len(parts) > parts.index("namespaces") + 2:
            plural = parts[parts.index("namespaces") + 2]
        else:
            plural = parts[-1] if record.verb in ("list", "create", "watch") else "/".join(parts)
        counts[(record.verb, plural)] += 1
    return counts


def logged(west, expected: Counter) -> Counter:
    """The request log by kind once it matches ``expected`` (or as it is at the deadline).

    The sandbox logs a request after its answer is sent, so the last one may show up a moment
    after the command returned."""
    try:
        return wait_for(lambda: by_kind(west.requests) == expected and by_kind(west.requests), timeout=5)
    except AssertionError:
        return by_kind(west.requests)


def test_one_list_per_kind_one_write_per_changed_object_and_zero_writes_in_sync(guide, kubectl, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    policy_file = tmp_path / "many.yaml"
    policy_file.write_text("---\n".join(policy_document("emojivoto", f"budget-{i}") for i in range(COUNT)))

    west.requests.clear()
    first = failsync(config, "sync", str(policy_file))
    assert first.exit_code == 0, first.output
    assert first.stdout.count(": created") == COUNT
    expected = Counter({("get", "apis"): 1, ("list", "trafficsplits"): 1, ("list", "endpointslices"): 1,
                        ("create", "trafficsplits"): COUNT})
    assert logged(west, expected) == expected

    west.requests.clear()
    second = failsync(config, "sync", str(policy_file))
    assert second.exit_code == 0, second.output
    assert second.stdout.count(": unchanged") == COUNT
    expected = Counter({("get", "apis"): 1, ("list", "trafficsplits"): 1, ("list", "endpointslices"): 1})
    assert logged(west, expected) == expected
    assert writes(west) == []

    code, _, err = kubectl("--context", "west", "-n", "emojivoto", "scale", "deploy/web", "--replicas=0")
    assert code == 0, err
    wait_for(lambda: ready_count(west, "emojivoto", "web-svc") == 0, message="web-svc emptied")

    west.requests.clear()
    assert failsync(config, "diff", str(policy_file)).exit_code == 1
    assert failsync(config, "status", str(policy_file)).exit_code == 0
    assert writes(west) == []

    west.requests.clear()
    third = failsync(config, "sync", str(policy_file))
    assert third.exit_code == 0, third.output
    assert third.stdout.count("patched (web-svc 1->0, web-svc-east 0->1)") == COUNT
    expected = Counter({("get", "apis"): 1, ("list", "trafficsplits"): 1, ("list", "endpointslices"): 1,
                        ("patch", "trafficsplits"): COUNT})
    assert logged(west, expected) == expected
    patched = Counter(record.path.rsplit("/", 1)[1] for record in west.requests if record.verb == "patch")
    assert patched == Counter({f"budget-{i}": 1 for i in range(COUNT)})
    assert all(record.status == 200 for record in west.requests)
    assert not [record for record in west.requests if record.verb == "get" and "trafficsplits" in record.path]
