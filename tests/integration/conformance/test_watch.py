"""WATCH streams, read line by line as pykube-ng and kubectl read them.

Covers: 200 application/json, one compact JSON event per line and no blank lines;
ADDED, MODIFIED, DELETED in order (DELETED carries the last state with a newer
resourceVersion); resourceVersion unset and "0" give a synthetic ADDED per current object
first, N gives only changes after N; a write that changes nothing emits no event; label
selectors turn entering/leaving into ADDED/DELETED; a name field selector watches one
object; BOOKMARK events (kind and resourceVersion only) only with allowWatchBookmarks;
timeoutSeconds ends the stream; past the history window the answer is 200 with one
ERROR event carrying Status 410 Expired, then the stream closes (pykube surfaces the
ERROR event), and that window is per kind (writes to others never expire it); pykube `watch()` yields typed events; `kubectl get ts -A -w` prints the
existing object and then an update; `kubectl get ts NAME -w` prints only that object's updates.
"""
from __future__ import annotations

import itertools
import json
import time

import pykube
import pytest

from failsync.sandbox import Sandbox
from tests.helpers import LineStream
from tests.integration.conformance.support import (MERGE_PATCH, SPLIT_GROUP, Watch, call, close_stream,
                                                   create, object_path, resource_version, split_path,
                                                   traffic_split)
from tests.integration.conftest import http_client


def relabel(api, obj: dict, labels: dict) -> dict:
    response = call(api, "PATCH", object_path(obj), body={"metadata": {"labels": labels}},
                    content_type=MERGE_PATCH)
    assert response.status_code == 200, response.text
    return response.json()


def test_stream_is_json_lines_with_added_modified_deleted_in_order(api, namespace):
    with Watch(api, split_path(namespace), {"resourceVersion": "0"}) as watch:
        assert watch.response.status_code == 200
        assert watch.response.headers["Content-Type"].split(";")[0] == "application/json"
        created = create(api, traffic_split(namespace, "web"))
        modified = relabel(api, created, {"stage": "two"})
        assert call(api, "DELETE", object_path(created)).status_code == 200
        events = [watch.next_of({"ADDED", "MODIFIED", "DELETED"}) for _ in range(3)]
        assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
        assert events[0]["object"]["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
        assert events[1]["object"]["metadata"]["labels"] == {"stage": "two"}
        deleted = events[2]["object"]
        assert deleted["metadata"]["labels"] == {"stage": "two"}
        assert resource_version(deleted) > resource_version(modified)
        for line in watch.lines.seen:
            assert line.strip() and "\n" not in line
            assert set(json.loads(line)) == {"type", "object"}


def test_unset_resource_version_replays_current_objects_as_added_first(api, namespace):
    for name in ("a", "b"):
        create(api, traffic_split(namespace, name))
    for params in ({}, {"resourceVersion": "0"}):
        with Watch(api, split_path(namespace), params) as watch:
            first = [watch.next_of({"ADDED", "MODIFIED", "DELETED"}) for _ in range(2)]
            assert sorted((e["type"], e["object"]["metadata"]["name"]) for e in first) == \
                [("ADDED", "a"), ("ADDED", "b")]
            relabel(api, first[0]["object"], {"seen": str(len(params))})
            assert watch.next_of({"ADDED", "MODIFIED", "DELETED"})["type"] == "MODIFIED"


def test_resource_version_n_streams_only_changes_after_n(api, namespace):
    first = create(api, traffic_split(namespace, "a"))
    second = create(api, traffic_split(namespace, "b"))
    third = relabel(api, first, {"x": "1"})
    with Watch(api, split_path(namespace), {"resourceVersion": second["metadata"]["resourceVersion"]}) as watch:
        event = watch.next_of({"ADDED", "MODIFIED", "DELETED"})
        assert (event["type"], event["object"]["metadata"]["name"]) == ("MODIFIED", "a")
        assert event["object"]["metadata"]["resourceVersion"] == third["metadata"]["resourceVersion"]


def test_write_that_changes_nothing_emits_no_event(api, namespace):
    created = create(api, traffic_split(namespace, "web", labels={"a": "1"}))
    with Watch(api, split_path(namespace), {"resourceVersion": created["metadata"]["resourceVersion"]}) as watch:
        relabel(api, created, {"a": "1"})
        relabel(api, created, {"a": "2"})
        event = watch.next_of({"ADDED", "MODIFIED", "DELETED"})
        assert event["type"] == "MODIFIED"
        assert event["object"]["metadata"]["labels"] == {"a": "2"}


def test_label_selector_turns_entering_and_leaving_into_added_and_deleted(api, namespace):
    created = create(api, traffic_split(namespace, "web"))
    with Watch(api, split_path(namespace), {"labelSelector": "role=primary",
                                            "resourceVersion": created["metadata"]["resourceVersion"]}) as watch:
        entered = relabel(api, created, {"role": "primary"})
        relabel(api, created, {"role": "primary", "more": "x"})
        left = relabel(api, created, {"role": "fallback"})
        events = [watch.next_of({"ADDED", "MODIFIED", "DELETED"}) for _ in range(3)]
        assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
        assert events[0]["object"]["metadata"]["resourceVersion"] == entered["metadata"]["resourceVersion"]
        assert events[2]["object"]["metadata"]["resourceVersion"] == left["metadata"]["resourceVersion"]


def test_name_field_selector_watches_one_object(api, namespace):
    create(api, traffic_split(namespace, "other"))
    mine = create(api, traffic_split(namespace, "mine"))
    with Watch(api, split_path(namespace), {"fieldSelector": "metadata.name=mine",
                                            "resourceVersion": "0"}) as watch:
        event = watch.next_of({"ADDED", "MODIFIED", "DELETED"})
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "mine")
        relabel(api, create(api, traffic_split(namespace, "third")), {"x": "y"})
        relabel(api, mine, {"x": "y"})
        event = watch.next_of({"ADDED", "MODIFIED", "DELETED"})
        assert (event["type"], event["object"]["metadata"]["name"]) == ("MODIFIED", "mine")


def test_bookmarks_only_when_allowed_and_timeout_seconds_ends_the_stream(api, namespace):
    version = create(api, traffic_split(namespace, "web"))["metadata"]["resourceVersion"]
    with Watch(api, split_path(namespace), {"resourceVersion": version, "timeoutSeconds": "3",
                                            "allowWatchBookmarks": "true"}) as allowed, \
            Watch(api, split_path(namespace), {"resourceVersion": version, "timeoutSeconds": "3"}) as plain:
        allowed_lines = allowed.lines.wait_end(timeout=15)
        plain_lines = plain.lines.wait_end(timeout=15)
    bookmarks = [json.loads(line) for line in allowed_lines if json.loads(line)["type"] == "BOOKMARK"]
    assert bookmarks, allowed_lines
    for bookmark in bookmarks:
        assert bookmark["object"]["kind"] == "TrafficSplit"
        assert bookmark["object"]["apiVersion"] == f"{SPLIT_GROUP}/v1alpha4"
        assert int(bookmark["object"]["metadata"]["resourceVersion"]) >= int(version)
        assert "name" not in bookmark["object"]["metadata"]
    assert all(json.loads(line)["type"] != "BOOKMARK" for line in plain_lines), plain_lines


def test_pykube_watch_yields_typed_events(api, namespace):
    split = pykube.object_factory(api, f"{SPLIT_GROUP}/v1alpha4", "TrafficSplit")
    created = create(api, traffic_split(namespace, "web"))
    stream = split.objects(api, namespace=namespace).watch(
        since=created["metadata"]["resourceVersion"], params={"timeoutSeconds": "5"})
    events = LineStream(stream.object_stream())
    relabel(api, created, {"via": "pykube"})
    event = events.next(timeout=5)
    assert event.type == "MODIFIED"
    assert isinstance(event.object, split) and event.object.labels == {"via": "pykube"}
    close_stream(stream.response)


@pytest.fixture(scope="module")
def short_history():
    with Sandbox(clusters=("west",), history=5) as running:
        yield running


def expire(client: pykube.HTTPClient, namespace: str) -> str:
    """Create a namespace with one TrafficSplit, then push its version out of a 5-event history."""
    create(client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    created = create(client, traffic_split(namespace, "web"))
    for step in range(12):
        relabel(client, created, {"step": str(step)})
    return created["metadata"]["resourceVersion"]


def test_watch_past_the_history_window_is_200_then_one_410_expired_event(short_history):
    client = http_client(short_history.kubeconfig)
    too_old = expire(client, "expired-raw")
    with Watch(client, split_path("expired-raw"), {"resourceVersion": too_old}) as watch:
        assert watch.response.status_code == 200
        event = watch.next(timeout=5)
        assert event["type"] == "ERROR"
        status = event["object"]
        assert status["kind"] == "Status" and status["apiVersion"] == "v1"
        assert status["status"] == "Failure" and status["code"] == 410 and status["reason"] == "Expired"
        assert status["message"].startswith(f"too old resource version: {too_old} ("), status
        assert watch.next(timeout=5) is None


def test_pykube_sees_the_expired_error_event(short_history):
    client = http_client(short_history.kubeconfig)
    too_old = expire(client, "expired-pykube")
    split = pykube.object_factory(client, f"{SPLIT_GROUP}/v1alpha4", "TrafficSplit")
    stream = split.objects(client, namespace="expired-pykube").watch(since=too_old)
    events = LineStream(stream.object_stream())
    event = events.next(timeout=5)
    assert event.type == "ERROR" and event.object.obj["code"] == 410
    assert events.next(timeout=5) is None


def test_writes_to_other_kinds_never_expire_a_quiet_kinds_watch(short_history):
    # The API server keeps a watch window per resource: a controller watching EndpointSlices
    # from an old resourceVersion resumes, however many routes were written meanwhile.
    client = http_client(short_history.kubeconfig)
    create(client, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "quiet"}})
    quiet = create(client, traffic_split("quiet", "web"))
    since = quiet["metadata"]["resourceVersion"]
    lease = create(client, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                            "metadata": {"name": "busy", "namespace": "quiet"}, "spec": {}})
    for step in range(12):  # more than the 5-change window, all of another kind
        relabel(client, lease, {"step": str(step)})
    with Watch(client, split_path("quiet"), {"resourceVersion": since}) as watch:
        assert watch.response.status_code == 200
        relabel(client, quiet, {"stage": "two"})
        event = watch.next(timeout=5)
        assert event["type"] == "MODIFIED", event
        assert event["object"]["metadata"]["labels"] == {"stage": "two"}


def test_kubectl_get_watch_prints_an_update(kubectl, api, namespace):
    created = create(api, traffic_split(namespace, "watched"))
    process = kubectl.popen("get", "ts", "-A", "-w", "--output-watch-events")
    try:
        lines = LineStream(process.stdout)
        lines.until(lambda line: "watched" in line and "ADDED" in line, timeout=15)
        relabel(api, created, {"changed": "yes"})
        update = lines.until(lambda line: "watched" in line, timeout=10)
        assert update.split()[0] == "MODIFIED" and namespace in update.split()
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_kubectl_get_watch_on_one_object_prints_only_its_updates(kubectl, api, namespace):
    solo = create(api, traffic_split(namespace, "solo"))
    noise = create(api, traffic_split(namespace, "noise"))
    process = kubectl.popen("-n", namespace, "get", "ts", "solo", "-w", "--output-watch-events")
    try:
        lines = LineStream(process.stdout)
        lines.until(lambda line: "solo" in line, timeout=15)
        # kubectl prints the object from a GET, then watches from resourceVersion "0" (starts at ~now, its
        # initial ADDED not printed): a change made before that watch opens is never printed, so keep
        # changing both objects until an update of solo shows.
        deadline = time.monotonic() + 15
        for attempt in itertools.count(1):
            relabel(api, noise, {"changed": str(attempt)})
            relabel(api, solo, {"changed": str(attempt)})
            try:
                update = lines.until(lambda line: "solo" in line, timeout=0.5)
                break
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise
        assert update.split()[0] == "MODIFIED"
        assert not any("noise" in line for line in lines.seen), lines.seen
    finally:
        process.terminate()
        process.communicate(timeout=10)
