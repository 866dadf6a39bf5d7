"""The status failsync writes on a FailoverPolicy object: its schema (for the CRD).

Owns: ``STATUS_SCHEMA``, the shape of ``status`` (observedGeneration, kstatus conditions
``Ready``/``FailedOver``/``Stalled``, the primary, active backends, ready counts per backend,
the state shown by ``kubectl get fop`` and the last transition), and the pure functions that
compute it: from a decision whose object was brought in line (``converged_status``), from
a failed reconcile (``failed_status``), from an invalid spec (``stalled_status``). Condition
times are kept from the previous status while a condition's status does not change, so an
unchanged situation gives an identical status (and no write).
"""

from __future__ import annotations

from typing import Any, Mapping

from failsync.core.model import Decision, Policy
from failsync.core.timestamps import format_time

#: Condition types, as kstatus, Flux and Argo CD read them.
READY, FAILED_OVER, STALLED = "Ready", "FailedOver", "Stalled"

_CONDITION = {
    "type": "object",
    "required": ["type", "status"],
    "properties": {
        "type": {"type": "string"},
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "observedGeneration": {"type": "integer", "format": "int64"},
        "lastTransitionTime": {"type": "string", "format": "date-time"},
    },
}

STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Written by failsync through the status subresource.",
    "properties": {
        "observedGeneration": {"type": "integer", "format": "int64"},
        "conditions": {"type": "array", "items": _CONDITION,
                       "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        "primary": {"type": "string"},
        "activeBackends": {"type": "array", "items": {"type": "string"}},
        "backends": {"type": "array", "items": {
            "type": "object",
            "properties": {"service": {"type": "string"}, "ready": {"type": "integer", "format": "int32"},
                           "healthy": {"type": "boolean"}, "weight": {"type": "integer", "format": "int64"}},
        }},
        "state": {"type": "string", "description": "Primary, FailedOver, AllDown or Invalid."},
        "lastTransitionTime": {"type": "string", "format": "date-time"},
    },
}

#: STATE column values.
PRIMARY_STATE, FAILED_OVER_STATE, ALL_DOWN_STATE, INVALID_STATE, PENDING_STATE = (
    "Primary", "FailedOver", "AllDown", "Invalid", "Pending")


def _condition(kind: str, status: bool, reason: str, message: str, generation: int | None,
               previous: Mapping[str, Any] | None, now: float) -> dict[str, Any]:
    text = "True" if status else "False"
    old = next((c for c in (previous or {}).get("conditions") or () if isinstance(c, dict) and c.get("type") == kind),
               None)
    since = old.get("lastTransitionTime") if old and old.get("status") == text else None
    condition = {"type": kind, "status": text, "reason": reason, "message": message,
                 "lastTransitionTime": since or format_time(now)}
    if generation is not None:
        condition["observedGeneration"] = generation
    return condition


def _finish(status: dict[str, Any], previous: Mapping[str, Any] | None, now: float) -> dict[str, Any]:
    """The top-level lastTransitionTime: kept while the state and active backends stay the same."""
    old = previous or {}
    same = (old.get("state"), old.get("activeBackends")) == (status.get("state"), status.get("activeBackends"))
    status["lastTransitionTime"] = old.get("lastTransitionTime") if same and old.get("lastTransitionTime") \
        else format_time(now)
    return status


def converged_status(policy: Policy, decision: Decision, generation: int | None,
                     previous: Mapping[str, Any] | None, now: float) -> dict[str, Any]:
    """The status once the rendered object matches ``decision`` (Ready=True at this generation)."""
    active = list(decision.active)
    failed_over = policy.primary not in active
    state = ALL_DOWN_STATE if not decision.healthy else FAILED_OVER_STATE if failed_over else PRIMARY_STATE
    conditions = [
        _condition(READY, True, "Converged", f"{policy.target.kind} {policy.key} matches the decision: "
                   f"{decision.reason}", generation, previous, now),
        _condition(FAILED_OVER, failed_over, "FailedOver" if failed_over else "PrimaryActive",
                   f"traffic on {', '.join(active) or 'no backend'}", generation, previous, now),
        _condition(STALLED, False, "Reconciled", "the spec is valid", generation, previous, now),
    ]
    status: dict[str, Any] = {"conditions": conditions, "primary": policy.primary, "activeBackends": active,
              "backends": [{"service": service, "ready": int(decision.ready.get(service, 0)),
                            "healthy": service in decision.healthy, "weight": int(decision.weights.get(service, 0))}
                           for service in policy.services],
              "state": state}
    if generation is not None:
        status["observedGeneration"] = generation
    return _finish(status, previous, now)


def failed_status(policy: Policy, message: str, generation: int | None, previous: Mapping[str, Any] | None,
                  now: float) -> dict[str, Any]:
    """The status when the object could not be brought in line (Ready=False; tried again)."""
    old = dict(previous or {})
    conditions = [
        _condition(READY, False, "SyncFailed", message, generation, previous, now),
        *(c for c in old.get("conditions") or () if isinstance(c, dict) and c.get("type") == FAILED_OVER),
        _condition(STALLED, False, "Retrying", "the spec is valid; the write is retried", generation, previous, now),
    ]
    status = {**{k: v for k, v in old.items() if k in ("primary", "activeBackends", "backends", "state")},
              "conditions": conditions, "primary": policy.primary}
    status.setdefault("state", PENDING_STATE)
    if generation is not None:
        status["observedGeneration"] = generation
    return _finish(status, previous, now)


def stalled_status(reason: str, message: str, generation: int | None, previous: Mapping[str, Any] | None,
                   now: float) -> dict[str, Any]:
    """The status of a FailoverPolicy failsync cannot act on (an invalid spec, a conflict): Stalled=True."""
    conditions = [
        _condition(READY, False, reason, message, generation, previous, now),
        _condition(STALLED, True, reason, message, generation, previous, now),
    ]
    status: dict[str, Any] = {"conditions": conditions, "state": INVALID_STATE, "activeBackends": []}
    if generation is not None:
        status["observedGeneration"] = generation
    return _finish(status, previous, now)


def same_status(live: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    """Whether writing ``desired`` would change nothing."""
    return dict(live or {}) == dict(desired)
