"""The held-watch-events fault: a watch cache lagging behind storage, for tests of what a
client does with a stale cache.

Covers: while the watch events of a kind are held, open watches get none of its changes and
their bookmarks stay before the first held change, while GET sees the change at once; a watch
opened meanwhile from an older resourceVersion gets no held change either; on release every
held change arrives, in order, once per watch; ``reset()`` releases them too; other kinds' events
flow as usual; an unknown resource is a ValueError.
"""
from __future__ import annotations

import pytest

from tests.integration.conformance.support import Watch, call, create, split_path, traffic_split


@pytest.fixture
def west(sandbox):
    cluster = sandbox["west"]
    cluster.faults.reset()
    interval, cluster.bookmark_interval = cluster.bookmark_interval, 0.05  # bookmarks show where a watch is
    yield cluster
    cluster.bookmark_interval = interval
    cluster.faults.reset()


WATCH = {"timeoutSeconds": "60", "allowWatchBookmarks": "true"}


def _version(obj: dict) -> int:
    return int(obj["metadata"]["resourceVersion"])


def _bookmarks_then(watch: Watch, count: int) -> list[dict]:
    """The events up to and including the ``count``-th BOOKMARK."""
    events: list[dict] = []
    while sum(1 for e in events if e["type"] == "BOOKMARK") < count:
        event = watch.next(timeout=5)
        assert event is not None, f"the watch ended after {events}"
        events.append(event)
    return events


def test_held_changes_reach_no_watch_until_released(west, api, namespace):
    before = create(api, traffic_split(namespace, "before"))
    with Watch(api, split_path(namespace), WATCH) as watch, \
            Watch(api, "/api/v1/namespaces/default/services", WATCH) as services:
        assert watch.next_of({"ADDED"})["object"]["metadata"]["name"] == "before"
        west.faults.hold_watch_events("trafficsplits.split.smi-spec.io")
        held = create(api, traffic_split(namespace, "held"))
        edited = call(api, "PATCH", split_path(namespace, "held"), body={"metadata": {"labels": {"a": "b"}}},
                      content_type="application/merge-patch+json").json()
        assert call(api, "GET", split_path(namespace, "held")).json()["metadata"]["labels"] == {"a": "b"}
        seen = _bookmarks_then(watch, 3)  # a change queued before a bookmark would come before it
        assert [e["type"] for e in seen] == ["BOOKMARK"] * 3
        assert all(_version(e["object"]) < _version(held) for e in seen)
        west.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"other-{namespace}"},
                    "spec": {"ports": [{"port": 80}]}})
        assert services.next_of({"ADDED"})["object"]["metadata"]["name"] == f"other-{namespace}"
        with Watch(api, split_path(namespace), {**WATCH, "resourceVersion": str(_version(before))}) as late:
            assert [e["type"] for e in _bookmarks_then(late, 2)] == ["BOOKMARK"] * 2
            assert west.faults.release_watch_events() == 2
            for stream in (watch, late):
                added = stream.next_of({"ADDED", "MODIFIED"})
                modified = stream.next_of({"ADDED", "MODIFIED"})
                assert (added["type"], _version(added["object"])) == ("ADDED", _version(held))
                assert (modified["type"], modified["object"]["metadata"]["labels"]) == ("MODIFIED", {"a": "b"})
                assert _version(modified["object"]) == _version(edited)
                after = _bookmarks_then(stream, 1)
                assert [e["type"] for e in after] == ["BOOKMARK"]
                assert _version(after[0]["object"]) >= _version(edited)
    west.delete("v1", "Service", "default", f"other-{namespace}")


def test_reset_delivers_the_held_changes(west, api, namespace):
    with Watch(api, split_path(namespace), WATCH) as watch:
        west.faults.hold_watch_events("trafficsplits.split.smi-spec.io")
        held = create(api, traffic_split(namespace, "held"))
        assert [e["type"] for e in _bookmarks_then(watch, 1)] == ["BOOKMARK"]
        west.faults.reset()
        assert _version(watch.next_of({"ADDED"})["object"]) == _version(held)
        create(api, traffic_split(namespace, "after"))
        assert watch.next_of({"ADDED"})["object"]["metadata"]["name"] == "after"


def test_holding_an_unknown_resource_is_an_error(west):
    with pytest.raises(ValueError, match="trafficsplit"):
        west.faults.hold_watch_events("trafficsplit")
