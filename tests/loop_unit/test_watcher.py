"""The watcher's informer loop, against a scripted fake client (no network).

Covers:
- LIST then WATCH from the list's resourceVersion; bookmarks move the resourceVersion;
- malformed objects in a list or a watch are skipped, never crash the loop;
- a 410 Gone re-lists (an ``expired`` restart) and reports what changed meanwhile, then a resync;
- a 503 with Retry-After is retried (a ``server-error`` restart) and the loop carries on;
- a LIST that comes in several pages fills the cache whole and watches from its resourceVersion;
- each page is in the cache (projected) before the next is fetched, so a large LIST is never whole in memory;
- a LIST whose later page fails is listed again, and every object of it is told to the handler exactly once;
- after a lost connection the watcher re-lists; a server whose resourceVersions went back (restored
  from a backup, restarted empty) or that answers "too large resource version" is re-listed, said
  once (WARNING, then INFO when the stream is back) and counted as a `rewound` restart.
"""

from __future__ import annotations

import logging
import threading

from failsync.backoff import RetryPolicy
from failsync.errors import Gone, ServerError, Unreachable
from failsync.kube.client import ObjectList, WatchEvent
from failsync.kube.resources import ENDPOINTS
from failsync.kube.watch import Store, Watcher
from tests.helpers import wait_for


def _obj(name: str, version: str) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": version}}


class ScriptedClient:
    """Each LIST answers in turn (one ObjectList, or a list of them as pages); each watch() call
    plays the next script (a list of events, or an exception)."""

    def __init__(self, lists: list[ObjectList], watches: list[object]) -> None:
        self.lists = lists
        self.watches = watches
        self.watch_versions: list[str | None] = []
        self.idle = threading.Event()

    def list_pages(self, resource, *, namespace=None, label_selector=None):
        answer = self.lists.pop(0)
        yield from answer if isinstance(answer, list) else [answer]

    def watch(self, resource, *, namespace=None, label_selector=None, resource_version=None, timeout_seconds=None,
              on_open=None):
        self.watch_versions.append(resource_version)
        if not self.watches:
            self.idle.set()
            threading.Event().wait(0.05)  # an idle stream that ends: the watcher reconnects
            return
        script = self.watches.pop(0)
        if isinstance(script, Exception):
            raise script
        yield from script


def test_watcher_lists_watches_skips_malformed_and_relists_after_410() -> None:
    client = ScriptedClient(
        lists=[ObjectList((_obj("a", "1"), {"metadata": {}}, {"kind": "broken"}), "5"),
               ObjectList((_obj("a", "1"), _obj("c", "12")), "12")],
        watches=[[WatchEvent("ADDED", {"metadata": None}), WatchEvent("ADDED", _obj("b", "6")),
                  WatchEvent("WEIRD", _obj("x", "7")), WatchEvent("BOOKMARK", {"metadata": {"resourceVersion": "8"}})],
                 Gone("too old", status=410),
                 ServerError("busy", status=503, retry_after=0.01)])
    changes: list[tuple[str, str]] = []
    resyncs: list[int] = []
    restarts: list[str] = []
    watcher = Watcher(client, ENDPOINTS, on_change=lambda c: changes.append((c.type, c.key)),  # type: ignore[arg-type]
                      on_resync=lambda: resyncs.append(1), on_restart=restarts.append,
                      retry=RetryPolicy(0.001, 0.01))
    watcher.start()
    try:
        wait_for(client.idle.is_set, timeout=5, message="the script to play out")
    finally:
        watcher.stop()
    assert client.watch_versions[:3] == ["5", "8", "12"]
    assert changes[:2] == [("ADDED", "ns/a"), ("ADDED", "ns/b")]
    assert sorted(changes[2:]) == [("ADDED", "ns/c"), ("DELETED", "ns/b")]  # what the re-list found changed
    assert sorted(watcher.store.keys()) == ["ns/a", "ns/c"]
    assert len(resyncs) == 2
    assert restarts[:3] == ["closed", "expired", "server-error"]
    assert watcher.synced.is_set()


def test_a_list_in_pages_fills_the_cache_whole_and_watches_from_its_version() -> None:
    client = ScriptedClient(lists=[[ObjectList((_obj("a", "3"), _obj("b", "4")), "9"),
                                    ObjectList((_obj("c", "7"),), "9")]], watches=[])
    watcher = Watcher(client, ENDPOINTS, retry=RetryPolicy(0.001, 0.01))  # type: ignore[arg-type]
    watcher.start()
    try:
        wait_for(client.idle.is_set, timeout=5, message="the watch to start")
    finally:
        watcher.stop()
    assert sorted(watcher.store.keys()) == ["ns/a", "ns/b", "ns/c"]
    assert client.watch_versions[0] == "9"


def test_each_page_of_a_list_is_cached_before_the_next_is_fetched() -> None:
    store = Store(project=lambda obj: obj["metadata"]["name"])
    cached_when_fetched: list[list[str]] = []

    class PagingClient(ScriptedClient):
        def list_pages(self, resource, *, namespace=None, label_selector=None):
            for page in (ObjectList((_obj("a", "3"), _obj("b", "4")), "9"), ObjectList((_obj("c", "7"),), "9")):
                cached_when_fetched.append(sorted(store.keys()))
                yield page

    client = PagingClient(lists=[], watches=[])
    watcher = Watcher(client, ENDPOINTS, store=store, retry=RetryPolicy(0.001, 0.01))  # type: ignore[arg-type]
    watcher.start()
    try:
        wait_for(client.idle.is_set, timeout=5, message="the watch to start")
    finally:
        watcher.stop()
    assert cached_when_fetched == [[], ["ns/a", "ns/b"]]
    assert store.get("ns/c") == "c" and client.watch_versions[0] == "9"


def test_a_list_failing_after_its_first_page_is_retried_and_every_object_told_once() -> None:
    class FailingOnceClient(ScriptedClient):
        attempts = 0

        def list_pages(self, resource, *, namespace=None, label_selector=None):
            self.attempts += 1
            yield ObjectList((_obj("a", "3"), _obj("b", "4")), "9")
            if self.attempts == 1:
                raise Unreachable("connection reset while reading the second page")
            yield ObjectList((_obj("c", "7"),), "9")

    client = FailingOnceClient(lists=[], watches=[])
    changes: list[tuple[str, str]] = []
    restarts: list[str] = []
    watcher = Watcher(client, ENDPOINTS, on_change=lambda c: changes.append((c.type, c.key)),  # type: ignore[arg-type]
                      on_restart=restarts.append, retry=RetryPolicy(0.001, 0.01))
    watcher.start()
    try:
        wait_for(client.idle.is_set, timeout=5, message="the watch to start")
    finally:
        watcher.stop()
    assert restarts[0] == "connection" and client.attempts == 2
    assert sorted(changes) == [("ADDED", "ns/a"), ("ADDED", "ns/b"), ("ADDED", "ns/c")]
    assert client.watch_versions[0] == "9"


def test_a_server_that_comes_back_with_older_state_is_relisted_said_and_counted(caplog) -> None:
    """Issue 11.16: after an outage the server is restored from a backup (its resourceVersions went back)."""
    client = ScriptedClient(
        lists=[ObjectList((_obj("a", "100"), _obj("b", "101")), "101"),
               ObjectList((_obj("a", "40"),), "41")],  # b is gone and a is older: a restore
        watches=[Unreachable("connection refused")])
    changes: list[tuple[str, str]] = []
    resyncs: list[int] = []
    restarts: list[str] = []
    watcher = Watcher(client, ENDPOINTS, on_change=lambda c: changes.append((c.type, c.key)),  # type: ignore[arg-type]
                      on_resync=lambda: resyncs.append(1), on_restart=restarts.append,
                      retry=RetryPolicy(0.001, 0.01))
    with caplog.at_level(logging.INFO, logger="failsync.kube.watch"):
        watcher.start()
        try:
            wait_for(client.idle.is_set, timeout=5, message="the script to play out")
        finally:
            watcher.stop()
    assert restarts[:2] == ["connection", "rewound"]
    assert client.watch_versions[:2] == ["101", "41"]  # re-listed after the lost connection, not re-watched
    assert sorted(changes[2:]) == [("DELETED", "ns/b"), ("MODIFIED", "ns/a")]
    assert watcher.store.version("ns/a") == "40" and len(resyncs) == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("went back: listed at resourceVersion 41 after 101" in m for m in messages)
    assert any("is back (after connection" in m for m in messages)


def test_a_watch_ahead_of_the_server_relists() -> None:
    client = ScriptedClient(lists=[ObjectList((_obj("a", "9"),), "9"), ObjectList((_obj("a", "3"),), "3")],
                            watches=[ServerError("watch endpoints: Too large resource version: 9, current: 3",
                                                 status=504)])
    restarts: list[str] = []
    watcher = Watcher(client, ENDPOINTS, on_restart=restarts.append, retry=RetryPolicy(0.001, 0.01))  # type: ignore[arg-type]
    watcher.start()
    try:
        wait_for(client.idle.is_set, timeout=5, message="the script to play out")
    finally:
        watcher.stop()
    assert client.watch_versions[:2] == ["9", "3"] and "rewound" in restarts
