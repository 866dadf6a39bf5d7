"""Label and field selectors: parsing the query-string grammar and matching objects.

Owns: the fieldSelector grammar (``=``, ``==``, ``!=``) with the fields each kind supports.
The labelSelector grammar is ``failsync.core.selectors`` (re-exported here). Never does:
HTTP. Parse errors raise ``SelectorError`` whose message is what the real server says.
"""

from __future__ import annotations

import re
from typing import Callable

# The label-selector grammar is the core's (one parser for --selector and the sandbox).
from failsync.core.selectors import Requirement, SelectorError, labels_match, parse_label_selector

__all__ = ["Requirement", "SelectorError", "labels_match", "parse_label_selector", "FieldSelector",
           "parse_field_selector", "fields_match"]


def _path(*keys: str) -> Callable[[dict], str]:
    def get(obj: dict) -> str:
        value: object = obj
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return "" if value is None else str(value)
    return get


GENERIC_FIELDS: dict[str, Callable[[dict], str]] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}
EVENT_FIELDS: dict[str, Callable[[dict], str]] = {
    **GENERIC_FIELDS,
    **{f"involvedObject.{key}": _path("involvedObject", key)
       for key in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
    "reason": _path("reason"),
    "reportingComponent": _path("reportingComponent"),
    "source": _path("source", "component"),
    "type": _path("type"),
}
EXTRA_FIELDS: dict[str, dict[str, Callable[[dict], str]]] = {
    "core/events": EVENT_FIELDS,
    "core/namespaces": {**GENERIC_FIELDS, "status.phase": _path("status", "phase")},
    "core/services": {**GENERIC_FIELDS, "spec.clusterIP": _path("spec", "clusterIP"),
                      "spec.type": _path("spec", "type")},
}

FieldSelector = tuple[tuple[str, bool, str, Callable[[dict], str]], ...]


def parse_field_selector(text: str, store_key: str) -> FieldSelector:
    """Parse a fieldSelector for a kind (by store key); unknown field -> SelectorError (400)."""
    fields = EXTRA_FIELDS.get(store_key, GENERIC_FIELDS)
    terms = []
    for term in (text or "").split(","):
        term = term.strip()
        if not term:
            continue
        match = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", term)
        if not match:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        name, operator, value = match.groups()
        if name not in fields:
            known = ", ".join(f'"{field}"' for field in fields)
            raise SelectorError(f'"{name}" is not a known field selector: only {known}')
        terms.append((name, operator == "!=", value, fields[name]))
    return tuple(terms)


def fields_match(selector: FieldSelector, obj: dict) -> bool:
    """Whether the stored object satisfies every field term."""
    return all((get(obj) != value) if negated else (get(obj) == value) for _name, negated, value, get in selector)
