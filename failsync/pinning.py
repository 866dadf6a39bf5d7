"""``failsync pin`` / ``unpin``: set or clear ``failsync.io/pin`` on a policy's object, then sync it.

Owns: refusing a pin to a backend the policy does not have, the guarded JSON Patch of the
annotation (re-read and retried on a Conflict), the Pinned / Unpinned Event, and a sync
of that one policy so the weights follow at once (without waiting for ``failsync run``).
Never does: decide weights (``SyncEngine`` does, honouring the pin like every other input).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from failsync.core.model import Pin, Policy
from failsync.core.pins import PIN_ANNOTATION, describe_pin, format_pin, pin_of
from failsync.errors import Conflict, FailsyncError
from failsync.kube import KubeClient
from failsync.kube.events import EventRecorder
from failsync.sync import MAX_ATTEMPTS, SyncEngine, SyncReport, is_owned

log = logging.getLogger(__name__)

PINNED = "Pinned"
UNPINNED = "Unpinned"


class PinRefused(FailsyncError):
    """The pin or unpin cannot be done as asked (backend not in the policy, object missing or not owned)."""

    exit_code = 2


class PolicyChoiceError(FailsyncError):
    """A command's POLICY argument names no policy, or several."""

    exit_code = 2


@dataclass(frozen=True)
class PinResult:
    """What ``pin``/``unpin`` did: the annotation change (``before`` -> ``after``) and the sync that followed."""

    policy: Policy
    before: str | None
    after: str | None
    report: SyncReport | None
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return self.before != self.after


def find_policy(policies: Sequence[Policy], name: str) -> Policy:
    """The policy called ``namespace/name`` (or ``name`` when only one policy has it)."""
    matches = [p for p in policies if name in (p.key, p.name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise PolicyChoiceError(f"{name!r} names several policies ({', '.join(p.key for p in matches)}); "
                         f"expected namespace/name")
    known = ", ".join(p.key for p in policies) or "none"
    raise PolicyChoiceError(f"no policy {name!r} among the policies loaded (found: {known})")


def pin(client: KubeClient, policy: Policy, backend: str, *, seconds: float | None = None,
        dry_run: bool = False, clock: Any = None) -> PinResult:
    """Pin ``policy`` to ``backend`` (for ``seconds``, or until unpinned); refuses a non-member backend."""
    if backend not in policy.services:
        raise PinRefused(f"{backend!r} is not a backend of {policy.key}; expected one of "
                         f"{', '.join(policy.services)}")
    engine = SyncEngine(client, **({"clock": clock} if clock else {}))
    until = None if seconds is None else engine.clock() + seconds
    return _set(engine, policy, format_pin(Pin(backend, until)), dry_run=dry_run)


def unpin(client: KubeClient, policy: Policy, *, dry_run: bool = False, clock: Any = None) -> PinResult:
    """Remove the pin of ``policy`` (nothing to do when there is none)."""
    engine = SyncEngine(client, **({"clock": clock} if clock else {}))
    return _set(engine, policy, None, dry_run=dry_run)


def _set(engine: SyncEngine, policy: Policy, value: str | None, *, dry_run: bool) -> PinResult:
    client = engine.client
    resource = client.target_resource(policy.target)
    for _attempt in range(MAX_ATTEMPTS):
        live = client.get(resource, policy.namespace, policy.name)
        if live is None:
            raise PinRefused(f"{policy.target.kind} {policy.key} does not exist yet; run failsync sync first")
        if not is_owned(live):
            raise PinRefused(f"{policy.target.kind} {policy.key} is not managed by failsync; left alone")
        annotations: Mapping[str, Any] = (live.get("metadata") or {}).get("annotations") or {}
        before = annotations.get(PIN_ANNOTATION)
        if before == value or dry_run:
            break
        try:
            written = client.patch(resource, policy.namespace, policy.name, _pin_patch(live, value))
        except Conflict:
            continue  # someone wrote in between: read again
        EventRecorder(client).record(written, *_event(policy, before, value))
        break
    else:
        raise FailsyncError(f"gave up setting {PIN_ANNOTATION} on {policy.key}: the object kept changing")
    if dry_run:
        preview = engine.preview(policy, {PIN_ANNOTATION: value})
        return PinResult(policy, before, value, SyncReport((preview,), dry_run=True), dry_run=True)
    report = engine.sync([policy])
    return PinResult(policy, before, value, report)


def _pin_patch(live: Mapping[str, Any], value: str | None) -> list[dict[str, Any]]:
    metadata = live.get("metadata") or {}
    ops: list[dict[str, Any]] = [{"op": "test", "path": "/metadata/resourceVersion",
                                  "value": metadata.get("resourceVersion")}]
    path = "/metadata/annotations/" + PIN_ANNOTATION.replace("~", "~0").replace("/", "~1")
    if value is None:
        ops.append({"op": "remove", "path": path})
    elif metadata.get("annotations") is None:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {PIN_ANNOTATION: value}})
    else:
        ops.append({"op": "add", "path": path, "value": value})
    return ops


def _event(policy: Policy, before: str | None, after: str | None) -> tuple[str, str]:
    if after is None:
        old, _ = pin_of({PIN_ANNOTATION: before})
        return UNPINNED, f"unpinned from {describe_pin(old) if old else before}: health decides again"
    new, _ = pin_of({PIN_ANNOTATION: after})
    assert new is not None
    return PINNED, f"pinned to {describe_pin(new)}: {new.backend} carries all traffic of {policy.key} " \
                   f"regardless of health"
