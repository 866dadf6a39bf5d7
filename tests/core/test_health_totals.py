"""All endpoints, ready or not (failsync.core.health), for minReadyPercent and gradual spillover.

Covers: Endpoints count addresses plus distinct notReadyAddresses; EndpointSlices count
endpoints whatever their ready condition, de-duplicated by address, largest family;
total_by_service groups both like ready_by_service; a missing object is 0 of 0.
"""

from __future__ import annotations

from failsync.core.health import count_all, endpoint_counts, slice_readiness, total_by_service


def _endpoints(ready: list[str], not_ready: list[str], name: str = "web-svc") -> dict:
    return {"metadata": {"name": name, "namespace": "emojivoto"},
            "subsets": [{"addresses": [{"ip": ip} for ip in ready],
                         "notReadyAddresses": [{"ip": ip} for ip in not_ready]}]}


def _slice(name: str, endpoints: list[tuple[str, bool | None]], family: str = "IPv4") -> dict:
    return {"metadata": {"name": name, "namespace": "emojivoto",
                         "labels": {"kubernetes.io/service-name": "web-svc"}},
            "addressType": family,
            "endpoints": [{"addresses": [ip], "conditions": {} if ready is None else {"ready": ready}}
                          for ip, ready in endpoints]}


def test_endpoints_total_counts_not_ready_addresses() -> None:
    assert endpoint_counts(_endpoints(["10.0.0.1", "10.0.0.2"], ["10.0.0.3"])) == (2, 3)
    assert endpoint_counts(None) == (0, 0)


def test_slices_total_counts_every_endpoint_once() -> None:
    slices = [_slice("a", [("10.0.0.1", True), ("10.0.0.2", False)]),
              _slice("b", [("10.0.0.2", False), ("10.0.0.3", None)])]
    assert count_all(slice_readiness(s) for s in slices) == 3


def test_dual_stack_total_is_the_largest_family() -> None:
    slices = [_slice("v4", [("10.0.0.1", False), ("10.0.0.2", True)]), _slice("v6", [("fd00::1", False)], "IPv6")]
    assert count_all(slice_readiness(s) for s in slices) == 2


def test_total_by_service_groups_like_ready_by_service() -> None:
    totals = total_by_service(endpoints=[_endpoints(["10.0.0.1"], ["10.0.0.9"], "web-svc-east")],
                              slices=[_slice("a", [("10.0.0.1", True), ("10.0.0.2", False)])])
    assert totals == {("emojivoto", "web-svc-east"): 2, ("emojivoto", "web-svc"): 2}
