"""Kubernetes label selectors: the query-string grammar of the API server, and matching.

Owns: the one label-selector parser of failsync, faithful to apimachinery's
``labels.Parse`` (``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``,
``k``, ``!k``, ``k>N``, ``k<N``; comma = AND; keys are qualified names, values label
values). ``--selector`` (through ``adoption.parse_selector``) and the sandbox's
labelSelector both use it, so what failsync accepts is what a real server accepts.
Parse errors raise ``SelectorError`` worded as the API server's 400 BadRequest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z")
_INTEGER = re.compile(r"[-+]?[0-9]+\Z")
_INT64 = 2 ** 63
_NAME_MAX = 63
_PREFIX_MAX = 253
# The lexer's special symbols, longest first; anything else up to whitespace or one of
# "!=(),<>" is an identifier (as in apimachinery's Lexer).
_TOKEN = re.compile(r"\s*(!=|==|[!=(),<>]|[^\s!=(),<>]+)")
_SYMBOLS = frozenset({"!=", "==", "!", "=", "(", ")", ",", "<", ">"})
_OPERATORS = "in, notin, =, ==, !=, gt, lt"


class SelectorError(ValueError):
    """A label selector that does not parse; the message is what the API server answers (400)."""


@dataclass(frozen=True)
class Requirement:
    """One label requirement: key, operator (=, !=, in, notin, exists, !, gt, lt) and values."""

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
        if value is None or not _INTEGER.match(value):
            return False  # gt/lt: a missing or non-integer label value never matches
        bound = int(self.values[0])
        return int(value) > bound if self.operator == "gt" else int(value) < bound


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:  # pragma: no cover - every non-space character starts some token
            raise SelectorError(f"unable to parse requirement: found '{text[position:]}'")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def label_key_problem(key: str) -> str | None:
    """Why ``key`` is not a qualified label key ([prefix/]name), or None."""
    parts = key.split("/")
    if len(parts) > 2:
        return ("a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an "
                "optional DNS subdomain prefix and '/'")
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            return "prefix part must be non-empty"
        if len(prefix) > _PREFIX_MAX or not _DNS1123_SUBDOMAIN.match(prefix):
            return ("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                    "characters, '-' or '.', and must start and end with an alphanumeric character")
    if not name:
        return "name part must be non-empty"
    if len(name) > _NAME_MAX:
        return f"name part must be no more than {_NAME_MAX} characters"
    if not _NAME.match(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
                "and end with an alphanumeric character")
    return None


def label_value_problem(value: str) -> str | None:
    """Why ``value`` is not a label value (empty, or at most 63 name characters), or None."""
    if value and (len(value) > _NAME_MAX or not _NAME.match(value)):
        return ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
                "or '.', and must start and end with an alphanumeric character")
    return None


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.index += 1
        return token

    def key(self) -> str:
        token = self.take()
        if token is None or token in _SYMBOLS:
            raise SelectorError(f"unable to parse requirement: found '{token or ''}', expected: identifier")
        problem = label_key_problem(token)
        if problem is not None:
            raise SelectorError(f"unable to parse requirement: invalid label key \"{token}\": {problem}")
        return token

    @staticmethod
    def value(token: str, index: int = 0) -> str:
        problem = label_value_problem(token)
        if problem is not None:
            raise SelectorError(f"unable to parse requirement: values[{index}]: Invalid value: "
                                f"\"{token}\": {problem}")
        return token

    def exact_value(self) -> str:
        token = self.peek()
        if token is None or token == ",":
            return ""
        if token in _SYMBOLS:
            raise SelectorError(f"unable to parse requirement: found '{token}', expected: identifier")
        self.take()
        return self.value(token)

    def value_set(self) -> tuple[str, ...]:
        opening = self.take()
        if opening != "(":
            raise SelectorError(f"unable to parse requirement: found '{opening or ''}', expected: '('")
        values: list[str] = []
        expect_value = True
        while True:
            token = self.take()
            if token is None:
                raise SelectorError("unable to parse requirement: found '', expected: ',', ')' or identifier")
            if token == ")":
                if values and expect_value:
                    values.append("")  # "(a,)"
                break
            if token == ",":
                if expect_value:
                    values.append("")  # "(,a)" or "(a,,b)": an empty value
                expect_value = True
                continue
            if token in _SYMBOLS or not expect_value:
                raise SelectorError(f"unable to parse requirement: found '{token}', expected: ',', ')' or "
                                    f"identifier")
            values.append(self.value(token, len(values)))
            expect_value = False
        if not values:
            raise SelectorError("unable to parse requirement: values: Invalid value: []: for 'in', 'notin' "
                                "operators, values set can't be empty")
        return tuple(dict.fromkeys(values))

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.take()
            return Requirement(self.key(), "!")
        key = self.key()
        operator = self.peek()
        if operator is None or operator == ",":
            return Requirement(key, "exists")
        self.take()
        if operator in ("=", "=="):
            return Requirement(key, "=", (self.exact_value(),))
        if operator == "!=":
            return Requirement(key, "!=", (self.exact_value(),))
        if operator in ("in", "notin"):
            return Requirement(key, operator, self.value_set())
        if operator in (">", "<"):
            bound = self.exact_value()
            if not _INTEGER.match(bound) or not -_INT64 <= int(bound) < _INT64:
                raise SelectorError(f"unable to parse requirement: values[0]: Invalid value: \"{bound}\": "
                                    f"for 'Gt', 'Lt' operators, the value must be an integer")
            return Requirement(key, "gt" if operator == ">" else "lt", (bound,))
        raise SelectorError(f"unable to parse requirement: found '{operator}', expected: {_OPERATORS}")

    def parse(self) -> tuple[Requirement, ...]:
        requirements: list[Requirement] = []
        while self.peek() is not None:
            requirements.append(self.requirement())
            following = self.take()
            if following is None:
                break
            if following != ",":
                raise SelectorError(f"found '{following}', expected: ',' or 'end of string'")
            if self.peek() is None:
                raise SelectorError("found '', expected: identifier after ','")
        return tuple(requirements)


def parse_label_selector(text: str) -> tuple[Requirement, ...]:
    """The requirements of a labelSelector; empty (or blank) text selects everything."""
    return _Parser(text or "").parse()


def labels_match(requirements: tuple[Requirement, ...], labels: Mapping[str, str] | None) -> bool:
    """Whether labels satisfy every requirement."""
    found = labels or {}
    return all(requirement.matches(found) for requirement in requirements)
