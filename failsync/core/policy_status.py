"""The status failsync writes on a FailoverPolicy object: its schema (for the CRD).

Owns: ``STATUS_SCHEMA``, the shape of ``status`` (observedGeneration, kstatus conditions
``Ready``/``FailedOver``/``Stalled``, the primary, active backends, ready counts per backend,
the state shown by ``kubectl get fop`` and the last transition).
"""

from __future__ import annotations

from typing import Any

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
