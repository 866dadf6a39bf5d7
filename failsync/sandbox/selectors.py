"""Label and field selectors: parsing the query-string grammar and matching objects.

Owns: the labelSelector grammar of apimachinery (``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``,
``k notin (a,b)``, ``k``, ``!k``, ``k>N``, ``k<N``; comma = AND) and the fieldSelector
grammar (``=``, ``==``, ``!=``) with the fields each kind supports. Never does: HTTP.
Parse errors raise ``SelectorError`` whose message is what the real server says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class SelectorError(ValueError):
    """A selector that does not parse; the message is the 400 BadRequest text."""


@dataclass(frozen=True)
class Requirement:
    """One label requirement: key, operator (=, !=, in, notin, exists, !, gt, lt), values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies this requirement (``!=``/``notin`` match a missing key)."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if not present:
            return False
        try:
            number, bound = int(value), int(self.values[0])  # type: ignore[arg-type]
        except ValueError:
            return False
        return number > bound if self.operator == "gt" else number < bound


_TOKEN = re.compile(r"\s*(\(|\)|,|!=|==|=|>|<|!|[^\s(),!=<>]+)")


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            if text[position:].strip() == "":
                break
            raise SelectorError(f"unable to parse requirement: found '{text[position:]}'")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def parse_label_selector(text: str) -> tuple[Requirement, ...]:
    """Parse a labelSelector; empty text selects everything."""
    tokens = _tokens(text or "")
    requirements: list[Requirement] = []
    index = 0

    def take() -> str | None:
        nonlocal index
        token = tokens[index] if index < len(tokens) else None
        index += 1
        return token

    def peek() -> str | None:
        return tokens[index] if index < len(tokens) else None

    def check_key(key: str | None) -> str:
        if key is None or key in "(),!=<>" or not _KEY.match(key) or len(key.split("/")[-1]) > 63:
            raise SelectorError(f"unable to parse requirement: invalid label key \"{key}\": name part must "
                                "consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                                "with an alphanumeric character")
        return key

    def check_value(value: str | None) -> str:
        if value is None or value in "(),!=<>":
            raise SelectorError(f"unable to parse requirement: found '{value or ''}', expected: identifier")
        if not _VALUE.match(value) or len(value) > 63:
            raise SelectorError(f"unable to parse requirement: values[0]: Invalid value: \"{value}\": a valid "
                                "label must be an empty string or consist of alphanumeric characters, '-', '_' "
                                "or '.', and must start and end with an alphanumeric character")
        return value

    while index < len(tokens):
        token = take()
        if token == "!":
            requirements.append(Requirement(check_key(take()), "!"))
        else:
            key = check_key(token)
            operator = peek()
            if operator in (None, ","):
                requirements.append(Requirement(key, "exists"))
            elif operator in ("=", "==", "!="):
                take()
                value = peek()
                if value in (None, ","):
                    requirements.append(Requirement(key, "!=" if operator == "!=" else "=", ("",)))
                else:
                    requirements.append(Requirement(key, "!=" if operator == "!=" else "=", (check_value(take()),)))
            elif operator in ("in", "notin"):
                take()
                if take() != "(":
                    raise SelectorError("unable to parse requirement: found '', expected: '('")
                values: list[str] = []
                while True:
                    value = take()
                    if value == ")" and not values:
                        break
                    if value in (",", ")"):
                        values.append("")
                    else:
                        values.append(check_value(value))
                        value = take()
                    if value == ")":
                        break
                    if value != ",":
                        raise SelectorError(f"unable to parse requirement: found '{value or ''}', expected: ',', ')'")
                requirements.append(Requirement(key, operator, tuple(values)))
            elif operator in (">", "<"):
                take()
                bound = take()
                if bound is None or not re.fullmatch(r"-?\d+", bound):
                    raise SelectorError(f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be "
                                        f"an integer")
                requirements.append(Requirement(key, "gt" if operator == ">" else "lt", (bound,)))
            else:
                raise SelectorError(f"unable to parse requirement: found '{operator}', expected: "
                                    "in, notin, =, ==, !=, gt, lt")
        following = take()
        if following not in (None, ","):
            raise SelectorError(f"found '{following}', expected: ',' or 'end of string'")
    return tuple(requirements)


def labels_match(requirements: tuple[Requirement, ...], labels: Mapping[str, str] | None) -> bool:
    """Whether labels satisfy every requirement."""
    labels = labels or {}
    return all(requirement.matches(labels) for requirement in requirements)


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
