"""Cached objects share one copy of the parts that repeat between them (a route's rules, backend and
parent references, status conditions and path match, the managed-by label): never annotations nor
metadata, never parts that differ in a value, or only in a value's type."""

from __future__ import annotations

import json

from failsync.controller.caches import _live_object


def _route(name: str, accepted: object = "True", backend: str = "web") -> dict:
    return json.loads(json.dumps({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": f"ns-{name}", "resourceVersion": "5",
                     "labels": {"app.kubernetes.io/managed-by": "failsync"},
                     "annotations": {"failsync.io/last-change": "2026-01-01T00:00:00Z"}},
        "spec": {"rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                            "backendRefs": [{"name": backend, "port": 80, "weight": 1}]}]},
        "status": {"parents": [{"parentRef": {"kind": "Service", "name": "web"}, "controllerName": "c",
                                "conditions": [{"type": "Accepted", "status": accepted, "reason": "Accepted"}]}]}}))


def test_repeated_small_mappings_are_shared_and_objects_stay_equal_to_what_was_listed() -> None:
    first, second = _route("a"), _route("b")
    cached_first, cached_second = _live_object(first), _live_object(second)
    assert cached_first == first and cached_second == second
    condition = [c["status"]["parents"][0]["conditions"][0] for c in (cached_first, cached_second)]
    assert condition[0] is condition[1]
    path = [c["spec"]["rules"][0]["matches"][0]["path"] for c in (cached_first, cached_second)]
    assert path[0] is path[1]
    assert cached_first["metadata"]["labels"] is cached_second["metadata"]["labels"]
    assert cached_first["spec"] is cached_second["spec"]  # the same rules, references and weights
    assert cached_first["status"] is cached_second["status"]


def test_annotations_metadata_other_values_and_other_types_are_never_shared() -> None:
    cached_first, cached_second = _live_object(_route("a")), _live_object(_route("b"))
    assert cached_first["metadata"]["annotations"] is not cached_second["metadata"]["annotations"]
    assert cached_first["metadata"] is not cached_second["metadata"]
    other = _route("c", backend="api")
    cached_other = _live_object(other)
    assert cached_other == other and cached_other["spec"]["rules"][0]["backendRefs"][0]["name"] == "api"
    assert cached_other["spec"]["rules"][0]["matches"] is cached_first["spec"]["rules"][0]["matches"]
    boolean = _live_object(_route("c", accepted=True))["status"]["parents"][0]["conditions"][0]
    assert boolean["status"] is True  # not the "True" string of the shared condition


def test_once_the_shared_table_is_full_new_values_are_kept_whole_and_equal(monkeypatch) -> None:
    from failsync.controller import caches

    monkeypatch.setattr(caches, "_NODE_LIMIT", len(caches._NODES))
    first, second = _route("d", backend="full-1"), _route("e", backend="full-1")
    cached_first, cached_second = _live_object(first), _live_object(second)
    assert cached_first == first and cached_second == second
    assert cached_first["spec"] is not cached_second["spec"]  # not shared: the table takes no more
    assert cached_first["metadata"]["labels"] is cached_second["metadata"]["labels"]  # shared before
