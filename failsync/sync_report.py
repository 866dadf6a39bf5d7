"""What a sync pass reports: each object's outcome, where its traffic is, and the whole report.

Owns: ``Outcome``, ``State``, ``ObjectResult`` and ``SyncReport`` (the JSON of ``diff``, ``sync``
and ``status``), and the STATE a decision puts a policy in. Never does: read, decide or write
(``failsync.sync`` does).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

from failsync.core.diffing import Change
from failsync.core.model import Decision, Policy, Rule, Target
from failsync.core.pins import describe_pin
from failsync.errors import ApiError, FailsyncError


class Outcome(str, enum.Enum):
    """What happened to one object (in a dry run: what would happen)."""

    CREATED = "created"
    PATCHED = "patched"
    UNCHANGED = "unchanged"
    PRUNED = "pruned"
    FAILED = "failed"


class State(str, enum.Enum):
    """Where a policy's traffic is, as ``status`` shows it."""

    PRIMARY = "primary"
    FAILED_OVER = "failed-over"
    ALL_DOWN = "all-down"
    DRIFTED = "drifted"
    #: SPEC §12.
    SPILLING = "spilling"
    DISTRIBUTED = "distributed"
    PINNED = "pinned"


@dataclass(frozen=True)
class ObjectResult:
    """The result for one object: outcome and message, and what the decision was based on."""

    namespace: str
    name: str
    outcome: Outcome
    message: str = ""
    policy: Policy | None = None
    decision: Decision | None = None
    change: Change | None = None
    live_weights: Mapping[str, int] | None = None
    state: State | None = None
    last_change: str | None = None
    attempts: int = 1
    #: The object as the server stored it after this pass's write (None when nothing was written, and in
    #: ``sync_once``, which leaves the answers undecoded); the loop puts it into its cache so the next
    #: reconcile does not start from a stale copy.
    written: Mapping[str, Any] | None = None
    #: The kind and apiVersion of an object that has no policy (a pruned one); else the policy's target.
    target: Target | None = None
    #: For a route: whether a parent accepted it (Accepted and ResolvedRefs True), and what the parents say.
    route_acceptance: tuple[bool, str] | None = None
    #: The API error behind a FAILED outcome (the loop retries by its class), else None.
    error: ApiError | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def object_target(self) -> Target | None:
        """The kind and apiVersion of this result's object."""
        return self.target or (self.policy.target if self.policy else None)

    @property
    def changed(self) -> bool:
        """Whether this object was (or in a dry run would be) written."""
        return self.outcome in (Outcome.CREATED, Outcome.PATCHED, Outcome.PRUNED)

    @property
    def weight_changes(self) -> str:
        """``web-svc 1->0, web-svc-east 0->1`` for the weights that change (``web-svc=1, ...`` for a new object)."""
        if self.decision is None:
            return ""
        if self.live_weights is None:
            return ", ".join(f"{service}={weight}" for service, weight in self.decision.weights.items())
        before = self.live_weights
        return ", ".join(f"{service} {before.get(service, '-')}->{weight}"
                         for service, weight in self.decision.weights.items() if before.get(service) != weight)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``-o json`` of diff, sync and status)."""
        decision = self.decision
        return {
            "namespace": self.namespace, "name": self.name, "outcome": self.outcome.value,
            "message": self.message, "state": self.state.value if self.state else None,
            "origin": self.policy.origin.value if self.policy else None,
            "target": ({"kind": self.object_target.kind, "apiVersion": self.object_target.api_version}
                       if self.object_target else None),
            "liveWeights": dict(self.live_weights) if self.live_weights is not None else None,
            "desiredWeights": dict(decision.weights) if decision else None,
            "ready": dict(decision.ready) if decision else None,
            "healthy": list(decision.healthy) if decision else None,
            "rule": decision.rule.value if decision else None,
            "reason": decision.reason if decision else None,
            "patch": list(self.change.patch) if self.change else None,
            "lastChange": self.last_change, "attempts": self.attempts,
            "pin": describe_pin(decision.pin) if decision and decision.pin else None,
            "routeAccepted": self.route_acceptance[0] if self.route_acceptance else None,
            "routeParents": self.route_acceptance[1] if self.route_acceptance else None,
        }


@dataclass(frozen=True)
class SyncReport:
    """Every object's result, and errors not tied to one object (invalid policies, skipped prune)."""

    results: tuple[ObjectResult, ...]
    errors: tuple[FailsyncError, ...] = ()
    dry_run: bool = False

    @property
    def failed(self) -> tuple[ObjectResult, ...]:
        return tuple(r for r in self.results if r.outcome is Outcome.FAILED)

    @property
    def changed(self) -> tuple[ObjectResult, ...]:
        return tuple(r for r in self.results if r.changed)

    @property
    def ok(self) -> bool:
        """No object failed and no error was reported."""
        return not self.failed and not self.errors

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the whole report."""
        return {"dryRun": self.dry_run, "inSync": not self.changed, "ok": self.ok,
                "objects": [result.as_dict() for result in self.results],
                "errors": [str(error) for error in self.errors]}



def state_of(decision: Decision | None, pending: bool) -> State | None:
    """The status STATE: drifted while a change is pending, else where the decision puts traffic."""
    if pending:
        return State.DRIFTED
    if decision is None:
        return None
    return _STATES.get(decision.rule, State.ALL_DOWN)


_STATES = {Rule.PRIMARY_HEALTHY: State.PRIMARY, Rule.FAILOVER_DELAYED: State.PRIMARY,
           Rule.FAILED_OVER: State.FAILED_OVER, Rule.FAILBACK_HELD: State.FAILED_OVER,
           Rule.SPILLED_OVER: State.SPILLING, Rule.DISTRIBUTED: State.DISTRIBUTED, Rule.PINNED: State.PINNED}
