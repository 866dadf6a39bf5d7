"""``failsync simulate``: a timeline of health replayed through the decision (SPEC §12).

Owns: the timeline format (``policy:`` to pick one, ``steps:`` of ``at`` seconds with
``ready: {service: count}`` and/or ``endpoints: {service: [ready, total]}``, an optional
``expect: {service: weight}``, an optional ``pin: BACKEND`` or ``pin: {backend, for}``),
its validation with file:line:key errors, and the replay. Pure: text in, rows out.

The replay is what the loop does: the same ``decide``, the previous weights and the
hold/delay state carried from one decision to the next, the object created at the first
step (no previous weights), and a re-decision when the clock alone changes the outcome
(a hold or delay ends, a pin expires) before the next step: those rows have no step.
A service a step does not name keeps its counts from the step before (0 at the start).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import yaml

from failsync.core.model import Decision, Pin, Policy
from failsync.core.policy_schema import PolicyDocument
from failsync.core.simple_yaml import full_loader
from failsync.core.weights import decide
from failsync.errors import Location, PolicyError

_TOP_KEYS = frozenset({"policy", "steps"})
_STEP_KEYS = frozenset({"at", "ready", "endpoints", "expect", "pin"})
#: Timer rows (re-decisions on the clock alone) replayed between two steps at most; a decision
#: revisits at most a few times in a row (a delay, then a hold), so this is only a guard.
_MAX_TIMER_ROWS = 16


class TimelineError(PolicyError):
    """Bad input to simulate (the CLI exits 2); ``problems`` holds every problem, one line each."""

    exit_code = 2

    def __init__(self, message: str, location: Location | None = None, *,
                 problems: Sequence[str] = ()) -> None:
        super().__init__(message, location)
        self.problems = tuple(problems) or (str(self),)


@dataclass(frozen=True)
class Step:
    """One step of a timeline: the counts it sets, what it expects, and where it is written."""

    index: int
    at: float
    ready: Mapping[str, int] = field(default_factory=dict)
    total: Mapping[str, int] = field(default_factory=dict)
    expect: Mapping[str, int] | None = None
    pin: Pin | None = None
    #: False for ``pin: null`` (the pin is removed), True when the step leaves the pin as it is.
    keeps_pin: bool = True
    line: int | None = None


@dataclass(frozen=True)
class Timeline:
    """A parsed timeline: the policy it picks (``namespace/name`` or ``name``, None: all) and its steps."""

    file: str
    policy: str | None
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Row:
    """One decision of the replay: at a step (``step``) or on the clock alone (``step`` None)."""

    at: float
    step: Step | None
    decision: Decision
    ready: Mapping[str, int]
    total: Mapping[str, int]
    mismatch: str | None = None


def parse_timeline(text: str, file: str) -> Timeline:
    """The timeline in ``text``; raises TimelineError listing every problem (file:line: key: message)."""
    try:
        node = yaml.compose(text, Loader=full_loader())
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        raise TimelineError(f"YAML syntax error: {error.problem}",
                            Location(file, mark.line + 1 if mark else None)) from None
    except yaml.YAMLError as error:
        raise TimelineError(f"YAML syntax error: {error}", Location(file)) from None
    if node is None:
        raise TimelineError("the timeline is empty; expected a mapping with steps", Location(file, 1))
    document = PolicyDocument(file, root=node)
    data = document.convert(node, "")
    timeline = _Reader(document).timeline(data)
    if document.errors or timeline is None:
        problems = [str(error) for error in document.errors] or ["invalid timeline"]
        raise TimelineError(problems[0], problems=problems)
    return timeline


class _Reader:
    def __init__(self, document: PolicyDocument) -> None:
        self.document = document

    def error(self, path: str, message: str) -> None:
        self.document.error(path, message)

    def timeline(self, data: Any) -> Timeline | None:
        if not isinstance(data, dict):
            self.error("", "expected a mapping with steps (and optionally policy)")
            return None
        for key in data:
            if key not in _TOP_KEYS:
                self.error(key, f"unknown key; expected one of {', '.join(sorted(_TOP_KEYS))}")
        policy = data.get("policy")
        if policy is not None and not isinstance(policy, str):
            self.error("policy", f"expected a policy name or namespace/name, found {policy!r}")
        steps = data.get("steps")
        if not isinstance(steps, list) or not steps:
            self.error("steps", "expected a non-empty list of steps ({at: SECONDS, ready: {...}})")
            return None
        parsed: list[Step] = []
        for index, item in enumerate(steps):
            step = self.step(item, index, parsed[-1].at if parsed else None)
            if step is not None:
                parsed.append(step)
        return Timeline(self.document.file, policy if isinstance(policy, str) else None, tuple(parsed))

    def step(self, item: Any, index: int, previous_at: float | None) -> Step | None:
        path = f"steps[{index}]"
        line = self.document._line_of(path)
        if not isinstance(item, dict):
            self.error(path, f"expected a mapping with at and ready or endpoints, found {item!r}")
            return None
        before = len(self.document.errors)
        for key in item:
            if key not in _STEP_KEYS:
                self.error(f"{path}.{key}", f"unknown key; expected one of {', '.join(sorted(_STEP_KEYS))}")
        at = item.get("at")
        if isinstance(at, bool) or not isinstance(at, (int, float)) or at != at or at < 0:
            self.error(f"{path}.at", f"expected the seconds since the start (a number >= 0), found {at!r}")
            at = None
        elif previous_at is not None and at < previous_at:
            self.error(f"{path}.at", f"{at:g} comes before the previous step's {previous_at:g}; "
                                     f"expected steps in time order")
        ready = self.counts(item.get("ready"), f"{path}.ready")
        total: dict[str, int] = dict(ready)
        for service, pair in self.mapping(item.get("endpoints"), f"{path}.endpoints").items():
            where = f"{path}.endpoints.{service}"
            if (not isinstance(pair, list) or len(pair) != 2 or not all(_count(n) for n in pair)
                    or pair[0] > pair[1]):
                self.error(where, f"expected [ready, total] with 0 <= ready <= total, found {pair!r}")
                continue
            if service in ready:
                self.error(where, "also set in ready; expected each service in one of ready and endpoints")
            ready[service], total[service] = pair[0], pair[1]
        expect = None if item.get("expect") is None else self.counts(item.get("expect"), f"{path}.expect")
        pin, keeps_pin = self.pin(item, path, at)
        if "ready" not in item and "endpoints" not in item and "pin" not in item and "expect" not in item:
            self.error(path, "expected ready, endpoints, pin or expect in the step")
        if len(self.document.errors) > before or at is None:
            return None
        return Step(index, float(at), ready, total, expect, pin, keeps_pin, line)

    def pin(self, item: dict[str, Any], path: str, at: float | None) -> tuple[Pin | None, bool]:
        if "pin" not in item:
            return None, True
        value = item["pin"]
        if value is None:
            return None, False
        if isinstance(value, str):
            return Pin(value), True
        if isinstance(value, dict) and isinstance(value.get("backend"), str) and set(value) <= {"backend", "for"}:
            seconds = value.get("for")
            if seconds is None:
                return Pin(value["backend"]), True
            if not isinstance(seconds, bool) and isinstance(seconds, (int, float)) and seconds > 0:
                return Pin(value["backend"], None if at is None else at + seconds), True
        self.error(f"{path}.pin", f"expected a backend name, {{backend: NAME, for: SECONDS}} or null, found {value!r}")
        return None, True

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping of service names, found {value!r}")
            return {}
        return value

    def counts(self, value: Any, path: str) -> dict[str, int]:
        found = {}
        for service, count in self.mapping(value, path).items():
            if not _count(count):
                self.error(f"{path}.{service}", f"expected a whole number >= 0, found {count!r}")
                continue
            found[service] = count
        return found


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def pick_policies(policies: Sequence[Policy], timeline: Timeline) -> list[Policy]:
    """The policies the timeline replays through; raises TimelineError when ``policy:`` names none of them."""
    if timeline.policy is None:
        return list(policies)
    chosen = [p for p in policies if timeline.policy in (p.key, p.name)]
    if not chosen:
        names = ", ".join(p.key for p in policies) or "none"
        raise TimelineError(f"policy {timeline.policy!r} is not among the policies given (found: {names})",
                            Location(timeline.file, None, "policy"))
    return chosen


def check_services(policies: Sequence[Policy], timeline: Timeline) -> None:
    """Every service a step names must be a backend of some policy replayed; raises TimelineError."""
    known = {s for p in policies for s in p.services}
    problems = []
    for step in timeline.steps:
        named = [*step.ready, *(step.expect or {}), *([step.pin.backend] if step.pin else [])]
        for service in dict.fromkeys(named):
            if service not in known:
                problems.append(f"{timeline.file}:{step.line}: steps[{step.index}]: {service!r} is not a backend "
                                f"of {', '.join(p.key for p in policies)}; expected one of {', '.join(sorted(known))}")
    if problems:
        raise TimelineError(problems[0], problems=problems)


def replay(policy: Policy, timeline: Timeline) -> list[Row]:
    """Every decision of ``policy`` over ``timeline``, as the loop would take them."""
    ready = dict.fromkeys(policy.services, 0)
    total = dict.fromkeys(policy.services, 0)
    previous: Mapping[str, int] | None = None
    healthy_since: float | None = None
    unhealthy_since: float | None = None
    pin: Pin | None = None
    rows: list[Row] = []

    def decide_at(at: float, step: Step | None) -> Decision:
        nonlocal previous, healthy_since, unhealthy_since, pin
        decision = decide(policy, ready, total=total, previous=previous, primary_healthy_since=healthy_since,
                          primary_unhealthy_since=unhealthy_since, pin=pin, now=at)
        previous = decision.weights
        healthy_since, unhealthy_since = decision.primary_healthy_since, decision.primary_unhealthy_since
        if decision.expired_pin is not None:
            pin = None  # the write removes an expired pin
        mismatch = _mismatch(policy, step, decision) if step is not None else None
        rows.append(Row(at, step, decision, dict(ready), dict(total), mismatch))
        return decision

    for position, step in enumerate(timeline.steps):
        for service in policy.services:
            if service in step.ready:
                ready[service], total[service] = step.ready[service], step.total[service]
        if step.pin is not None:
            pin = step.pin
        elif not step.keeps_pin:
            pin = None
        decision = decide_at(step.at, step)
        following = timeline.steps[position + 1].at if position + 1 < len(timeline.steps) else None
        for _ in range(_MAX_TIMER_ROWS):
            revisit = decision.revisit_at
            if following is None or revisit is None or revisit >= following or revisit <= rows[-1].at:
                break
            decision = decide_at(revisit, None)
    return rows


def _mismatch(policy: Policy, step: Step, decision: Decision) -> str | None:
    if step.expect is None:
        return None
    wrong = {s: w for s, w in step.expect.items() if s in decision.weights and decision.weights[s] != w}
    if not wrong:
        return None
    expected = ", ".join(f"{s}={w}" for s, w in wrong.items())
    got = ", ".join(f"{s}={decision.weights[s]}" for s in wrong)
    return (f"{step_name(step)}: {policy.key} expected {expected}, got {got} "
            f"({decision.rule.value}: {decision.reason})")


def step_name(step: Step) -> str:
    """``step 3 (at 40s, timeline.yaml line 12)``: how messages name a step."""
    where = f", line {step.line}" if step.line else ""
    return f"step {step.index + 1} (at {step.at:g}s{where})"
