"""Pure parts of leader election, Events, the watch cache and request counting.

Covers:
- a lease is free when missing, without holder, our own, or unchanged for longer than its duration;
- claiming sets holder, duration, renew time; a takeover counts a transition and sets acquireTime;
  a renewal keeps acquireTime; release clears the holder;
- the elector refuses inconsistent timings;
- FailedOver / FailedBack are named from the weights before and after a write, with the backends
  in the message, and nothing for a write that does not move traffic;
- the cache replaces its content after a LIST and reports only what changed; its index follows updates;
- a projecting cache keeps only the projection and the resourceVersion, still tells changes apart,
  and reports the index keys before and after each change; the loop's EndpointSlice projection
  counts exactly as the whole slices do (not-ready, duplicates across slices, dual-stack);
- request verbs are told apart (get/list/watch/create/patch/update/delete);
- cached TrafficSplits decoded from separate events are equal to them, yet share one copy of each
  repeated short value (namespace, service names, kind) and keep none of the decoded strings;
- a cached target keeps what the loop reads (labels, annotations, spec, what a route's parents
  say) and drops server-set metadata (managedFields of a written object, generation, creation time).
"""

from __future__ import annotations

import json

import pytest

from failsync.kube.events import FAILED_BACK, FAILED_OVER, transition
from failsync.controller.caches import _interned, _live_object, _slice_readiness
from failsync.core import health, targets
from failsync.kube.instrument import verb_of
from failsync.kube.lease import LeaderElector, claimed, is_free, released
from failsync.kube.watch import ADDED, DELETED, MODIFIED, Store, is_well_formed


@pytest.mark.parametrize("spec, observed_at, now, free", [
    (None, 0, 0, True),
    ({"holderIdentity": ""}, 0, 0, True),
    ({"holderIdentity": "me", "leaseDurationSeconds": 15}, 0, 1, True),
    ({"holderIdentity": "other", "leaseDurationSeconds": 15}, 100, 114, False),
    ({"holderIdentity": "other", "leaseDurationSeconds": 15}, 100, 115, True),
    ({"holderIdentity": "other"}, 100, 109, False),  # no duration recorded: ours (10 s) applies
], ids=["missing", "released", "ours", "held-by-other", "expired", "default-duration"])
def test_lease_is_free_only_when_nobody_else_holds_it_live(spec, observed_at, now, free) -> None:
    assert is_free(spec, identity="me", observed_at=observed_at, now=now, lease_duration=10) is free


def test_taking_over_counts_a_transition_and_renewing_keeps_acquire_time() -> None:
    taken = claimed({"holderIdentity": "other", "leaseTransitions": 2, "acquireTime": "old"},
                    identity="me", lease_duration=15, now=0)
    assert taken["holderIdentity"] == "me" and taken["leaseDurationSeconds"] == 15
    assert taken["leaseTransitions"] == 3
    assert taken["acquireTime"] == taken["renewTime"] == "1970-01-01T00:00:00.000000Z"
    renewed = claimed(taken, identity="me", lease_duration=15, now=5)
    assert renewed["acquireTime"] == taken["acquireTime"]
    assert renewed["renewTime"] == "1970-01-01T00:00:05.000000Z"
    assert renewed["leaseTransitions"] == 3
    assert claimed(None, identity="me", lease_duration=15, now=0)["leaseTransitions"] == 0


def test_release_clears_the_holder() -> None:
    spec = released({"holderIdentity": "me", "leaseDurationSeconds": 15}, now=0)
    assert spec["holderIdentity"] == ""
    assert is_free(spec, identity="other", observed_at=0, now=0, lease_duration=15)


def test_elector_refuses_inconsistent_timings() -> None:
    with pytest.raises(ValueError):
        LeaderElector(None, name="l", namespace="ns", lease_duration=5, renew_deadline=10,  # type: ignore[arg-type]
                      retry_period=2)


@pytest.mark.parametrize("before, after, expected", [
    ({"web": 1, "east": 0}, {"web": 0, "east": 1}, FAILED_OVER),
    (None, {"web": 0, "east": 1}, FAILED_OVER),
    ({"web": 0, "east": 1, "central": 0}, {"web": 0, "east": 0, "central": 1}, FAILED_OVER),
    ({"web": 0, "east": 1}, {"web": 1, "east": 0}, FAILED_BACK),
    ({"web": 1, "east": 0}, {"web": 1, "east": 0}, None),
    ({"web": 0, "east": 1}, {"web": 0, "east": 1}, None),
    (None, {"web": 1, "east": 0}, None),
    ({"web": 0, "east": 1}, {"web": 0, "east": 0}, None),
], ids=["failover", "created-failed-over", "next-tier", "failback", "steady-primary", "steady-failed-over",
        "created-on-primary", "all-down-zero"])
def test_transition_names_failover_and_failback(before, after, expected) -> None:
    found = transition("web", before, after)
    assert (found[0] if found else None) == expected


def test_transition_message_names_the_backends() -> None:
    reason, message = transition("web", {"web": 1, "east": 0}, {"web": 0, "east": 1})
    assert "web" in message and "east" in message
    reason, message = transition("web", {"web": 0, "east": 1}, {"web": 1, "east": 0})
    assert message.startswith("primary web is healthy again") and "east" in message


def _obj(name: str, version: str, service: str = "s", namespace: str = "ns") -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": version,
                         "labels": {"svc": service}}}


def test_store_replace_reports_only_what_changed_and_keeps_its_index() -> None:
    store = Store(index=lambda o: o["metadata"]["labels"]["svc"])
    list(store.replace([_obj("a", "1"), _obj("b", "1")]))
    changes = list(store.replace([_obj("a", "1"), _obj("b", "2", service="t"), _obj("c", "3")]))
    assert sorted((c.type, c.key) for c in changes) == [(ADDED, "ns/c"), (MODIFIED, "ns/b")]
    assert [o["metadata"]["name"] for o in store.by_index("t")] == ["b"]
    assert [o["metadata"]["name"] for o in store.by_index("s")] == ["a", "c"]
    changes = list(store.replace([_obj("c", "3")]))
    assert sorted((c.type, c.key) for c in changes) == [(DELETED, "ns/a"), (DELETED, "ns/b")]
    assert store.by_index("t") == [] and len(store) == 1


def test_projecting_store_keeps_projection_and_version_and_reports_index_moves() -> None:
    store = Store(index=lambda o: o["metadata"]["labels"]["svc"], project=lambda o: o["metadata"]["name"].upper())
    list(store.replace([_obj("a", "1"), _obj("b", "1")]))
    assert store.get("ns/a") == "A" and store.version("ns/a") == "1" and "ns/b" in store
    moved = store.put(_obj("a", "2", service="t"))
    assert (moved.type, moved.old, moved.new, moved.indexed) == (MODIFIED, "A", "A", ("s", "t"))
    assert store.by_index("t") == ["A"] and store.by_index("s") == ["B"]
    assert [c.key for c in store.replace([_obj("a", "2", service="t"), _obj("b", "1")])] == []
    gone = store.remove("ns/b")
    assert (gone.type, gone.indexed) == (DELETED, ("s",)) and store.by_index("s") == []
    assert store.version("ns/b") is None and "ns/b" not in store


def _slice(name: str, family: str, *endpoints: tuple[str, object]) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": family,
            "endpoints": [{"addresses": [ip], "conditions": {} if ready is None else {"ready": ready},
                           "targetRef": {"kind": "Pod", "name": ip}} for ip, ready in endpoints]}


def test_the_loops_slice_projection_counts_as_the_whole_slices_do() -> None:
    slices = [_slice("a", "IPv4", ("10.0.0.1", True), ("10.0.0.2", False), ("10.0.0.3", None)),
              _slice("b", "IPv4", ("10.0.0.1", True), ("10.0.0.4", True)),  # 10.0.0.1 in two slices
              _slice("c", "IPv6", ("fd00::1", True))]
    assert health.count_ready([_slice_readiness(s) for s in slices]) == health.ready_from_slices(slices) == 3
    assert health.count_ready([_slice_readiness(s) for s in slices[2:]]) == 1


@pytest.mark.parametrize("obj, ok", [
    ({"metadata": {"name": "a"}}, True),
    ({"metadata": {"name": ""}}, False),
    ({"metadata": None}, False),
    ({"metadata": {"name": 5}}, False),
    ([], False),
    (None, False),
])
def test_malformed_objects_are_recognised(obj, ok) -> None:
    assert is_well_formed(obj) is ok


@pytest.mark.parametrize("method, url, verb", [
    ("GET", "http://h/api/v1/namespaces/ns/endpoints", "list"),
    ("GET", "http://h/api/v1/endpoints?limit=5", "list"),
    ("GET", "http://h/api/v1/namespaces/ns/endpoints/web", "get"),
    ("GET", "http://h/apis/split.smi-spec.io/v1alpha2/trafficsplits?watch=true", "watch"),
    ("GET", "http://h/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", "get"),
    ("GET", "http://h/api/v1/namespaces", "list"),
    ("GET", "http://h/apis", "get"),
    ("POST", "http://h/api/v1/namespaces/ns/events", "create"),
    ("PATCH", "http://h/apis/x/v1/namespaces/ns/t/n", "patch"),
    ("PUT", "http://h/apis/x/v1/namespaces/ns/t/n", "update"),
    ("DELETE", "http://h/apis/x/v1/namespaces/ns/t/n", "delete"),
])
def test_request_verbs_are_told_apart(method, url, verb) -> None:
    assert verb_of(method, url) == verb


def test_cached_trafficsplits_share_repeated_values_and_keep_no_decoded_string() -> None:
    def event(name: str) -> dict:
        return json.loads(json.dumps({
            "apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
            "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}", "resourceVersion": "7"},
            "spec": {"service": "web", "backends": [{"service": "web", "weight": 1}, {"service": "web-east", "weight": 0}]}}))
    first, second = event("a"), event("b")
    cached_first, cached_second = _interned(first), _interned(second)
    assert cached_first == first and cached_second == second
    assert cached_first["metadata"]["namespace"] is cached_second["metadata"]["namespace"]
    assert cached_first["kind"] is cached_second["kind"]
    assert cached_first["spec"]["service"] is cached_first["spec"]["backends"][0]["service"]
    assert cached_first["spec"]["backends"][1]["service"] is cached_second["spec"]["backends"][1]["service"]
    assert cached_first["metadata"]["namespace"] is not first["metadata"]["namespace"]
    assert cached_first["metadata"]["uid"] is not first["metadata"]["uid"]


def test_cached_targets_keep_what_the_loop_reads_and_drop_server_set_metadata() -> None:
    # What the server answers a write carries managedFields (the watch event's copy is slimmed
    # by the watcher, the written one is put into the cache as it is).
    written = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
               "metadata": {"name": "web", "namespace": "shop", "uid": "u-1", "resourceVersion": "9",
                            "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
                            "labels": {"app.kubernetes.io/managed-by": "failsync"},
                            "annotations": {"failsync.io/policy": "shop/web"},
                            "managedFields": [{"manager": "failsync", "fieldsV1": {"f:spec": {}}}]},
               "spec": {"rules": [{"backendRefs": [{"name": "web", "port": 80, "weight": 1}]}]},
               "status": {"parents": [{"parentRef": {"kind": "Service", "name": "web"},
                                       "controllerName": "linkerd.io/policy-controller",
                                       "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                                                       "message": "", "observedGeneration": 3,
                                                       "lastTransitionTime": "2026-01-01T00:00:00Z"},
                                                      {"type": "ResolvedRefs", "status": "False",
                                                       "reason": "BackendNotFound"}]}]}}
    cached = _live_object(written)
    assert cached["metadata"] == {key: written["metadata"][key] for key in
                                  ("name", "namespace", "uid", "resourceVersion", "labels", "annotations")}
    assert cached["spec"] == written["spec"]
    assert cached["status"]["parents"][0]["conditions"] == [
        {"type": "Accepted", "status": "True", "reason": "Accepted"},
        {"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound"}]
    assert targets.route_acceptance(cached) == targets.route_acceptance(written)
    store = Store(project=_live_object)
    store.put(written)
    assert store.version("shop/web") == "9" and store.get("shop/web") == cached
