"""Pins and the decision state carried on rendered objects (SPEC §12), as annotation text.

Owns: the spelling of ``failsync.io/pin: <backend>[,until=<RFC 3339 time>]``, of the
state annotations (``failsync.io/primary-healthy-since``, ``primary-unhealthy-since``),
and of ``--for`` durations (``90s``, ``15m``, ``2h``, ``1h30m``, ``1d``); which of them a
decision reads (``decision_state``) and which the rendered object carries after it
(``state_annotations``). Pure: never reads a clock (``now`` is passed in) or a cluster.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from failsync.core.model import Decision, Pin, Policy
from failsync.core.timestamps import format_time, parse_time

PIN_ANNOTATION = "failsync.io/pin"
HEALTHY_SINCE_ANNOTATION = "failsync.io/primary-healthy-since"
UNHEALTHY_SINCE_ANNOTATION = "failsync.io/primary-unhealthy-since"

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z")


class PinSyntaxError(ValueError):
    """A pin annotation or duration that cannot be read; the message says what was expected."""


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``15m``, ``2h``, ``1h30m``, ``1d`` (a bare number is seconds)."""
    text = text.strip()
    if text.isdigit():
        seconds = int(text)
    else:
        match = _DURATION.match(text)
        if not text or match is None:
            raise PinSyntaxError(f"{text!r} is not a duration; expected e.g. 90s, 15m, 2h, 1h30m or 1d")
        days, hours, minutes, secs = (int(part or 0) for part in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if seconds <= 0:
        raise PinSyntaxError(f"{text!r} is not a positive duration; expected e.g. 90s, 15m, 2h or 1d")
    return float(seconds)


def parse_pin(text: str) -> Pin:
    """``backend[,until=RFC 3339 time]`` -> Pin."""
    backend, _, rest = text.strip().partition(",")
    backend = backend.strip()
    if not backend:
        raise PinSyntaxError(f"pin {text!r} names no backend; expected <backend>[,until=<RFC 3339 time>]")
    until: float | None = None
    if rest.strip():
        key, equals, value = rest.strip().partition("=")
        until = parse_time(value.strip()) if key.strip() == "until" and equals else None
        if until is None:
            raise PinSyntaxError(f"pin {text!r}: {rest.strip()!r} is not until=<RFC 3339 time, "
                                 f"e.g. 2026-01-31T12:00:00Z>")
    return Pin(backend, until)


def format_pin(pin: Pin) -> str:
    """The annotation value of ``pin``."""
    return pin.backend if pin.until is None else f"{pin.backend},until={format_time(pin.until)}"


def describe_pin(pin: Pin) -> str:
    """``web-svc-east until 2026-01-31T12:00:00Z`` (or ``web-svc-east until unpinned``)."""
    return f"{pin.backend} until {'unpinned' if pin.until is None else format_time(pin.until)}"


def pin_of(annotations: Mapping[str, Any]) -> tuple[Pin | None, str | None]:
    """The pin an object's annotations carry, or (None, why it cannot be read) when malformed."""
    text = annotations.get(PIN_ANNOTATION)
    if text is None:
        return None, None
    if not isinstance(text, str):
        return None, f"{PIN_ANNOTATION} is not a string"
    try:
        return parse_pin(text), None
    except PinSyntaxError as error:
        return None, str(error)


def decision_state(annotations: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``decide`` an owned object's annotations carry: hold/delay state and the pin."""
    pin, _problem = pin_of(annotations)
    return {"primary_healthy_since": parse_time(annotations.get(HEALTHY_SINCE_ANNOTATION)),
            "primary_unhealthy_since": parse_time(annotations.get(UNHEALTHY_SINCE_ANNOTATION)), "pin": pin}


def state_annotations(policy: Policy, decision: Decision, live: Mapping[str, Any]) -> dict[str, str]:
    """The failsync.io state annotations the rendered object carries after ``decision``.

    The hold and delay clocks only where the policy uses them; the pin as the live object has it,
    unless it expired (then the write removes it). A malformed pin is kept for a person to fix.
    """
    found: dict[str, str] = {}
    if policy.hold_seconds > 0 and decision.primary_healthy_since is not None:
        found[HEALTHY_SINCE_ANNOTATION] = format_time(decision.primary_healthy_since)
    if policy.delay_seconds > 0 and decision.primary_unhealthy_since is not None:
        found[UNHEALTHY_SINCE_ANNOTATION] = format_time(decision.primary_unhealthy_since)
    if PIN_ANNOTATION in live and decision.expired_pin is None:
        found[PIN_ANNOTATION] = live[PIN_ANNOTATION]
    return found
