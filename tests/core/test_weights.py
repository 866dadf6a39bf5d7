"""The weight decision of SPEC §4 (failsync.core.weights.decide).

Covers, one table row per rule:
- primary healthy -> primary 1, fallbacks 0;
- primary down with one, several and no healthy fallbacks;
- priority tiers: the lowest tier with a healthy backend wins, others stay 0;
- minReady: fewer ready endpoints than minReady is unhealthy;
- a service missing from the ready counts has 0 ready endpoints;
- whenAllDown keep (previous weights, or initial ones without a previous object), primary, zero;
- holdSeconds: failback held, then released; no hold when the primary already carries
  traffic or when no fallback is healthy; primary_healthy_since carried and reset;
- the Linkerd failover extension's documented behaviour (whenAllDown: zero) step by step;
- every decision explains itself (rule, healthy backends, a sentence naming them).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from failsync.core.model import Backend, Policy, Rule, WhenAllDown
from failsync.core.weights import decide, initial_weights

POLICY = Policy(
    name="web-svc-failover", namespace="emojivoto", service="web-svc", primary="web-svc",
    fallbacks=(Backend("web-svc-east"), Backend("web-svc-north"), Backend("web-svc-central", 2)),
)
PRIMARY_ONLY = {"web-svc": 1, "web-svc-east": 0, "web-svc-north": 0, "web-svc-central": 0}
EAST_ONLY = {"web-svc": 0, "web-svc-east": 1, "web-svc-north": 0, "web-svc-central": 0}

CASES = [
    pytest.param(POLICY, {"web-svc": 3, "web-svc-east": 2}, None,
                 PRIMARY_ONLY, Rule.PRIMARY_HEALTHY, id="primary-healthy"),
    pytest.param(POLICY, {"web-svc": 0, "web-svc-east": 2}, PRIMARY_ONLY,
                 EAST_ONLY, Rule.FAILED_OVER, id="primary-down-one-healthy-fallback"),
    pytest.param(POLICY, {"web-svc-east": 2, "web-svc-north": 1, "web-svc-central": 5}, PRIMARY_ONLY,
                 {"web-svc": 0, "web-svc-east": 1, "web-svc-north": 1, "web-svc-central": 0},
                 Rule.FAILED_OVER, id="primary-down-several-healthy-fallbacks-in-tier-1"),
    pytest.param(POLICY, {"web-svc-central": 1}, PRIMARY_ONLY,
                 {"web-svc": 0, "web-svc-east": 0, "web-svc-north": 0, "web-svc-central": 1},
                 Rule.FAILED_OVER, id="tier-2-used-when-tier-1-is-down"),
    pytest.param(replace(POLICY, min_ready=2), {"web-svc": 1, "web-svc-east": 2}, PRIMARY_ONLY,
                 EAST_ONLY, Rule.FAILED_OVER, id="min-ready-primary-below-threshold-is-unhealthy"),
    pytest.param(replace(POLICY, min_ready=2), {"web-svc": 2}, EAST_ONLY,
                 PRIMARY_ONLY, Rule.PRIMARY_HEALTHY, id="min-ready-reached-is-healthy"),
    pytest.param(POLICY, {}, EAST_ONLY,
                 EAST_ONLY, Rule.ALL_DOWN_KEEP, id="all-down-keep-leaves-previous-weights"),
    pytest.param(POLICY, {}, None,
                 PRIMARY_ONLY, Rule.ALL_DOWN_KEEP, id="all-down-keep-without-previous-uses-initial"),
    pytest.param(POLICY, {}, {"web-svc-east": 1, "unknown-svc": 1},
                 EAST_ONLY, Rule.ALL_DOWN_KEEP, id="all-down-keep-ignores-unknown-backends"),
    pytest.param(replace(POLICY, when_all_down=WhenAllDown.PRIMARY), {}, EAST_ONLY,
                 PRIMARY_ONLY, Rule.ALL_DOWN_PRIMARY, id="all-down-primary"),
    pytest.param(replace(POLICY, when_all_down=WhenAllDown.ZERO), {}, EAST_ONLY,
                 dict.fromkeys(PRIMARY_ONLY, 0), Rule.ALL_DOWN_ZERO, id="all-down-zero"),
    pytest.param(POLICY, {"web-svc": 0, "web-svc-east": 0, "web-svc-north": 0}, EAST_ONLY,
                 EAST_ONLY, Rule.ALL_DOWN_KEEP, id="zero-ready-counts-are-unhealthy"),
]


@pytest.mark.parametrize("policy, ready, previous, weights, rule", CASES)
def test_decision_table(policy: Policy, ready: dict, previous: dict | None, weights: dict, rule: Rule) -> None:
    decision = decide(policy, ready, previous=previous, primary_healthy_since=None, now=100.0)
    assert dict(decision.weights) == weights
    assert list(decision.weights) == list(policy.services), "weights follow the backend order"
    assert decision.rule is rule
    assert decision.ready == {s: ready.get(s, 0) for s in policy.services}
    assert decision.healthy == tuple(s for s in policy.services if ready.get(s, 0) >= policy.min_ready)


HELD = replace(POLICY, hold_seconds=30)


def test_failback_is_held_until_the_primary_was_healthy_for_hold_seconds() -> None:
    ready = {"web-svc": 1, "web-svc-east": 1}
    first = decide(HELD, ready, previous=EAST_ONLY, primary_healthy_since=None, now=1000.0)
    assert first.rule is Rule.FAILBACK_HELD
    assert dict(first.weights) == EAST_ONLY
    assert first.primary_healthy_since == 1000.0
    assert "30s" in first.reason and "web-svc-east" in first.reason

    still = decide(HELD, ready, previous=first.weights, primary_healthy_since=first.primary_healthy_since,
                   now=1029.0)
    assert still.rule is Rule.FAILBACK_HELD and dict(still.weights) == EAST_ONLY
    assert still.primary_healthy_since == 1000.0

    released = decide(HELD, ready, previous=still.weights, primary_healthy_since=still.primary_healthy_since,
                      now=1030.0)
    assert released.rule is Rule.PRIMARY_HEALTHY and dict(released.weights) == PRIMARY_ONLY


def test_primary_going_down_during_the_hold_resets_the_clock() -> None:
    down = decide(HELD, {"web-svc-east": 1}, previous=EAST_ONLY, primary_healthy_since=1000.0, now=1010.0)
    assert down.rule is Rule.FAILED_OVER and down.primary_healthy_since is None
    back = decide(HELD, {"web-svc": 1, "web-svc-east": 1}, previous=down.weights,
                  primary_healthy_since=down.primary_healthy_since, now=1040.0)
    assert back.rule is Rule.FAILBACK_HELD and back.primary_healthy_since == 1040.0


def test_no_hold_when_the_primary_already_carries_traffic() -> None:
    decision = decide(HELD, {"web-svc": 1, "web-svc-east": 1}, previous=PRIMARY_ONLY,
                      primary_healthy_since=None, now=5.0)
    assert decision.rule is Rule.PRIMARY_HEALTHY and dict(decision.weights) == PRIMARY_ONLY


def test_no_hold_for_a_new_object_without_previous_weights() -> None:
    decision = decide(HELD, {"web-svc": 1}, previous=None, primary_healthy_since=None, now=5.0)
    assert decision.rule is Rule.PRIMARY_HEALTHY


def test_no_hold_when_no_fallback_is_healthy_any_more() -> None:
    decision = decide(HELD, {"web-svc": 1}, previous=EAST_ONLY, primary_healthy_since=None, now=5.0)
    assert decision.rule is Rule.PRIMARY_HEALTHY and dict(decision.weights) == PRIMARY_ONLY
    assert "without waiting" in decision.reason


def test_no_hold_after_all_down_zero_left_no_backend_with_traffic() -> None:
    zero = dict.fromkeys(PRIMARY_ONLY, 0)
    decision = decide(HELD, {"web-svc": 1, "web-svc-east": 1}, previous=zero,
                      primary_healthy_since=None, now=5.0)
    assert decision.rule is Rule.PRIMARY_HEALTHY


def test_held_failback_follows_fallback_health_changes() -> None:
    decision = decide(HELD, {"web-svc": 1, "web-svc-north": 1}, previous=EAST_ONLY,
                      primary_healthy_since=None, now=5.0)
    assert decision.rule is Rule.FAILBACK_HELD
    assert decision.active == ("web-svc-north",)


def test_primary_healthy_since_is_kept_while_the_primary_stays_healthy() -> None:
    decision = decide(POLICY, {"web-svc": 1}, previous=PRIMARY_ONLY, primary_healthy_since=7.0, now=99.0)
    assert decision.primary_healthy_since == 7.0


def test_explicit_primary_other_than_the_apex_service() -> None:
    policy = Policy(name="p", namespace="ns", service="apex", primary="apex-west",
                    fallbacks=(Backend("apex-east"),))
    decision = decide(policy, {"apex": 5, "apex-east": 1}, previous=None, primary_healthy_since=None, now=0)
    assert dict(decision.weights) == {"apex-west": 0, "apex-east": 1}


def test_reason_names_the_rule_inputs() -> None:
    decision = decide(POLICY, {"web-svc-east": 2}, previous=None, primary_healthy_since=None, now=0)
    assert decision.reason.startswith("primary web-svc is unhealthy, so traffic fails over to web-svc-east")
    assert "web-svc 0 ready (unhealthy)" in decision.reason and "web-svc-east 2 ready" in decision.reason


def test_initial_weights_send_everything_to_the_primary() -> None:
    assert initial_weights(POLICY) == PRIMARY_ONLY


def test_linkerd_extension_behaviour_step_by_step() -> None:
    """The guide's scenario, with the extension's all-down rule (every weight 0)."""
    policy = Policy(name="web-svc-failover", namespace="emojivoto", service="web-svc", primary="web-svc",
                    fallbacks=(Backend("web-svc-east"),), when_all_down=WhenAllDown.ZERO)
    weights = None
    steps = [
        ({"web-svc": 1, "web-svc-east": 1}, {"web-svc": 1, "web-svc-east": 0}),  # applied
        ({"web-svc": 0, "web-svc-east": 1}, {"web-svc": 0, "web-svc-east": 1}),  # scale web to 0
        ({"web-svc": 0, "web-svc-east": 0}, {"web-svc": 0, "web-svc-east": 0}),  # east dies too
        ({"web-svc": 0, "web-svc-east": 1}, {"web-svc": 0, "web-svc-east": 1}),  # east back
        ({"web-svc": 1, "web-svc-east": 1}, {"web-svc": 1, "web-svc-east": 0}),  # scale web to 1
    ]
    for now, (ready, expected) in enumerate(steps):
        decision = decide(policy, ready, previous=weights, primary_healthy_since=None, now=float(now))
        assert dict(decision.weights) == expected, (now, decision.reason)
        weights = decision.weights
