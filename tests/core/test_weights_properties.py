"""Property-based tests (hypothesis) of the decision (failsync.core.weights.decide).

Covers, for any policy (every mode, tiers, thresholds, delay, hold, whenAllDown), any ready
and total counts, any previous weights, state, pin and time:
- weights are never negative, and name exactly the policy's backends in order;
- the sum is positive whenever any backend is healthy and whenAllDown is not zero
  (and with a pin in force); gradual weights then add up to exactly 100, distribute
  weights to the sum of the configured ones (unless a delay keeps the previous weights);
- the same inputs always give the same decision (the loop and ``simulate`` rely on it);
- replaying a sequence of health through decide, carrying the state as the shell does,
  never produces a negative or (with something healthy) an empty set of weights.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from failsync.core.model import Backend, FailoverMode, Pin, Policy, SpecMode, WhenAllDown
from failsync.core.weights import decide

SERVICES = ["web-svc", "east", "central", "north"]


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    count = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(list(SpecMode)))
    fallbacks = tuple(Backend(SERVICES[i + 1], draw(st.integers(1, 3)), draw(st.integers(1, 1000)))
                      for i in range(count))
    return Policy(
        name="p", namespace="ns", service="web-svc", primary="web-svc", fallbacks=fallbacks,
        min_ready=draw(st.integers(1, 3)), min_ready_percent=draw(st.none() | st.integers(1, 100)),
        hold_seconds=draw(st.sampled_from([0, 10, 60])), delay_seconds=draw(st.sampled_from([0, 10, 60])),
        when_all_down=draw(st.sampled_from(list(WhenAllDown))), mode=mode,
        failover_mode=FailoverMode.ALL_AT_ONCE if mode is SpecMode.DISTRIBUTE else draw(st.sampled_from(
            list(FailoverMode))),
        overprovisioning_factor=draw(st.floats(1, 5, allow_nan=False)), primary_weight=draw(st.integers(1, 1000)))


counts = st.dictionaries(st.sampled_from(SERVICES), st.integers(0, 20))
weights = st.none() | st.dictionaries(st.sampled_from(SERVICES), st.integers(0, 1000))
times = st.none() | st.floats(0, 200, allow_nan=False)
pins = st.none() | st.builds(Pin, st.sampled_from(SERVICES + ["stranger"]), times)


@st.composite
def inputs(draw: st.DrawFn) -> dict:
    return dict(policy=draw(policies()), ready=draw(counts), total=draw(st.none() | counts),
                previous=draw(weights), primary_healthy_since=draw(times), primary_unhealthy_since=draw(times),
                pin=draw(pins), now=draw(st.floats(0, 300, allow_nan=False)))


def _call(args: dict):
    policy = args["policy"]
    return policy, decide(policy, args["ready"], total=args["total"], previous=args["previous"],
                          primary_healthy_since=args["primary_healthy_since"],
                          primary_unhealthy_since=args["primary_unhealthy_since"], pin=args["pin"],
                          now=args["now"])


@settings(max_examples=400, deadline=None)
@given(inputs())
def test_weights_are_never_negative_and_cover_every_backend(args: dict) -> None:
    policy, decision = _call(args)
    assert list(decision.weights) == list(policy.services)
    assert all(isinstance(w, int) and w >= 0 for w in decision.weights.values())


@settings(max_examples=400, deadline=None)
@given(inputs())
def test_sum_is_positive_whenever_a_backend_is_healthy_and_mode_is_not_zero(args: dict) -> None:
    policy, decision = _call(args)
    pinned = decision.pin is not None
    if pinned or (decision.healthy and policy.when_all_down is not WhenAllDown.ZERO):
        # FAILOVER_DELAYED keeps the previous weights, which carried traffic on the primary
        assert sum(decision.weights.values()) > 0, decision.reason
    whole = policy.mode is SpecMode.DISTRIBUTE or policy.failover_mode is FailoverMode.GRADUAL
    if whole and decision.healthy and decision.rule.value != "failover-delayed":
        assert sum(decision.weights.values()) == policy.full_weight, decision.reason


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_the_same_inputs_give_the_same_decision(args: dict) -> None:
    _, first = _call(args)
    _, second = _call(dict(args))
    assert first == second and first.reason == second.reason and first.trace == second.trace


@settings(max_examples=150, deadline=None)
@given(policies(), st.lists(counts, min_size=1, max_size=12), st.floats(0.5, 40, allow_nan=False))
def test_a_replayed_timeline_never_strands_traffic(policy: Policy, steps: list[dict], step: float) -> None:
    previous, healthy_since, unhealthy_since = None, None, None
    for index, ready in enumerate(steps):
        decision = decide(policy, ready, previous=previous, primary_healthy_since=healthy_since,
                          primary_unhealthy_since=unhealthy_since, now=index * step)
        assert all(w >= 0 for w in decision.weights.values())
        if decision.healthy and policy.when_all_down is not WhenAllDown.ZERO:
            assert any(decision.weights.values()), decision.reason
        previous = decision.weights
        healthy_since, unhealthy_since = decision.primary_healthy_since, decision.primary_unhealthy_since
