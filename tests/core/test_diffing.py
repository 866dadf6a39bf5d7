"""Diffing live against desired, limited to what failsync owns (SPEC §3, §5).

Covers:
- in sync: no patch, empty text, even when the server added metadata, status, foreign
  labels/annotations, or null fields (no false drift);
- a weight change: one replace op per weight, led by a `test` on resourceVersion, and a
  unified YAML diff showing 1 -> 0 / 0 -> 1;
- owned labels/annotations are added key by key and never replace a map holding foreign keys;
- stale failsync.io/* annotations are removed; foreign ones never are;
- a missing object is a create with no patch;
- a value of another JSON type (true for 1, 1.0 for 1) is drift, as jsonpatch sees it;
- the owned views share nothing mutable with the objects they were made from;
- weights-only ownership (adopted objects) ignores labels, annotations and other spec fields;
- the patch applied to the live object (jsonpatch) yields the desired owned view and keeps every
  foreign field;
- json_patch, for any two JSON documents (keys with '/' and '~', values changing type, lists
  changing length), gives operations that jsonpatch applies to turn the first into the second
  exactly, and none for equal documents;
- two documents count as in sync exactly when they are the same JSON (sorted dumps equal), for
  any documents, near-copies with 1 / 1.0 / true swapped included;
- the in-sync check on the objects themselves (no views built) agrees with comparing the two
  owned views, for any live and desired objects (labels, annotations and spec of any shape, nulls,
  missing maps, 1 / 1.0 / true swapped), and an in-sync change still shows both views.
"""

from __future__ import annotations

import copy
import json

import jsonpatch
import pytest
from hypothesis import given
from hypothesis import strategies as st

from failsync.core.diffing import Action, Change, Ownership, diff, guarded_patch, in_sync, json_patch, owned_view

DESIRED = {
    "apiVersion": "split.smi-spec.io/v1alpha2",
    "kind": "TrafficSplit",
    "metadata": {
        "name": "web-svc-failover",
        "namespace": "emojivoto",
        "labels": {"app.kubernetes.io/managed-by": "failsync", "team": "web"},
        "annotations": {"failsync.io/policy": "emojivoto/web-svc-failover",
                        "failover.linkerd.io/primary-service": "web-svc"},
    },
    "spec": {"service": "web-svc", "backends": [{"service": "web-svc", "weight": 1},
                                                 {"service": "web-svc-east", "weight": 0}]},
}


def live_from(desired: dict, **changes) -> dict:
    """What the server returns for ``desired``: server metadata and status added."""
    live = copy.deepcopy(desired)
    live["metadata"].update(uid="77039fb3", resourceVersion="42", generation=3,
                            creationTimestamp="2022-03-22T23:47:11Z")
    live["status"] = {"observed": True}
    for path, value in changes.items():
        target = live
        *parents, last = path.split("__")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return live


def with_weights(obj: dict, primary: int, fallback: int) -> dict:
    changed = copy.deepcopy(obj)
    changed["spec"]["backends"][0]["weight"] = primary
    changed["spec"]["backends"][1]["weight"] = fallback
    return changed


def apply(live: dict, change) -> dict:
    return jsonpatch.apply_patch(live, list(change.patch))


@pytest.mark.parametrize("live", [
    live_from(DESIRED),
    live_from(DESIRED, metadata__labels={**DESIRED["metadata"]["labels"], "foreign": "x"}),
    live_from(DESIRED, metadata__annotations={**DESIRED["metadata"]["annotations"],
                                              "kubectl.kubernetes.io/last-applied-configuration": "{}"}),
    live_from(DESIRED, metadata__managedFields=[{"manager": "kubectl"}], metadata__finalizers=["x"]),
    live_from(DESIRED, spec__matches=None),
], ids=["server-metadata-and-status", "foreign-label", "foreign-annotation", "managed-fields", "null-field"])
def test_server_and_foreign_fields_are_not_drift(live: dict) -> None:
    change = diff(live, DESIRED)
    assert change.action is Action.NONE
    assert change.patch == ()
    assert change.text() == ""


def test_weight_change_is_a_guarded_patch_of_the_two_weights() -> None:
    live = live_from(DESIRED)
    change = diff(live, with_weights(DESIRED, 0, 1))
    assert change.action is Action.PATCH
    assert change.patch[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": "42"}
    assert sorted(change.patch[1:], key=lambda op: op["path"]) == [
        {"op": "replace", "path": "/spec/backends/0/weight", "value": 0},
        {"op": "replace", "path": "/spec/backends/1/weight", "value": 1},
    ]


@pytest.mark.parametrize("odd", [True, 1.0], ids=["bool", "float"])
def test_a_weight_of_another_json_type_is_drift(odd) -> None:
    live = live_from(DESIRED)
    live["spec"]["backends"][0]["weight"] = odd  # == 1 in Python, not the same JSON
    change = diff(live, DESIRED)
    assert change.action is Action.PATCH
    assert change.patch[1:] == ({"op": "replace", "path": "/spec/backends/0/weight", "value": 1},)


def test_owned_views_share_nothing_mutable_with_the_objects() -> None:
    live = live_from(DESIRED)
    change = diff(live, DESIRED)
    change.live["spec"]["backends"][0]["weight"] = 7
    change.desired["spec"]["backends"].append({"service": "x", "weight": 1})
    assert live["spec"] == DESIRED["spec"] and len(DESIRED["spec"]["backends"]) == 2


def test_weight_change_text_is_a_unified_yaml_diff() -> None:
    text = diff(live_from(DESIRED), with_weights(DESIRED, 0, 1)).text()
    assert text.startswith("--- live/emojivoto/web-svc-failover\n+++ desired/emojivoto/web-svc-failover\n")
    assert "-  - {service: web-svc, weight: 1}\n" in text and "+  - {service: web-svc, weight: 0}\n" in text
    assert "-  - {service: web-svc-east, weight: 0}\n" in text
    assert "+  - {service: web-svc-east, weight: 1}\n" in text
    assert "resourceVersion" not in text and "status" not in text


def test_missing_owned_label_is_added_by_key_keeping_foreign_labels() -> None:
    live = live_from(DESIRED, metadata__labels={"app.kubernetes.io/managed-by": "failsync", "foreign": "x"})
    change = diff(live, DESIRED)
    assert change.patch[1:] == ({"op": "add", "path": "/metadata/labels/team", "value": "web"},)
    patched = apply(live, change)
    assert patched["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "failsync", "foreign": "x", "team": "web"}


def test_labels_map_is_added_whole_only_when_live_has_none() -> None:
    live = live_from(DESIRED)
    del live["metadata"]["labels"]
    change = diff(live, DESIRED)
    assert change.patch[1:] == ({"op": "add", "path": "/metadata/labels", "value": DESIRED["metadata"]["labels"]},)


def test_stale_failsync_annotation_is_removed_but_foreign_annotations_stay() -> None:
    annotations = {**DESIRED["metadata"]["annotations"], "failsync.io/primary-healthy-since": "2024-01-01T00:00:00Z",
                   "example.com/note": "keep me"}
    live = live_from(DESIRED, metadata__annotations=annotations)
    change = diff(live, DESIRED)
    assert change.patch[1:] == ({"op": "remove", "path": "/metadata/annotations/failsync.io~1primary-healthy-since"},)
    assert apply(live, change)["metadata"]["annotations"]["example.com/note"] == "keep me"


def test_changed_primary_annotation_is_owned() -> None:
    annotations = {**DESIRED["metadata"]["annotations"], "failover.linkerd.io/primary-service": "other"}
    change = diff(live_from(DESIRED, metadata__annotations=annotations), DESIRED)
    assert change.patch[1:] == ({"op": "replace", "path": "/metadata/annotations/failover.linkerd.io~1primary-service",
                                 "value": "web-svc"},)


def test_missing_object_is_a_create_without_patch() -> None:
    change = diff(None, DESIRED)
    assert change.action is Action.CREATE
    assert change.patch == ()
    assert change.live is None
    assert "+  - {service: web-svc, weight: 1}" in change.text()
    # Built on first read (a pass from scratch never reads it), the view is the owned view, and a copy.
    assert change.desired == owned_view(DESIRED, desired=DESIRED, live=None)
    assert change.desired is not DESIRED and change.desired["spec"] is not DESIRED["spec"]
    assert change == Change("emojivoto/web-svc-failover", None, owned_view(DESIRED, desired=DESIRED, live=None), ())


def test_patch_applied_to_live_gives_desired_owned_view_and_keeps_the_rest() -> None:
    live = live_from(DESIRED, metadata__labels={"foreign": "x"}, spec__service="old-apex")
    desired = with_weights(DESIRED, 0, 1)
    patched = apply(live, diff(live, desired))
    assert owned_view(patched, desired=desired, live=patched) == owned_view(desired, desired=desired, live=patched)
    assert patched["metadata"]["labels"]["foreign"] == "x"
    assert patched["status"] == {"observed": True}
    assert patched["metadata"]["uid"] == "77039fb3"


def test_weights_ownership_ignores_labels_annotations_and_other_spec_fields() -> None:
    hand_written = live_from(DESIRED, metadata__labels={"failover.linkerd.io/controlled-by": "linkerd-failover"},
                             metadata__annotations={"failover.linkerd.io/primary-service": "web-svc"},
                             spec__service="web-svc")
    desired = with_weights(hand_written, 0, 1)
    desired["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "failsync"}
    desired["spec"]["service"] = "something-else"
    change = diff(hand_written, desired, ownership=Ownership.WEIGHTS)
    assert {op["path"] for op in change.patch[1:]} == {"/spec/backends/0/weight", "/spec/backends/1/weight"}
    patched = apply(hand_written, change)
    assert patched["metadata"]["labels"] == {"failover.linkerd.io/controlled-by": "linkerd-failover"}
    assert patched["spec"]["service"] == "web-svc"


def test_weights_ownership_in_sync_has_no_patch() -> None:
    live = live_from(DESIRED)
    assert diff(live, copy.deepcopy(live), ownership=Ownership.WEIGHTS).in_sync


json_keys = st.one_of(st.sampled_from(["a", "b", "a/b", "~", "~1", "failsync.io/last-change", ""]), st.text(max_size=6))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, 1.0, 2.5]),
                         st.text(max_size=4))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                 st.dictionaries(json_keys, inner, max_size=4)),
                           max_leaves=20)
json_documents = st.dictionaries(json_keys, json_values, max_size=5)


def as_json(document: object) -> str:
    return json.dumps(document, sort_keys=True)  # tells 1, 1.0 and true apart, as the API does


@given(json_documents, json_documents)
def test_json_patch_turns_any_document_into_any_other(source: dict, target: dict) -> None:
    original = copy.deepcopy(source)
    patched = jsonpatch.apply_patch(source, json_patch(source, target))
    assert as_json(patched) == as_json(target)
    assert as_json(source) == as_json(original)  # computing the patch changes neither side


@given(json_documents)
def test_json_patch_of_equal_documents_is_empty(document: dict) -> None:
    assert json_patch(document, copy.deepcopy(document)) == []


def _retyped(value: object) -> object:
    """``value`` with every 1 turned into 1.0 and every 0 into False (== still holds)."""
    if isinstance(value, dict):
        return {key: _retyped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_retyped(item) for item in value]
    if type(value) is int and value in (0, 1):
        return float(value) if value else False
    return value


@given(json_documents, json_documents, st.booleans())
def test_documents_are_in_sync_exactly_when_they_are_the_same_json(first: dict, second: dict, retype: bool) -> None:
    other = _retyped(first) if retype else second
    same = as_json(first) == as_json(other)
    assert (guarded_patch({}, first, other) == ()) is same


owned_keys = st.sampled_from(["app.kubernetes.io/managed-by", "failsync.io/policy", "failsync.io/last-change",
                              "failover.linkerd.io/primary-service", "team", "foreign"])
metadata_maps = st.one_of(st.none(), st.just("not a map"), st.dictionaries(owned_keys, json_scalars, max_size=4))


@st.composite
def target_objects(draw) -> dict:
    metadata = {"name": "web", "namespace": "emojivoto", "resourceVersion": "7"}
    for field in ("labels", "annotations"):
        value = draw(metadata_maps)
        if value is not None or draw(st.booleans()):
            metadata[field] = value
    obj = {"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit", "metadata": metadata}
    spec = draw(st.one_of(st.none(), json_documents))
    if spec is not None or draw(st.booleans()):
        obj["spec"] = spec
    return obj


@given(target_objects(), target_objects(), st.booleans())
def test_the_in_sync_check_agrees_with_comparing_the_owned_views(live: dict, desired: dict, near: bool) -> None:
    if near:  # a near-copy: the same document, or with 1 / 0 retyped, so that most pairs are (almost) in sync
        desired = _retyped(copy.deepcopy(live)) if live.get("spec") else copy.deepcopy(live)
    views = (owned_view(live, desired=desired, live=live), owned_view(desired, desired=desired, live=live))
    assert in_sync(live, desired) is (as_json(views[0]) == as_json(views[1]))
    change = diff(live, desired)
    assert change.in_sync is in_sync(live, desired)
    assert (change.live, change.desired) == views
