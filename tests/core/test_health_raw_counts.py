"""The one-shot counts (``ready_by_service``/``total_by_service``, which count raw slices directly)
agree with the loop's (``count_ready``/``count_all`` over ``SliceReadiness``) on any slices,
including malformed endpoints, repeated addresses, several families and endpoints without an address.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from failsync.core.health import count_all, count_ready, ready_by_service, slice_readiness, total_by_service

_ADDRESS = st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::1"])
_ENDPOINT = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={
        "addresses": st.one_of(st.none(), st.lists(_ADDRESS, max_size=3)),
        "conditions": st.one_of(st.none(), st.fixed_dictionaries(
            {}, optional={"ready": st.sampled_from([True, False, None])})),
    }),
)
_SLICE = st.fixed_dictionaries(
    {"metadata": st.fixed_dictionaries({"namespace": st.sampled_from(["a", "b"]),
                                        "labels": st.fixed_dictionaries(
                                            {"kubernetes.io/service-name": st.sampled_from(["web", "east"])})})},
    optional={"addressType": st.sampled_from(["IPv4", "IPv6", None]),
              "endpoints": st.one_of(st.none(), st.lists(_ENDPOINT, max_size=5))},
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_SLICE, max_size=8))
def test_raw_counts_match_the_loops_counts(slices: list[dict]) -> None:
    groups: dict[tuple[str, str], list[dict]] = {}
    for item in slices:
        key = (item["metadata"]["namespace"], item["metadata"]["labels"]["kubernetes.io/service-name"])
        groups.setdefault(key, []).append(item)
    assert ready_by_service(slices=slices) == {
        key: count_ready(slice_readiness(item) for item in group) for key, group in groups.items()}
    assert total_by_service(slices=slices) == {
        key: count_all(slice_readiness(item) for item in group) for key, group in groups.items()}


def test_one_address_and_its_list_of_one_are_the_same_endpoint() -> None:
    meta = {"namespace": "a", "labels": {"kubernetes.io/service-name": "web"}}
    slices = [{"metadata": meta, "endpoints": [{"addresses": ["10.0.0.1"]}]},
              {"metadata": meta, "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.1", "10.0.0.2"]}]}]
    assert ready_by_service(slices=slices) == {("a", "web"): 2}
