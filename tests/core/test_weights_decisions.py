"""The decision rules of SPEC §12 (failsync.core.weights.decide), one table row per rule.

Covers:
- minReadyPercent: healthy needs that share of all endpoints ready; 0 endpoints is 0 %;
  unknown totals count as fully ready; minReady still applies;
- failover.delaySeconds: traffic stays while the primary was unhealthy for less than the
  delay, moves once it passed; no delay when the primary already carries nothing;
  the unhealthy-since state is carried and reset; revisit_at says when to look again;
- failover.mode gradual: Envoy's spillover (10 endpoints, 6 ready, factor 1.4 -> 84 stays),
  several tiers, normalisation when every tier is degraded, integers adding up to 100;
- spec.mode distribute: own weights while healthy, a down backend's share to the best tier;
- pins: all traffic to the pinned backend over health, delay, hold and whenAllDown;
  expiry; a pin to a non-member is ignored;
- interactions: delay + hold; gradual + tiers; distribute + whenAllDown; pin over everything;
- the trace lists every rule in order with whether it fired.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from failsync.core.model import Backend, FailoverMode, Pin, Policy, Rule, SpecMode, WhenAllDown
from failsync.core.weights import decide, initial_weights

POLICY = Policy(name="web-svc-failover", namespace="emojivoto", service="web-svc", primary="web-svc",
                fallbacks=(Backend("web-svc-east"), Backend("web-svc-central", 2)))
GRADUAL = replace(POLICY, failover_mode=FailoverMode.GRADUAL)
DISTRIBUTE = replace(POLICY, mode=SpecMode.DISTRIBUTE, primary_weight=60,
                     fallbacks=(Backend("web-svc-east", 1, 30), Backend("web-svc-central", 2, 10)))
PRIMARY = {"web-svc": 1, "web-svc-east": 0, "web-svc-central": 0}
EAST = {"web-svc": 0, "web-svc-east": 1, "web-svc-central": 0}
CENTRAL = {"web-svc": 0, "web-svc-east": 0, "web-svc-central": 1}
ALL_READY = {"web-svc": 10, "web-svc-east": 10, "web-svc-central": 10}


def run(policy: Policy, ready: dict, total: dict | None = None, previous: dict | None = None, *,
        now: float = 100.0, healthy_since: float | None = None, unhealthy_since: float | None = None,
        pin: Pin | None = None):
    return decide(policy, ready, total=total, previous=previous, primary_healthy_since=healthy_since,
                  primary_unhealthy_since=unhealthy_since, pin=pin, now=now)


CASES = [
    # minReadyPercent
    pytest.param(replace(POLICY, min_ready_percent=50), {"web-svc": 5, "web-svc-east": 1},
                 {"web-svc": 10, "web-svc-east": 1}, PRIMARY, PRIMARY, Rule.PRIMARY_HEALTHY,
                 id="percent-reached-exactly-is-healthy"),
    pytest.param(replace(POLICY, min_ready_percent=50), {"web-svc": 4, "web-svc-east": 1},
                 {"web-svc": 10, "web-svc-east": 1}, PRIMARY, EAST, Rule.FAILED_OVER,
                 id="percent-below-is-unhealthy-though-minready-is-met"),
    pytest.param(replace(POLICY, min_ready_percent=1), {"web-svc-east": 1}, {"web-svc": 0, "web-svc-east": 1},
                 PRIMARY, EAST, Rule.FAILED_OVER, id="percent-zero-endpoints-is-zero-percent"),
    pytest.param(replace(POLICY, min_ready_percent=100), {"web-svc": 3, "web-svc-east": 1}, None,
                 PRIMARY, PRIMARY, Rule.PRIMARY_HEALTHY, id="percent-unknown-totals-count-as-fully-ready"),
    pytest.param(replace(POLICY, min_ready_percent=10, min_ready=3), {"web-svc": 2, "web-svc-east": 3},
                 {"web-svc": 2, "web-svc-east": 3}, PRIMARY, EAST, Rule.FAILED_OVER,
                 id="percent-and-minready-both-needed"),
    # gradual
    pytest.param(GRADUAL, {"web-svc": 6, "web-svc-east": 10}, {"web-svc": 10, "web-svc-east": 10}, None,
                 {"web-svc": 84, "web-svc-east": 16, "web-svc-central": 0}, Rule.SPILLED_OVER,
                 id="gradual-6-of-10-factor-1.4-keeps-84"),
    pytest.param(GRADUAL, {"web-svc": 8, "web-svc-east": 10}, {"web-svc": 10, "web-svc-east": 10}, None,
                 {"web-svc": 100, "web-svc-east": 0, "web-svc-central": 0}, Rule.PRIMARY_HEALTHY,
                 id="gradual-overprovisioned-tier-keeps-everything"),
    pytest.param(GRADUAL, {"web-svc": 3, "web-svc-east": 2, "web-svc-central": 10}, ALL_READY, None,
                 {"web-svc": 42, "web-svc-east": 28, "web-svc-central": 30}, Rule.SPILLED_OVER,
                 id="gradual-spills-through-three-tiers"),
    pytest.param(GRADUAL, {"web-svc": 2, "web-svc-east": 2}, {"web-svc": 10, "web-svc-east": 10, "web-svc-central": 1},
                 None, {"web-svc": 50, "web-svc-east": 50, "web-svc-central": 0}, Rule.SPILLED_OVER,
                 id="gradual-normalises-when-every-tier-is-degraded"),
    pytest.param(GRADUAL, {"web-svc-east": 10}, ALL_READY, None,
                 {"web-svc": 0, "web-svc-east": 100, "web-svc-central": 0}, Rule.FAILED_OVER,
                 id="gradual-dead-primary-spills-everything"),
    pytest.param(replace(GRADUAL, overprovisioning_factor=1.0), {"web-svc": 6, "web-svc-east": 10}, ALL_READY, None,
                 {"web-svc": 60, "web-svc-east": 40, "web-svc-central": 0}, Rule.SPILLED_OVER,
                 id="gradual-factor-1-is-proportional"),
    pytest.param(replace(GRADUAL, fallbacks=(Backend("web-svc-east"), Backend("web-svc-north"))),
                 {"web-svc": 5, "web-svc-east": 3, "web-svc-north": 1}, {"web-svc": 10, "web-svc-east": 5,
                                                                       "web-svc-north": 5},
                 None, {"web-svc": 70, "web-svc-east": 23, "web-svc-north": 7}, Rule.SPILLED_OVER,
                 id="gradual-tier-share-split-by-ready-endpoints"),
    # distribute
    pytest.param(DISTRIBUTE, ALL_READY, None, None, {"web-svc": 60, "web-svc-east": 30, "web-svc-central": 10},
                 Rule.DISTRIBUTED, id="distribute-all-healthy-own-weights"),
    pytest.param(DISTRIBUTE, {"web-svc-east": 1, "web-svc-central": 1}, None, None,
                 {"web-svc": 0, "web-svc-east": 90, "web-svc-central": 10}, Rule.DISTRIBUTED,
                 id="distribute-down-primary-share-to-best-tier"),
    pytest.param(DISTRIBUTE, {"web-svc": 1, "web-svc-central": 1}, None, None,
                 {"web-svc": 90, "web-svc-east": 0, "web-svc-central": 10}, Rule.DISTRIBUTED,
                 id="distribute-down-fallback-share-to-primary-tier"),
    pytest.param(replace(DISTRIBUTE, fallbacks=(Backend("web-svc-east", 1, 1), Backend("web-svc-central", 1, 2))),
                 {"web-svc-east": 1, "web-svc-central": 1}, None, None,
                 {"web-svc": 0, "web-svc-east": 21, "web-svc-central": 42}, Rule.DISTRIBUTED,
                 id="distribute-share-split-by-weight-within-tier"),
    pytest.param(DISTRIBUTE, {}, None, {"web-svc": 60, "web-svc-east": 30, "web-svc-central": 10},
                 {"web-svc": 60, "web-svc-east": 30, "web-svc-central": 10}, Rule.ALL_DOWN_KEEP,
                 id="distribute-all-down-keep"),
    pytest.param(replace(DISTRIBUTE, when_all_down=WhenAllDown.PRIMARY), {}, None, None,
                 {"web-svc": 100, "web-svc-east": 0, "web-svc-central": 0}, Rule.ALL_DOWN_PRIMARY,
                 id="distribute-all-down-primary-gets-the-whole"),
    pytest.param(replace(DISTRIBUTE, when_all_down=WhenAllDown.ZERO), {}, None, None,
                 {"web-svc": 0, "web-svc-east": 0, "web-svc-central": 0}, Rule.ALL_DOWN_ZERO,
                 id="distribute-all-down-zero"),
]


@pytest.mark.parametrize("policy, ready, total, previous, weights, rule", CASES)
def test_decision_table(policy: Policy, ready: dict, total: dict | None, previous: dict | None,
                        weights: dict, rule: Rule) -> None:
    decision = run(policy, ready, total, previous)
    assert (dict(decision.weights), decision.rule) == (weights, rule), decision.reason
    assert list(decision.weights) == list(policy.services)
    if policy.failover_mode is FailoverMode.GRADUAL and decision.active:
        assert sum(decision.weights.values()) == 100


def test_worked_gradual_example_reason_names_the_factor_and_shares() -> None:
    decision = run(GRADUAL, {"web-svc": 6, "web-svc-east": 10}, {"web-svc": 10, "web-svc-east": 10})
    assert "1.4" in decision.reason and "web-svc 84%" in decision.reason and "web-svc 6/10 ready" in decision.reason


# -- delaySeconds ------------------------------------------------------------------------------

DELAYED = replace(POLICY, delay_seconds=30)
EAST_UP = {"web-svc": 0, "web-svc-east": 1}


def test_failover_waits_for_delay_seconds_then_moves() -> None:
    first = run(DELAYED, EAST_UP, previous=PRIMARY, now=1000.0)
    assert first.rule is Rule.FAILOVER_DELAYED and dict(first.weights) == PRIMARY
    assert first.primary_unhealthy_since == 1000.0 and first.revisit_at == 1030.0
    assert "30s" in first.reason
    still = run(DELAYED, EAST_UP, previous=first.weights, unhealthy_since=first.primary_unhealthy_since, now=1029.0)
    assert still.rule is Rule.FAILOVER_DELAYED and still.primary_unhealthy_since == 1000.0
    moved = run(DELAYED, EAST_UP, previous=still.weights, unhealthy_since=still.primary_unhealthy_since, now=1030.0)
    assert moved.rule is Rule.FAILED_OVER and dict(moved.weights) == EAST and moved.revisit_at is None


def test_primary_recovering_within_the_delay_resets_unhealthy_since() -> None:
    back = run(DELAYED, {"web-svc": 1, "web-svc-east": 1}, previous=PRIMARY, unhealthy_since=1000.0, now=1010.0)
    assert back.rule is Rule.PRIMARY_HEALTHY and back.primary_unhealthy_since is None
    again = run(DELAYED, EAST_UP, previous=back.weights, unhealthy_since=back.primary_unhealthy_since, now=1020.0)
    assert again.rule is Rule.FAILOVER_DELAYED and again.primary_unhealthy_since == 1020.0


def test_no_delay_when_the_primary_carries_no_traffic_already() -> None:
    decision = run(DELAYED, {"web-svc-central": 1}, previous=EAST, now=5.0)
    assert decision.rule is Rule.FAILED_OVER and dict(decision.weights) == CENTRAL


def test_delay_applies_before_whenalldown() -> None:
    policy = replace(DELAYED, when_all_down=WhenAllDown.ZERO)
    assert run(policy, {}, previous=PRIMARY, now=5.0).rule is Rule.FAILOVER_DELAYED
    after = run(policy, {}, previous=PRIMARY, unhealthy_since=5.0, now=35.0)
    assert after.rule is Rule.ALL_DOWN_ZERO


def test_delay_and_hold_together_damp_both_directions() -> None:
    policy = replace(POLICY, delay_seconds=10, hold_seconds=20)
    up = {"web-svc": 1, "web-svc-east": 1}
    steps = [  # (now, ready, expected rule, expected weights)
        (0, up, Rule.PRIMARY_HEALTHY, PRIMARY),
        (5, EAST_UP, Rule.FAILOVER_DELAYED, PRIMARY),
        (8, up, Rule.PRIMARY_HEALTHY, PRIMARY),          # a blip shorter than the delay: no move
        (9, EAST_UP, Rule.FAILOVER_DELAYED, PRIMARY),   # the delay starts again
        (19, EAST_UP, Rule.FAILED_OVER, EAST),
        (25, up, Rule.FAILBACK_HELD, EAST),
        (30, EAST_UP, Rule.FAILED_OVER, EAST),          # down again: no delay, it carries nothing
        (35, up, Rule.FAILBACK_HELD, EAST),             # the hold starts again
        (55, up, Rule.PRIMARY_HEALTHY, PRIMARY),
    ]
    weights, healthy_since, unhealthy_since = None, None, None
    for now, ready, rule, expected in steps:
        decision = run(policy, ready, previous=weights, healthy_since=healthy_since,
                       unhealthy_since=unhealthy_since, now=float(now))
        assert (decision.rule, {s: w for s, w in decision.weights.items() if s != "web-svc-central"}) == (
            rule, {s: w for s, w in expected.items() if s != "web-svc-central"}), (now, decision.reason)
        weights = decision.weights
        healthy_since, unhealthy_since = decision.primary_healthy_since, decision.primary_unhealthy_since


def test_gradual_hold_keeps_traffic_spilled_until_the_hold_ends() -> None:
    policy = replace(GRADUAL, hold_seconds=30)
    ready, total = {"web-svc": 10, "web-svc-east": 10}, {"web-svc": 10, "web-svc-east": 10}
    held = run(policy, ready, total, previous={"web-svc": 0, "web-svc-east": 100}, now=0.0)
    assert held.rule is Rule.FAILBACK_HELD and held.weights["web-svc-east"] == 100 and held.revisit_at == 30.0
    back = run(policy, ready, total, previous=held.weights, healthy_since=0.0, now=30.0)
    assert back.rule is Rule.PRIMARY_HEALTHY and back.weights["web-svc"] == 100


def test_distribute_hold_keeps_the_primary_share_on_the_others() -> None:
    policy = replace(DISTRIBUTE, hold_seconds=30)
    held = run(policy, ALL_READY, previous={"web-svc": 0, "web-svc-east": 90, "web-svc-central": 10}, now=0.0)
    assert held.rule is Rule.FAILBACK_HELD
    assert dict(held.weights) == {"web-svc": 0, "web-svc-east": 90, "web-svc-central": 10}


# -- pins --------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy, ready, previous", [
    pytest.param(POLICY, ALL_READY, PRIMARY, id="over-a-healthy-primary"),
    pytest.param(replace(POLICY, when_all_down=WhenAllDown.ZERO), {}, PRIMARY, id="over-whenalldown"),
    pytest.param(replace(POLICY, delay_seconds=60), {"web-svc-east": 1}, PRIMARY, id="over-the-delay"),
    pytest.param(replace(POLICY, hold_seconds=60), ALL_READY, EAST, id="over-the-hold"),
])
def test_a_pin_sends_all_traffic_to_its_backend_over_everything(policy: Policy, ready: dict, previous: dict) -> None:
    decision = run(policy, ready, previous=previous, pin=Pin("web-svc-central"))
    assert decision.rule is Rule.PINNED and dict(decision.weights) == CENTRAL
    assert decision.pin == Pin("web-svc-central") and decision.revisit_at is None
    assert "pinned to web-svc-central" in decision.reason


def test_a_pin_weighs_the_whole_of_the_mode() -> None:
    assert run(GRADUAL, ALL_READY, pin=Pin("web-svc-east")).weights["web-svc-east"] == 100
    assert run(DISTRIBUTE, ALL_READY, pin=Pin("web-svc-east")).weights == {
        "web-svc": 0, "web-svc-east": 100, "web-svc-central": 0}


def test_a_pin_holds_until_it_expires_then_health_decides_again() -> None:
    pin = Pin("web-svc-east", until=200.0)
    pinned = run(POLICY, ALL_READY, previous=PRIMARY, pin=pin, now=150.0)
    assert pinned.rule is Rule.PINNED and pinned.revisit_at == 200.0 and "50s" in pinned.reason
    expired = run(POLICY, ALL_READY, previous=pinned.weights, pin=pin, now=200.0)
    assert expired.rule is Rule.PRIMARY_HEALTHY and expired.expired_pin == pin and expired.pin is None
    assert "the pin to web-svc-east expired" in expired.reason


def test_a_pin_to_a_backend_outside_the_policy_is_ignored() -> None:
    decision = run(POLICY, ALL_READY, pin=Pin("someone-else"))
    assert decision.rule is Rule.PRIMARY_HEALTHY and decision.pin is None
    assert any(check.rule == "pin" and "not a backend" in check.note for check in decision.trace)


# -- the trace and initial weights -------------------------------------------------------------

def test_trace_lists_every_rule_in_order_and_which_fired() -> None:
    decision = run(replace(POLICY, delay_seconds=30), EAST_UP, previous=PRIMARY)
    assert [c.rule for c in decision.trace] == ["health", "pin", "failover.delaySeconds"]
    assert [c.fired for c in decision.trace] == [True, False, True]
    full = run(POLICY, EAST_UP, previous=PRIMARY)
    assert [c.rule for c in full.trace] == ["health", "pin", "failover.delaySeconds", "failback.holdSeconds",
                                            "failover.mode: all-at-once", "whenAllDown"]
    assert [c.rule for c in full.trace if c.fired] == ["health", "failover.mode: all-at-once"]


def test_initial_weights_per_mode() -> None:
    assert initial_weights(GRADUAL) == {"web-svc": 100, "web-svc-east": 0, "web-svc-central": 0}
    assert initial_weights(DISTRIBUTE) == {"web-svc": 60, "web-svc-east": 30, "web-svc-central": 10}
