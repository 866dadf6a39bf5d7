"""The policy fields of SPEC §12 (decisions, part 2): validation with file:line:key errors.

Owns: ``spec.health.minReadyPercent``, ``spec.failover`` (``delaySeconds``, ``mode``,
``overprovisioningFactor``), ``spec.mode`` and the ``distribute`` weights
(``spec.primaryWeight``, ``spec.fallbacks[].weight``): their keys, types, bounds and how
they combine. Works on one document being validated by ``failsync.core.policy_schema``
(``doc`` is its PolicyDocument: ``error``, ``choice``, ``mapping``), which calls
``decision_fields``. Their keys, types, bounds and defaults are rows of the field table
(``failsync.core.policy_fields``); the rules between them are code here.
"""

from __future__ import annotations

from typing import Any

from failsync.core.model import DEFAULT_OVERPROVISIONING_FACTOR, FailoverMode, SpecMode
from failsync.core.policy_fields import field_at
from failsync.core.policy_values import type_name
from failsync.core.targets import ROUTE_WEIGHT_MAX

_SPEC_MODES = {mode.value: mode for mode in SpecMode}
_FAILOVER_MODES = {mode.value: mode for mode in FailoverMode}
# Read once: an Enum member's .value is a Python-level descriptor, on every policy.
_DISTRIBUTE = SpecMode.DISTRIBUTE.value
_GRADUAL = FailoverMode.GRADUAL.value


def decision_fields(doc: Any, spec: dict[str, Any], health: dict[str, Any]) -> dict[str, Any] | None:
    """The Policy fields of SPEC §12 (and fallback weights), or None after an error."""
    before = len(doc.errors)
    fields: dict[str, Any] = {}
    percent_path = "spec.health.minReadyPercent"
    fields["min_ready_percent"] = doc.integer(health, "minReadyPercent", percent_path)
    mode = doc.choice(spec, "mode", "spec.mode")
    distribute = mode == _DISTRIBUTE
    failover = doc.mapping(spec, "failover", "spec.failover", "spec.failover")
    fields["delay_seconds"] = doc.integer(failover, "delaySeconds", "spec.failover.delaySeconds")
    failover_mode = doc.choice(failover, "mode", "spec.failover.mode")
    gradual = failover_mode == _GRADUAL
    if gradual and distribute:
        doc.error("spec.failover.mode", "gradual spills traffic over between tiers, which spec.mode: "
                                        "distribute does not do; expected all-at-once (or no failover.mode) "
                                        "with distribute")
    fields["overprovisioning_factor"] = factor(doc, failover, gradual)
    weights = distribute_weights(doc, spec, distribute)
    if len(doc.errors) > before or mode is None or failover_mode is None or weights is None:
        return None
    fields["mode"] = _SPEC_MODES[mode]
    fields["failover_mode"] = _FAILOVER_MODES[failover_mode]
    primary_weight, fallback_weights = weights
    fields["primary_weight"] = primary_weight
    fields["fallback_weights"] = fallback_weights
    return fields

def factor(doc: Any, failover: dict[str, Any], gradual: bool) -> float | None:
    """``failover.overprovisioningFactor`` (1-100, only with gradual), or None after an error."""
    path = "spec.failover.overprovisioningFactor"
    value = failover.get("overprovisioningFactor")
    bounds = field_at(path)
    low, high = int(bounds.minimum), int(bounds.maximum)  # type: ignore[arg-type]
    if value is None:
        return DEFAULT_OVERPROVISIONING_FACTOR
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        doc.error(path, f"expected a number from {low} to {high}, found the {type_name(value)} {value!r}")
        return None
    if not low <= value <= high:
        doc.error(path, f"expected a number from {low} to {high} (1: no overprovisioning), found {value}")
        return None
    if not gradual:
        doc.error(path, "only applies with failover.mode: gradual; expected failover.mode: gradual "
                        "or no overprovisioningFactor")
        return None
    return float(value)


def distribute_weights(doc: Any, spec: dict[str, Any], distribute: bool
                       ) -> tuple[int, tuple[int, ...] | None] | None:
    """(primary weight, each fallback's weight or None without distribute); weights elsewhere are errors."""
    def weight(parent: dict[str, Any], key: str, path: str) -> int | None:
        if key in parent and parent[key] is not None and not distribute:
            doc.error(path, "a weight only applies with spec.mode: distribute; expected spec.mode: "
                            "distribute or no weight")
            return None
        found: int | None = doc.integer(parent, key, path, default=1)  # 1 only matters with distribute
        return found

    entries = spec.get("fallbacks")
    entries = entries if isinstance(entries, list) else []
    if not distribute and spec.get("primaryWeight") is None and all(
            not isinstance(entry, dict) or entry.get("weight") is None for entry in entries):
        return 1, None  # the common case: no weight anywhere, as the checks below find it
    primary_weight = weight(spec, "primaryWeight", "spec.primaryWeight")
    weights = [weight(entry, "weight", f"spec.fallbacks[{index}].weight") if isinstance(entry, dict) else 1
               for index, entry in enumerate(entries)]
    if primary_weight is None or None in weights:
        return None
    total = primary_weight + sum(weights)  # type: ignore[arg-type]
    if distribute and total > ROUTE_WEIGHT_MAX:
        doc.error("spec.mode", f"the weights add up to {total}; expected at most {ROUTE_WEIGHT_MAX} "
                               f"(the route weight range), since one backend may carry them all")
        return None
    return primary_weight, (tuple(weights) if distribute else None)  # type: ignore[arg-type]

