"""``share_values``: a long-lived holder's policies share one copy of the values they repeat (service
names, backends, targets), and each policy stays equal to what was parsed."""

from __future__ import annotations

from failsync.core.model import Backend, Policy, share_values


def _policy(namespace: str, weight: object = 1) -> Policy:
    # Strings built at run time, as a parser makes them (literals would be shared already).
    return Policy(name="".join(["w", "eb"]), namespace=namespace, service="".join(["w", "eb"]),
                  primary="".join(["w", "eb"]), fallbacks=(Backend("".join(["web-", "east"]), weight=weight),))  # type: ignore[arg-type]


def test_policies_share_their_repeated_values_and_stay_equal() -> None:
    first, second = _policy("a"), _policy("b")
    before = _policy("a")
    assert share_values(first) is first and first == before
    share_values(second)
    assert first.fallbacks[0] is second.fallbacks[0] and first.backends[0] is second.backends[0]
    assert first.services is second.services and first.name is second.primary
    assert first.key == "a/web" and first.services == ("web", "web-east")


def test_values_of_another_type_are_never_shared() -> None:
    plain, boolean = share_values(_policy("a")), share_values(_policy("b", weight=True))
    assert boolean.fallbacks[0].weight is True and plain.fallbacks[0].weight == 1
    assert boolean.fallbacks[0] is not plain.fallbacks[0]
