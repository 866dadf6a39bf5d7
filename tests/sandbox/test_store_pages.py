"""LIST pages of the sandbox store, served from its sorted key index.

Covers (hypothesis): after any mix of creates, updates and deletes across namespaces, paging a
kind with any limit, in one namespace or all, at the latest revision or at an earlier one still
in history, returns exactly the objects that were stored at that revision, once each, in
(namespace, name) order, with the right count of what remains after each page.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from failsync.sandbox.store import Store

KIND = "split.smi-spec.io/trafficsplits"
NAMESPACES = ("a", "b", "c")

operations = st.lists(st.tuples(st.sampled_from(("put", "put", "delete")), st.sampled_from(NAMESPACES),
                                st.integers(0, 12)), max_size=60)


def _apply(store: Store, model: dict, operation: tuple[str, str, int]) -> None:
    verb, namespace, number = operation
    key = (namespace, f"o{number:02d}")
    old = model.get(key)
    if verb == "delete":
        if old is not None:
            store.commit(KIND, "DELETED", old, old)
            del model[key]
        return
    obj = {"metadata": {"namespace": namespace, "name": key[1]}, "spec": {"n": store.revision}}
    model[key] = store.commit(KIND, "MODIFIED" if old else "ADDED", obj, old)


def _pages(store: Store, namespace: str | None, revision: int, limit: int) -> list[dict]:
    found: list[dict] = []
    after = None
    while True:
        page, remaining, more = store.page(KIND, namespace, after=after, revision=revision, limit=limit)
        found.extend(page)
        assert remaining is not None and more == (remaining > 0)
        if not more:
            return found
        assert len(page) == limit
        after = (page[-1]["metadata"]["namespace"], page[-1]["metadata"]["name"])


@settings(max_examples=150, deadline=None)
@given(before=operations, later=operations, limit=st.integers(1, 7), namespace=st.sampled_from((None, *NAMESPACES)))
def test_pages_are_the_snapshot_at_their_revision(before, later, limit, namespace):
    store, model = Store(history=1000), {}
    for operation in before:
        _apply(store, model, operation)
    revision, then = store.revision, dict(model)
    for operation in later:
        _apply(store, model, operation)
    for at, state in ((revision, then), (store.revision, model)):
        expected = [state[key] for key in sorted(state) if namespace is None or key[0] == namespace]
        assert _pages(store, namespace, at, limit) == expected
        assert store.page(KIND, namespace, revision=at)[0] == expected


def test_selected_pages_report_more_without_a_count():
    store, model = Store(), {}
    for number in range(5):
        _apply(store, model, ("put", "a", number))
    page, remaining, more = store.page(KIND, None, select=lambda obj: obj["metadata"]["name"] != "o01", limit=2)
    assert [o["metadata"]["name"] for o in page] == ["o00", "o02"] and remaining is None and more
