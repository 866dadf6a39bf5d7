"""Checks of single values that the policy validators share, worded for file:line:key messages.

Owns: what a message calls a YAML value's type, "one of a, b" lists, DNS-1123 labels (Service and
object names) and the labels a policy puts on its rendered object (the key and value grammar is
``failsync.core.selectors``'s, the one the API server applies). The document's structure, and where
each problem is, belong to ``failsync.core.policy_schema``.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from failsync.core.model import MANAGED_BY_LABEL
from failsync.core.policy_fields import DNS1123_LABEL_MAX, DNS1123_LABEL_PATTERN
from failsync.core.selectors import label_key_problem, label_value_problem

# The table's pattern, anchored at the very end (Python's "$" also matches before a final newline).
_DNS1123_LABEL = re.compile(DNS1123_LABEL_PATTERN.removesuffix("$") + r"\Z")


def type_name(value: Any) -> str:
    """How a message names the type of a value read from YAML ("string", "mapping", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


@functools.lru_cache(maxsize=None)
def one_of(choices: tuple[str, ...]) -> str:
    """``one of a, b, c``: the accepted values, as a message lists them."""
    return "one of " + ", ".join(choices)


def is_dns_label(value: str) -> bool:
    """Whether ``value`` is a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)."""
    return len(value) <= DNS1123_LABEL_MAX and _DNS1123_LABEL.match(value) is not None


def label_problem(key: str, value: Any) -> str | None:
    """Why ``key: value`` cannot be a label of a policy's rendered object, or None."""
    if label_key_problem(key) is not None:
        return (f"invalid label key {key!r}; expected a label key: [prefix/]name, name at most 63 characters "
                f"of letters, digits, '-', '_', '.', starting and ending with a letter or digit; prefix a "
                f"DNS-1123 subdomain")
    if key == MANAGED_BY_LABEL:
        return "is set by failsync itself; expected any other label key"
    expected = ("expected a string of at most 63 letters, digits, '-', '_', '.', starting and ending "
                "with a letter or digit (quote numbers and booleans)")
    if not isinstance(value, str):
        return f"found the {type_name(value)} {value!r}; {expected}"
    if label_value_problem(value) is not None:
        return f"invalid label value {value!r}; {expected}"
    return None
