"""PATCH algorithms of the sandbox.

Covers: JSON merge patch (null deletes, arrays replaced), strategic merge by merge key for
containers/env/ports, `$patch: delete|replace`, `$setElementOrder`, `$deleteFromPrimitiveList`,
JSON Patch failures mapped to 400 (malformed) and 422 (failed test), 415 for strategic merge on
custom resources.
"""

import json

import pytest

from failsync.sandbox import patches
from failsync.sandbox.status import ApiError

DEPLOYMENT = {"spec": {"template": {"spec": {"containers": [
    {"name": "web", "image": "web:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
     "ports": [{"containerPort": 80, "name": "http"}]},
    {"name": "sidecar", "image": "proxy:1"}]}}}, "metadata": {"finalizers": ["a"]}}


def containers(obj):
    return obj["spec"]["template"]["spec"]["containers"]


def test_merge_patch_deletes_null_keys_and_replaces_arrays():
    result = patches.merge({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]}, {"a": None, "b": {"c": None}, "l": [3]})
    assert result == {"b": {"d": 3}, "l": [3]}


def test_strategic_merge_merges_containers_and_env_by_name():
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "web:2", "env": [{"name": "B", "value": "changed"}]}]}}}}
    result = patches.strategic_merge(DEPLOYMENT, patch)
    web, sidecar = containers(result)
    assert web["image"] == "web:2" and sidecar["image"] == "proxy:1"
    assert web["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "changed"}]
    assert web["ports"] == [{"containerPort": 80, "name": "http"}]


def test_strategic_merge_honours_patch_delete_and_set_element_order():
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}],
        "containers": [{"name": "web", "$patch": "delete"}, {"name": "sidecar", "image": "proxy:2"}]}}}}
    result = patches.strategic_merge(DEPLOYMENT, patch)
    assert [c["name"] for c in containers(result)] == ["sidecar"]
    assert containers(result)[0]["image"] == "proxy:2"
    reordered = patches.strategic_merge(DEPLOYMENT, {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "web"}]}}}})
    assert [c["name"] for c in containers(reordered)] == ["sidecar", "web"]


def test_strategic_merge_ports_merge_by_port_and_primitive_lists_union():
    service = {"spec": {"ports": [{"port": 80, "name": "http"}]}, "metadata": {"finalizers": ["a"]}}
    result = patches.strategic_merge(service, {"spec": {"ports": [{"port": 443, "name": "https"}]},
                                               "metadata": {"finalizers": ["b"]}})
    assert [p["port"] for p in result["spec"]["ports"]] == [80, 443]
    assert result["metadata"]["finalizers"] == ["a", "b"]
    removed = patches.strategic_merge(result, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert removed["metadata"]["finalizers"] == ["b"]


def test_strategic_merge_patch_replace_directive_replaces_a_map():
    result = patches.strategic_merge({"spec": {"a": 1, "b": 2}}, {"spec": {"$patch": "replace", "c": 3}})
    assert result == {"spec": {"c": 3}}


@pytest.mark.parametrize("body, code", [
    (b'{"op": "add"}', 400),
    (b"not json", 400),
    (b'[{"op": "frobnicate", "path": "/a"}]', 400),
    (b'[{"op": "test", "path": "/a", "value": 2}]', 422),
    (b'[{"op": "replace", "path": "/missing/x", "value": 2}]', 422),
])
def test_json_patch_failures_answer_the_real_codes(body, code):
    with pytest.raises(ApiError) as caught:
        patches.apply(patches.JSON_PATCH, {"a": 1}, body, custom=False)
    assert caught.value.code == code


def test_json_patch_applies_operations():
    body = json.dumps([{"op": "test", "path": "/a", "value": 1}, {"op": "replace", "path": "/a", "value": 2}])
    assert patches.apply(patches.JSON_PATCH, {"a": 1}, body.encode(), custom=True) == {"a": 2}


def test_strategic_merge_on_custom_resource_is_unsupported_media_type():
    with pytest.raises(ApiError) as caught:
        patches.apply(patches.STRATEGIC_MERGE_PATCH, {}, b"{}", custom=True)
    assert caught.value.code == 415 and caught.value.reason == "UnsupportedMediaType"
