"""The policy fields of SPEC §11 (health from another cluster): validation with file:line:key errors.

Owns: ``spec.fallbacks[].health`` (``cluster``, ``service``, ``namespace``) and
``spec.health.remoteGraceSeconds``: their keys, types and bounds. Works on one document being
validated by ``failsync.core.policy_schema`` (``doc`` is its PolicyDocument), which calls
``remote_health_fields`` once; the keys and bounds are in ``failsync.core.policy_fields``. Whether a cluster name is
one failsync knows is decided at sync time, where the clusters are known.
"""

from __future__ import annotations

from typing import Any

from failsync.core.model import DEFAULT_REMOTE_GRACE_SECONDS, RemoteHealth



def remote_health_fields(doc: Any, spec: dict[str, Any], health: dict[str, Any]
                         ) -> tuple[int, tuple[RemoteHealth | None, ...]] | None:
    """(remoteGraceSeconds, each fallback's ``health`` or None), or None after an error."""
    before = len(doc.errors)
    grace = doc.integer(health, "remoteGraceSeconds", "spec.health.remoteGraceSeconds",
                        default=DEFAULT_REMOTE_GRACE_SECONDS)
    entries = spec.get("fallbacks")
    entries = entries if isinstance(entries, list) else []
    # Most fallbacks are local: their path is worded only when they name a health.
    remotes = tuple(_remote(doc, entry, f"spec.fallbacks[{index}].health")
                    if isinstance(entry, dict) and entry.get("health") is not None else None
                    for index, entry in enumerate(entries))
    if grace is None or len(doc.errors) > before:
        return None
    return grace, remotes


def _remote(doc: Any, entry: dict[str, Any], path: str) -> RemoteHealth | None:
    if entry.get("health") is None:
        return None
    value = doc.mapping(entry, "health", path, "spec.fallbacks[].health")
    if not value and isinstance(entry.get("health"), dict):
        doc.error(path, "expected a mapping with cluster (and optional service, namespace), found an empty mapping")
        return None
    if not value:
        return None
    cluster = doc.dns_label(value, "cluster", f"{path}.cluster", required=True)
    service = doc.dns_label(value, "service", f"{path}.service", required=False)
    namespace = doc.dns_label(value, "namespace", f"{path}.namespace", required=False)
    if cluster is None:
        return None
    return RemoteHealth(cluster, service, namespace)
