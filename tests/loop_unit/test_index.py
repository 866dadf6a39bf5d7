"""The loop's policy index, updated one key at a time.

Covers:
- adopting or dropping one TrafficSplit touches that key only (start-up with N adopted objects is
  N small updates, never N rebuilds of the whole set);
- taking the policy files again touches only the keys whose policy changed;
- a policy file wins over an adopted object of the same name, and the adopted one comes back when
  the file's policy goes;
- the service index follows every update (a service shared by two policies, a policy removed);
- listeners are told each update that changes the managed set (the remote caches rescope on it).
"""

from __future__ import annotations

from failsync.controller.index import PolicyIndex
from failsync.core.model import Backend, Origin, Policy


def _policy(name: str, primary: str = "web", fallback: str = "east", origin: Origin = Origin.FILE) -> Policy:
    return Policy(name=name, namespace="ns", service=primary, primary=primary, fallbacks=(Backend(fallback),),
                  origin=origin)


def test_adopting_one_object_touches_one_key() -> None:
    index = PolicyIndex()
    for n in range(100):
        change = index.set_adopted(f"ns/a{n}", _policy(f"a{n}", origin=Origin.ADOPTED))
        assert [p.key for p in change.changed] == [f"ns/a{n}"] and change.removed == []
    assert len(index) == 100
    assert not index.set_adopted("ns/a5", _policy("a5", origin=Origin.ADOPTED))  # the same again: nothing
    change = index.set_adopted("ns/a5", None)
    assert [p.key for p in change.removed] == ["ns/a5"] and "ns/a5" not in index


def test_taking_the_files_again_touches_only_what_changed() -> None:
    index = PolicyIndex()
    files = {f"ns/f{n}": _policy(f"f{n}") for n in range(50)}
    assert len(index.set_files(files).changed) == 50
    edited = {**files, "ns/f7": _policy("f7", primary="web-v2")}
    del edited["ns/f9"]
    change = index.set_files(edited)
    assert [p.key for p in change.changed] == ["ns/f7"] and [p.key for p in change.removed] == ["ns/f9"]


def test_a_policy_file_wins_over_an_adopted_object_of_the_same_name() -> None:
    index = PolicyIndex()
    adopted = _policy("x", primary="adopted", origin=Origin.ADOPTED)
    index.set_adopted("ns/x", adopted)
    index.set_files({"ns/x": _policy("x", primary="from-file")})
    assert index.get("ns/x").primary == "from-file" and index.has_file_policy("ns/x")
    change = index.set_files({})
    assert index.get("ns/x") == adopted and [p.key for p in change.changed] == ["ns/x"]


def test_the_service_index_follows_every_update() -> None:
    index = PolicyIndex()
    index.set_files({"ns/a": _policy("a", fallback="shared"), "ns/b": _policy("b", primary="other", fallback="shared")})
    assert index.keys_for([("ns", "shared")]) == {"ns/a", "ns/b"}
    assert index.keys_for([("ns", "web")]) == {"ns/a"}
    index.set_files({"ns/b": _policy("b", primary="other", fallback="shared")})
    assert index.keys_for([("ns", "shared")]) == {"ns/b"} and index.keys_for([("ns", "web")]) == set()
    assert index.keys_for([("other-ns", "shared")]) == set()


def test_listeners_are_told_each_update_that_changes_the_set_and_no_other() -> None:
    index = PolicyIndex()
    told = []
    index.listeners.append(lambda change: told.append(([p.key for p in change.changed], [p.key for p in change.removed])))
    index.set_files({"ns/a": _policy("a")})
    index.set_files({"ns/a": _policy("a")})  # the same again: nothing to tell
    index.set_adopted("ns/b", _policy("b", origin=Origin.ADOPTED))
    index.set_files({})
    assert told == [(["ns/a"], []), (["ns/b"], []), ([], ["ns/a"])]
