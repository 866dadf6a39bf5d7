"""The weight decision of SPEC §4 and §12: which backend carries traffic, and why.

Owns: turning (policy, ready and total endpoint counts, previous weights, the state
carried between calls, a pin, now) into a Decision. Pure: no I/O, no clock (``now``
is passed in), no logging; the shell carries ``Decision.primary_healthy_since`` and
``primary_unhealthy_since`` into the next call (on the rendered object's annotations).

Rules, in order (each recorded in ``Decision.trace``):
0. Health: ready endpoints >= ``minReady`` and, with ``minReadyPercent``, at least that
   share of all the backend's endpoints ready (0 endpoints is 0 %).
1. Pin: a pin to a backend of the policy sends it all traffic, whatever the health,
   until it expires (PINNED). An expired pin is reported and ignored.
2. Failover delay: the primary is unhealthy but was unhealthy for less than
   ``delaySeconds`` while it still carried traffic: the weights stay as they are
   (FAILOVER_DELAYED).
3. Failback hold: the primary is healthy again after a failover (it carries no traffic,
   a fallback does) for less than ``holdSeconds``: the weights are decided as if it were
   still unhealthy (FAILBACK_HELD), unless no fallback is healthy (then it wins at once).
4. The mode: ``failover`` with ``all-at-once`` (primary 1, else weight 1 on each healthy
   backend of the best tier: PRIMARY_HEALTHY / FAILED_OVER), ``gradual`` (Envoy's
   priority levels, integers out of 100: a tier keeps ``min(1, healthy fraction x
   overprovisioningFactor)`` and the rest spills to the next: SPILLED_OVER), or
   ``distribute`` (each healthy backend its own weight; an unhealthy backend's share goes
   to the healthy backends of the best tier: DISTRIBUTED).
5. Nothing healthy: ``whenAllDown`` keep / primary / zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from failsync.core.model import (Decision, FailoverMode, Pin, Policy, Rule, RuleCheck, SpecMode,
                                 WhenAllDown)

if TYPE_CHECKING:
    from fractions import Fraction


def initial_weights(policy: Policy) -> dict[str, int]:
    """What a freshly rendered object carries: everything on the primary (distribute: every backend's weight)."""
    if policy.mode is SpecMode.DISTRIBUTE:
        return {b.service: b.weight for b in policy.backends}
    return {service: policy.full_weight * (index == 0) for index, service in enumerate(policy.services)}


def healthy_backends(policy: Policy, ready: Mapping[str, int], total: Mapping[str, int]) -> tuple[str, ...]:
    """Backends meeting ``minReady`` and ``minReadyPercent`` (of all their endpoints), in backend order."""
    percent = policy.min_ready_percent
    return tuple(s for s in policy.services
                 if ready[s] >= policy.min_ready and (percent is None or ready[s] * 100 >= percent * total[s] > 0))


def decide(policy: Policy, ready: Mapping[str, int], *, previous: Mapping[str, int] | None,
           now: float, primary_healthy_since: float | None = None, total: Mapping[str, int] | None = None,
           primary_unhealthy_since: float | None = None, pin: Pin | None = None) -> Decision:
    """The weights every backend of ``policy`` should carry now, with the rule and a reason.

    ``total`` counts every endpoint, ready or not (None, or a service missing from it: only
    the ready ones are known, so the backend counts as fully ready).
    """
    services = policy.services
    counts = {s: int(ready.get(s, 0) or 0) for s in services}
    totals = {s: max(counts[s], int((total or {}).get(s, counts[s]) or 0)) for s in services}
    healthy = healthy_backends(policy, counts, totals)
    primary = policy.primary
    primary_ok = primary in healthy
    healthy_since = (now if primary_healthy_since is None else primary_healthy_since) if primary_ok else None
    unhealthy_since = (now if primary_unhealthy_since is None else primary_unhealthy_since) if not primary_ok else None
    summary = _health_summary(policy, counts, totals, healthy)
    trace: list[RuleCheck] = [RuleCheck("health", True, summary)]
    kept = _kept(policy, previous)
    expired: Pin | None = None

    def decision(weights: Mapping[str, int], rule: Rule, reason: str, *, revisit_at: float | None = None,
                 pinned: Pin | None = None) -> Decision:
        if expired is not None:
            reason += f"; the pin to {expired.backend} expired"
        return Decision(weights=dict(weights), rule=rule, healthy=healthy, ready=counts, total=totals,
                        reason=f"{reason} ({summary})", primary_healthy_since=healthy_since,
                        primary_unhealthy_since=unhealthy_since, revisit_at=revisit_at, pin=pinned,
                        expired_pin=expired, trace=tuple(trace))

    # 1. pin
    if pin is None:
        trace.append(RuleCheck("pin", False, "no pin"))
    elif pin.backend not in services:
        trace.append(RuleCheck("pin", False, f"the pin to {pin.backend} is ignored: not a backend of this policy"))
    elif pin.until is not None and now >= pin.until:
        expired = pin
        trace.append(RuleCheck("pin", False, f"the pin to {pin.backend} has expired"))
    else:
        until = "" if pin.until is None else f" for another {pin.until - now:g}s"
        trace.append(RuleCheck("pin", True, f"pinned to {pin.backend}{until}"))
        return decision({s: policy.full_weight * (s == pin.backend) for s in services}, Rule.PINNED,
                        f"pinned to {pin.backend}{until}: it carries all traffic regardless of health",
                        revisit_at=pin.until, pinned=pin)

    # 2. failover delay
    delay = policy.delay_seconds
    if primary_ok or delay <= 0:
        trace.append(RuleCheck("failover.delaySeconds", False,
                               "the primary is healthy" if primary_ok else "delaySeconds is 0"))
    elif kept.get(primary, 0) <= 0:
        trace.append(RuleCheck("failover.delaySeconds", False, "the primary carries no traffic already"))
    elif now - unhealthy_since < delay:  # type: ignore[operator]
        ends = unhealthy_since + delay  # type: ignore[operator]
        trace.append(RuleCheck("failover.delaySeconds", True, f"unhealthy for {now - unhealthy_since:g}s "  # type: ignore[operator]
                                                               f"of delaySeconds={delay:g}"))
        return decision(kept, Rule.FAILOVER_DELAYED,
                        f"primary {primary} is unhealthy but failover is delayed for another {ends - now:g}s "
                        f"of delaySeconds={delay:g}; the weights stay as they are", revisit_at=ends)
    else:
        trace.append(RuleCheck("failover.delaySeconds", False,
                               f"unhealthy for {now - unhealthy_since:g}s, delaySeconds={delay:g} passed"))  # type: ignore[operator]

    # 3. failback hold
    hold = policy.hold_seconds
    failed_over = previous is not None and _fallback_carries_traffic(policy, previous)
    if not primary_ok or not failed_over or hold <= 0:
        why = ("the primary is unhealthy" if not primary_ok else
               "no failover to come back from (the primary carries traffic, or nothing does)"
               if not failed_over else "holdSeconds is 0")
        trace.append(RuleCheck("failback.holdSeconds", False, why))
    elif now - healthy_since >= hold:  # type: ignore[operator]
        trace.append(RuleCheck("failback.holdSeconds", False,
                               f"healthy for {now - healthy_since:g}s, holdSeconds={hold:g} passed"))  # type: ignore[operator]
    else:
        without_primary = tuple(s for s in healthy if s != primary)
        shared = _mode_weights(policy, counts, totals, without_primary)
        if shared is None:
            trace.append(RuleCheck("failback.holdSeconds", False, "no fallback is healthy to hold traffic on"))
            weights, rule, _sentence = _mode_weights(policy, counts, totals, healthy)  # type: ignore[misc]
            trace.append(RuleCheck(_mode_name(policy), True, "the primary is the only healthy backend"))
            return decision(weights, rule, f"primary {primary} is healthy and no fallback is, so traffic "
                                           f"returns to it without waiting for holdSeconds")
        ends = healthy_since + hold  # type: ignore[operator]
        weights, _rule, _sentence = shared
        trace.append(RuleCheck("failback.holdSeconds", True, f"healthy for {now - healthy_since:g}s "  # type: ignore[operator]
                                                              f"of holdSeconds={hold:g}"))
        return decision(weights, Rule.FAILBACK_HELD,
                        f"primary {primary} is healthy again but failback is held for another "
                        f"{ends - now:g}s of holdSeconds={hold:g}; traffic stays on "
                        f"{', '.join(s for s, w in weights.items() if w)}", revisit_at=ends)

    # 4. the mode
    chosen = _mode_weights(policy, counts, totals, healthy)
    if chosen is not None:
        weights, rule, sentence = chosen
        trace.append(RuleCheck(_mode_name(policy), True, sentence))
        trace.append(RuleCheck("whenAllDown", False, "a backend is healthy"))
        return decision(weights, rule, sentence)
    trace.append(RuleCheck(_mode_name(policy), False, "no backend is healthy"))

    # 5. nothing healthy
    mode = policy.when_all_down
    trace.append(RuleCheck("whenAllDown", True, mode.value))
    if mode is WhenAllDown.PRIMARY:
        return decision(_only(policy, primary), Rule.ALL_DOWN_PRIMARY,
                        f"no backend is healthy; whenAllDown=primary sends everything to {primary}")
    if mode is WhenAllDown.ZERO:
        return decision(dict.fromkeys(services, 0), Rule.ALL_DOWN_ZERO,
                        "no backend is healthy; whenAllDown=zero sets every weight to 0")
    return decision(kept, Rule.ALL_DOWN_KEEP,
                    "no backend is healthy; whenAllDown=keep leaves the weights as they are")


def _mode_name(policy: Policy) -> str:
    if policy.mode is SpecMode.DISTRIBUTE:
        return "mode: distribute"
    return f"failover.mode: {policy.failover_mode.value}"


def _only(policy: Policy, service: str) -> dict[str, int]:
    full = policy.full_weight  # a property: read once, not once per backend
    return {s: full * (s == service) for s in policy.services}


def _kept(policy: Policy, previous: Mapping[str, int] | None) -> dict[str, int]:
    """The previous weights of the policy's backends (initial weights when there are none)."""
    if previous is None:
        return initial_weights(policy)
    return {s: max(0, int(previous.get(s, 0) or 0)) for s in policy.services}


def _fallback_carries_traffic(policy: Policy, previous: Mapping[str, int]) -> bool:
    """True when the live weights send traffic to a fallback and none to the primary."""
    if int(previous.get(policy.primary, 0) or 0) > 0:
        return False
    return any(int(previous.get(b.service, 0) or 0) > 0 for b in policy.fallbacks)


_Chosen = tuple[dict[str, int], Rule, str]


def _mode_weights(policy: Policy, ready: Mapping[str, int], total: Mapping[str, int],
                  healthy: tuple[str, ...]) -> _Chosen | None:
    """The weights the policy's mode gives with these backends healthy; None when none is."""
    if not healthy:
        return None
    if policy.mode is SpecMode.DISTRIBUTE:
        return _distribute(policy, healthy)
    if policy.failover_mode is FailoverMode.GRADUAL:
        return _gradual(policy, ready, total, healthy)
    primary = policy.primary
    if primary in healthy:
        return _only(policy, primary), Rule.PRIMARY_HEALTHY, f"primary {primary} is healthy, so it carries all traffic"
    best = min(b.priority for b in policy.backends if b.service in healthy)
    chosen = {b.service for b in policy.backends if b.priority == best and b.service in healthy}
    weights = {s: int(s in chosen) for s in policy.services}
    return (weights, Rule.FAILED_OVER, f"primary {primary} is unhealthy, so traffic fails over to "
                                       f"{', '.join(s for s in policy.services if s in chosen)}")


def _tiers(policy: Policy) -> list[list[str]]:
    """Backend services grouped by priority, most preferred first (the primary alone in tier 0)."""
    by_priority: dict[int, list[str]] = {}
    for backend in policy.backends:
        by_priority.setdefault(backend.priority, []).append(backend.service)
    return [by_priority[p] for p in sorted(by_priority)]


def _gradual(policy: Policy, ready: Mapping[str, int], total: Mapping[str, int],
             healthy: tuple[str, ...]) -> _Chosen:
    """Envoy's priority levels: each tier keeps min(1, healthy fraction x factor) of what is left."""
    from fractions import Fraction  # here: only gradual and distribute policies need it (~3 ms to import)

    factor = Fraction(repr(float(policy.overprovisioning_factor)))
    left = Fraction(1)
    loads: list[tuple[list[str], Fraction]] = []
    for tier in _tiers(policy):
        all_endpoints = sum(total[s] for s in tier)
        ready_healthy = sum(ready[s] for s in tier if s in healthy)
        tier_health = min(Fraction(1), Fraction(ready_healthy, all_endpoints) * factor) if all_endpoints else Fraction(0)
        load = min(left, tier_health)
        left -= load
        loads.append((tier, load))
    placed = sum(load for _tier, load in loads)  # > 0: some backend is healthy, so has ready endpoints
    shares: dict[str, Fraction] = {}
    for tier, load in loads:
        members = [s for s in tier if s in healthy]
        weight_of_tier = sum(ready[s] for s in members)
        for s in members:
            shares[s] = load / placed * ready[s] / weight_of_tier * policy.full_weight
    weights = _apportion(policy.services, shares, policy.full_weight)
    primary = policy.primary
    carried = ", ".join(f"{s} {w}%" for s, w in weights.items() if w)
    if weights[primary] == policy.full_weight:
        return weights, Rule.PRIMARY_HEALTHY, (f"primary {primary} keeps all traffic: its healthy share times "
                                               f"overprovisioningFactor={policy.overprovisioning_factor:g} "
                                               f"covers 100%")
    if weights[primary] == 0:
        return weights, Rule.FAILED_OVER, f"primary {primary} carries no traffic; traffic spills over to {carried}"
    return weights, Rule.SPILLED_OVER, (f"primary {primary} is partly ready, so it keeps min(1, ready share x "
                                        f"{policy.overprovisioning_factor:g}) and the rest spills over: {carried}")


def _distribute(policy: Policy, healthy: tuple[str, ...]) -> _Chosen:
    """Each healthy backend its own weight; unhealthy backends' shares go to the best healthy tier."""
    from fractions import Fraction

    backends = policy.backends
    lost = sum(b.weight for b in backends if b.service not in healthy)
    best = min(b.priority for b in backends if b.service in healthy)
    heirs = [b for b in backends if b.priority == best and b.service in healthy]
    heir_weight = sum(b.weight for b in heirs)
    shares: dict[str, Fraction] = {b.service: Fraction(b.weight) for b in backends if b.service in healthy}
    for b in heirs:
        shares[b.service] += Fraction(lost * b.weight, heir_weight)
    weights = _apportion(policy.services, shares, policy.full_weight)
    if not lost:
        return weights, Rule.DISTRIBUTED, "every backend is healthy and carries its own weight"
    down = ", ".join(b.service for b in backends if b.service not in healthy)
    return weights, Rule.DISTRIBUTED, (f"{down} unhealthy: its share of {lost} goes to "
                                       f"{', '.join(b.service for b in heirs)}")


def _apportion(services: tuple[str, ...], shares: Mapping[str, Fraction], total: int) -> dict[str, int]:
    """Whole weights adding up to ``total`` (largest remainder; ties to the earlier backend)."""
    floors = {s: int(shares.get(s, 0)) for s in services}  # shares are >= 0, so int() is floor
    missing = total - sum(floors.values())
    order = sorted((s for s in services if shares.get(s, 0) > 0),
                   key=lambda s: (-(shares[s] - floors[s]), services.index(s)))
    for s in order[:missing]:
        floors[s] += 1
    return floors


def _health_summary(policy: Policy, ready: Mapping[str, int], total: Mapping[str, int],
                    healthy: tuple[str, ...]) -> str:
    parts = []
    for s in policy.services:
        count = f"{ready[s]}/{total[s]}" if total[s] != ready[s] else str(ready[s])
        parts.append(f"{s} {count} ready{'' if s in healthy else ' (unhealthy)'}")
    percent = "" if policy.min_ready_percent is None else f", minReadyPercent={policy.min_ready_percent}"
    return f"minReady={policy.min_ready}{percent}: " + ", ".join(parts)
