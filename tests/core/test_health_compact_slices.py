"""What a cache keeps of an EndpointSlice (``slice_readiness``) counts exactly as the raw slices do:
addresses are told apart as their strings are (an IPv4 address kept as a number only when spelled
canonically), an address of all zeros or empty is still an address, and an endpoint without
addresses still counts once."""

from __future__ import annotations

import pytest

from failsync.core.health import count_all, count_ready, ready_from_slices, slice_readiness, total_by_service


def _slice(endpoints: list[tuple[list[str], bool | None]], family: str = "IPv4") -> dict:
    return {"metadata": {"name": "s", "namespace": "ns", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": family,
            "endpoints": [{"addresses": addresses, "conditions": {} if ready is None else {"ready": ready}}
                          for addresses, ready in endpoints]}


CASES = [
    # Spellings inet_aton reads as one address are still distinct strings, so distinct endpoints.
    [_slice([(["10.0.0.1"], True), (["010.0.0.1"], True), (["10.1"], True), (["10.0.0.1 "], True)])],
    [_slice([(["0.0.0.0"], True), ([""], None), ([], True)])],
    [_slice([(["10.0.0.1", "10.0.0.2"], True), (["10.0.0.1"], True)]), _slice([(["10.0.0.2", "10.0.0.1"], None)])],
    [_slice([(["10.0.0.1"], True), (["10.0.0.2"], False)]), _slice([(["10.0.0.1"], None), (["10.0.0.3"], False)])],
    [_slice([(["10.0.0.1"], True)]), _slice([(["fd00::1"], True), (["fd00::2"], True)], "IPv6")],
    [_slice([(["fd00::1"], False)], "IPv6"), _slice([(["255.255.255.255"], True), (["1.2.3.4"], True)])],
]


@pytest.mark.parametrize("slices", CASES)
def test_cached_slices_count_as_the_raw_slices(slices: list[dict]) -> None:
    kept = [slice_readiness(s) for s in slices]
    assert count_ready(kept) == ready_from_slices(slices)
    assert count_all(kept) == total_by_service(slices=slices)[("ns", "web")]


def test_spellings_and_unaddressed_endpoints_count_one_each() -> None:
    assert count_ready([slice_readiness(s) for s in CASES[0]]) == 4
    assert count_ready([slice_readiness(s) for s in CASES[1]]) == 3
    assert count_ready([slice_readiness(s) for s in CASES[2]]) == 3
    assert (count_ready([slice_readiness(s) for s in CASES[3]]), count_all([slice_readiness(s) for s in CASES[3]])) == (1, 3)
