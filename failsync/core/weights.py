"""The weight decision of SPEC §4: which backend carries traffic, and why.

Owns: turning (policy, ready counts, previous weights, primary-healthy-since, now)
into a Decision. Pure: no I/O, no clock (``now`` is passed in), no logging; the
shell carries ``Decision.primary_healthy_since`` into the next call.

Rules, in order:
1. healthy = ready endpoints >= ``minReady`` (a service missing from ``ready`` has 0).
2. Primary healthy: primary 1, every other backend 0 (PRIMARY_HEALTHY). After a
   failover (a fallback carries traffic in ``previous``) the primary gets traffic
   back only once healthy for ``holdSeconds``; until then the fallbacks keep it
   (FAILBACK_HELD). If no fallback is healthy during the hold, the healthy primary
   wins at once: holding would strand traffic on dead backends.
3. Primary unhealthy: every healthy backend of the lowest priority tier that has
   one gets weight 1, everything else 0 (FAILED_OVER).
4. Nothing healthy: ``keep`` the previous weights (initial weights when there are
   none), send everything to the ``primary``, or ``zero`` all weights (what the
   Linkerd failover extension does).
"""

from __future__ import annotations

from typing import Mapping

from failsync.core.model import Decision, Policy, Rule, WhenAllDown


def initial_weights(policy: Policy) -> dict[str, int]:
    """Primary 1, every fallback 0: what a freshly rendered object carries."""
    return {service: int(index == 0) for index, service in enumerate(policy.services)}


def decide(policy: Policy, ready: Mapping[str, int], *, previous: Mapping[str, int] | None,
           primary_healthy_since: float | None, now: float) -> Decision:
    """The weights every backend of ``policy`` should carry now, with the rule and a reason."""
    services = policy.services
    counts = {service: int(ready.get(service, 0) or 0) for service in services}
    healthy = tuple(s for s in services if counts[s] >= policy.min_ready)
    primary = policy.primary
    summary = _health_summary(policy, counts, healthy)

    def decision(weights: Mapping[str, int], rule: Rule, reason: str, since: float | None) -> Decision:
        return Decision(weights=dict(weights), rule=rule, healthy=healthy, ready=counts,
                        reason=f"{reason} ({summary})", primary_healthy_since=since)

    if primary in healthy:
        since = now if primary_healthy_since is None else primary_healthy_since
        primary_only = {s: int(s == primary) for s in services}
        failed_over = previous is not None and _fallback_carries_traffic(policy, previous)
        held_for = now - since
        if failed_over and held_for < policy.hold_seconds:
            fallback_weights = _lowest_healthy_tier(policy, healthy)
            if fallback_weights is not None:
                remaining = policy.hold_seconds - held_for
                return decision(
                    fallback_weights, Rule.FAILBACK_HELD,
                    f"primary {primary} is healthy again but failback is held for another "
                    f"{remaining:g}s of holdSeconds={policy.hold_seconds:g}; traffic stays on "
                    f"{', '.join(s for s, w in fallback_weights.items() if w)}", since)
            return decision(primary_only, Rule.PRIMARY_HEALTHY,
                            f"primary {primary} is healthy and no fallback is, so traffic returns "
                            f"to it without waiting for holdSeconds", since)
        return decision(primary_only, Rule.PRIMARY_HEALTHY,
                        f"primary {primary} is healthy, so it carries all traffic", since)

    fallback_weights = _lowest_healthy_tier(policy, healthy)
    if fallback_weights is not None:
        active = [s for s, w in fallback_weights.items() if w]
        return decision(fallback_weights, Rule.FAILED_OVER,
                        f"primary {primary} is unhealthy, so traffic fails over to "
                        f"{', '.join(active)}", None)

    mode = policy.when_all_down
    if mode is WhenAllDown.PRIMARY:
        return decision({s: int(s == primary) for s in services}, Rule.ALL_DOWN_PRIMARY,
                        f"no backend is healthy; whenAllDown=primary sends everything to {primary}",
                        None)
    if mode is WhenAllDown.ZERO:
        return decision(dict.fromkeys(services, 0), Rule.ALL_DOWN_ZERO,
                        "no backend is healthy; whenAllDown=zero sets every weight to 0", None)
    kept = ({s: int(previous.get(s, 0) or 0) for s in services} if previous is not None
            else initial_weights(policy))
    return decision(kept, Rule.ALL_DOWN_KEEP,
                    "no backend is healthy; whenAllDown=keep leaves the weights as they are", None)


def _fallback_carries_traffic(policy: Policy, previous: Mapping[str, int]) -> bool:
    """True when the live weights send traffic to a fallback and none to the primary."""
    if int(previous.get(policy.primary, 0) or 0) > 0:
        return False
    return any(int(previous.get(b.service, 0) or 0) > 0 for b in policy.fallbacks)


def _lowest_healthy_tier(policy: Policy, healthy: tuple[str, ...]) -> dict[str, int] | None:
    """Weight 1 on each healthy fallback of the most preferred tier that has one; None if none."""
    tiers = [b.priority for b in policy.fallbacks if b.service in healthy]
    if not tiers:
        return None
    best = min(tiers)
    chosen = {b.service for b in policy.fallbacks if b.priority == best and b.service in healthy}
    return {s: int(s in chosen) for s in policy.services}


def _health_summary(policy: Policy, counts: Mapping[str, int], healthy: tuple[str, ...]) -> str:
    parts = [f"{s} {counts[s]} ready{'' if s in healthy else ' (unhealthy)'}" for s in policy.services]
    return f"minReady={policy.min_ready}: " + ", ".join(parts)
