"""The pin annotation, --for durations and the state annotations (failsync.core.pins).

Covers: parse/format of ``backend[,until=RFC 3339]`` round-trips; malformed pins and
durations are errors saying what was expected; pin_of reports a malformed annotation
instead of raising; decision_state reads the hold/delay clocks and the pin;
state_annotations writes the clocks only where the policy uses them and drops an expired pin.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from failsync.core.model import Backend, Pin, Policy
from failsync.core.pins import (HEALTHY_SINCE_ANNOTATION, PIN_ANNOTATION, UNHEALTHY_SINCE_ANNOTATION, PinSyntaxError,
                                decision_state, format_pin, parse_duration, parse_pin, pin_of, state_annotations)
from failsync.core.weights import decide

POLICY = Policy(name="p", namespace="ns", service="web-svc", primary="web-svc", fallbacks=(Backend("web-svc-east"),))


@pytest.mark.parametrize("pin", [Pin("web-svc-east"), Pin("web-svc-east", 1767225600.0)])
def test_pins_round_trip(pin: Pin) -> None:
    assert parse_pin(format_pin(pin)) == pin


def test_until_is_rfc_3339() -> None:
    assert format_pin(Pin("east", 1767225600.0)) == "east,until=2026-01-01T00:00:00Z"
    assert parse_pin(" east , until=2026-01-01T01:00:00+01:00 ") == Pin("east", 1767225600.0)


@pytest.mark.parametrize("text, message", [
    ("", "names no backend"), (",until=2026-01-01T00:00:00Z", "names no backend"),
    ("east,until=tomorrow", "is not until=<RFC 3339 time"), ("east,for=1h", "is not until=<RFC 3339 time"),
    ("east,until=2026-01-01T00:00:00", "is not until=<RFC 3339 time"),
])
def test_malformed_pins_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(PinSyntaxError, match=message):
        parse_pin(text)
    assert pin_of({PIN_ANNOTATION: text})[0] is None and message in pin_of({PIN_ANNOTATION: text})[1]


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("15m", 900), ("2h", 7200), ("1h30m", 5400),
                                           ("1d", 86400), ("45", 45)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0s", "1.5h", "-5m", "1m1h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(PinSyntaxError):
        parse_duration(text)


def test_decision_state_reads_clocks_and_pin() -> None:
    state = decision_state({HEALTHY_SINCE_ANNOTATION: "2026-01-01T00:00:00Z", PIN_ANNOTATION: "web-svc-east"})
    assert state == {"primary_healthy_since": 1767225600.0, "primary_unhealthy_since": None,
                     "pin": Pin("web-svc-east")}
    assert decision_state({}) == {"primary_healthy_since": None, "primary_unhealthy_since": None, "pin": None}


def test_state_annotations_only_where_the_policy_uses_them() -> None:
    down = decide(POLICY, {"web-svc-east": 1}, previous=None, now=100.0)
    assert state_annotations(POLICY, down, {}) == {}
    delayed = replace(POLICY, delay_seconds=30)
    assert state_annotations(delayed, decide(delayed, {"web-svc-east": 1}, previous=None, now=100.0), {}) == {
        UNHEALTHY_SINCE_ANNOTATION: "1970-01-01T00:01:40Z"}
    live = {PIN_ANNOTATION: "web-svc-east,until=1970-01-01T00:01:00Z"}
    expired = decide(POLICY, {"web-svc": 1}, previous=None, now=100.0, pin=Pin("web-svc-east", 60.0))
    assert expired.expired_pin is not None and PIN_ANNOTATION not in state_annotations(POLICY, expired, live)
    held = decide(POLICY, {"web-svc": 1}, previous=None, now=10.0, pin=Pin("web-svc-east", 60.0))
    assert state_annotations(POLICY, held, live)[PIN_ANNOTATION] == live[PIN_ANNOTATION]
