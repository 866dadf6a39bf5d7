"""The bench's start-to-converged clock: the sandbox says when the write that put the last expected
object at its weights was committed, so the figure never depends on how often the bench polls.

Covers, on a real sandbox cluster with the launcher's store hook installed:
- no time while an expected object is missing or at other weights;
- the time is the commit that gave the last object its weights, not a later commit that changed
  something else of it (labels), nor when anyone asked;
- a deleted object is no longer converged.
"""

from __future__ import annotations

import time

from bench.launcher import WeightChanges
from failsync.sandbox import Sandbox


def _split(namespace: str, weights: dict[str, int], labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
            "metadata": {"name": "web", "namespace": namespace, "labels": labels or {}},
            "spec": {"service": "web", "backends": [{"service": s, "weight": w} for s, w in weights.items()]}}


def test_converged_at_is_the_commit_that_made_the_last_object_right(tmp_path) -> None:
    with Sandbox(clusters=["c"], kubeconfig=tmp_path / "kubeconfig") as sandbox:
        cluster = sandbox["c"]
        changes = WeightChanges()
        cluster.store.hooks.append(changes.hook)
        for namespace in ("a", "b"):
            cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        expected = {"a/web": {"web": 1, "east": 0}, "b/web": {"web": 1, "east": 0}}

        cluster.apply(_split("a", {"web": 1, "east": 0}))
        assert changes.converged_at(cluster.store, expected) is None  # b/web is missing
        cluster.apply(_split("b", {"web": 0, "east": 1}))
        assert changes.converged_at(cluster.store, expected) is None  # b/web is at other weights

        before = time.time()
        cluster.apply(_split("b", {"web": 1, "east": 0}))
        after = time.time()
        at = changes.converged_at(cluster.store, expected)
        assert at is not None and before <= at <= after

        cluster.apply(_split("b", {"web": 1, "east": 0}, labels={"team": "x"}))  # weights unchanged
        assert changes.converged_at(cluster.store, expected) == at

        cluster.delete("split.smi-spec.io/v1alpha2", "TrafficSplit", "a", "web")
        assert changes.converged_at(cluster.store, expected) is None
