"""Unknown and duplicate fields in a write, as kube-apiserver treats them under the request's
``fieldValidation`` directive (Strict / Warn / Ignore), and the warnings it collects.

Owns: the request's directive and warnings (context variables scoped by ``field_validation``),
JSON decoding that notes duplicate fields, and the ``Warning`` headers. Never does: the
schema walk that finds unknown fields (``schema``), or HTTP.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from typing import Any, Iterator

from failsync.sandbox.status import ApiError, field_cause, invalid

FIELD_VALIDATION: contextvars.ContextVar[str] = contextvars.ContextVar("field_validation", default="Warn")
WARNINGS: contextvars.ContextVar[list | None] = contextvars.ContextVar("warnings", default=None)
DUPLICATES: contextvars.ContextVar[list[str]] = contextvars.ContextVar("duplicates", default=[])
_DIRECTIVES = ("Strict", "Warn", "Ignore")
_OPTIONS_KIND = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions"}


@contextlib.contextmanager
def field_validation(directive: str | None, verb: str) -> Iterator[list[str]]:
    """The scope of one write request: its directive (default Warn) and the warnings it collects.

    An unsupported directive is 422, as ``ValidateCreateOptions`` (and its siblings) answer.
    """
    if directive not in (None, "", *_DIRECTIVES):
        raise invalid(_OPTIONS_KIND.get(verb, "CreateOptions"), "meta.k8s.io", "", [field_cause(
            "fieldValidation", "FieldValueNotSupported", f'Unsupported value: "{directive}": supported values: "", '
                                                         '"Ignore", "Strict", "Warn"')])
    warnings: list[str] = []
    tokens = (FIELD_VALIDATION.set(directive or "Warn"), WARNINGS.set(warnings))
    try:
        yield warnings
    finally:
        FIELD_VALIDATION.reset(tokens[0])
        WARNINGS.reset(tokens[1])
        DUPLICATES.set([])


def warning_headers(warnings: list[str]) -> dict[str, str]:
    """``Warning: 299 - "<text>"`` entries (comma-separated, as client-go reads them)."""
    if not warnings:
        return {}
    return {"Warning": ", ".join('299 - ' + json.dumps(text) for text in warnings)}


class _Members(dict):
    """A decoded JSON object that remembers which of its keys appeared more than once."""

    __slots__ = ("repeated",)


def decode_json(body: bytes) -> Any:
    """``json.loads`` that notes duplicate fields (the last one wins) for fieldValidation."""
    found: list[bool] = []

    def members(pairs: list[tuple[str, Any]]) -> dict:
        result = dict(pairs)
        if len(result) == len(pairs):
            return result
        found.append(True)
        repeated = _Members(result)
        keys = [key for key, _ in pairs]
        repeated.repeated = [key for key in dict.fromkeys(keys) if keys.count(key) > 1]
        return repeated

    value = json.loads(body, object_pairs_hook=members)
    duplicates: list[str] = []
    if found:
        value = _plain(value, "", duplicates)
    DUPLICATES.set(duplicates)
    return value


def _plain(value: Any, path: str, duplicates: list[str]) -> Any:
    if isinstance(value, dict):
        prefix = f"{path}." if path else ""
        duplicates.extend(prefix + key for key in getattr(value, "repeated", ()))
        return {key: _plain(child, prefix + key, duplicates) for key, child in value.items()}
    if isinstance(value, list):
        return [_plain(child, f"{path}[{index}]", duplicates) for index, child in enumerate(value)]
    return value


def report_unknown(kind: str, version: str, unknown: list[str]) -> None:
    """Apply the request's fieldValidation to unknown and duplicate fields: 400, warnings or nothing."""
    duplicates = DUPLICATES.get()
    if duplicates:
        DUPLICATES.set([])
    if not unknown and not duplicates:
        return
    directive = FIELD_VALIDATION.get()
    problems = [f'duplicate field "{path}"' for path in duplicates] + [f'unknown field "{path}"' for path in unknown]
    if directive == "Strict":
        raise ApiError(400, "BadRequest", f'{kind} in version "{version}" cannot be handled as a {kind}: '
                                          f'strict decoding error: {", ".join(problems)}')
    if directive == "Warn":
        warnings = WARNINGS.get()
        if warnings is not None:
            warnings.extend(problem for problem in problems if problem not in warnings)


__all__ = ["decode_json", "field_validation", "report_unknown", "warning_headers"]
