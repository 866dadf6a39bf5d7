"""Structural schemas, as kube-apiserver applies them to the objects it stores.

Owns: compiling an OpenAPI v3 schema (a CRD version's ``openAPIV3Schema``, or a built-in
kind's definition with ``$ref``s) into a tree of ``Structural`` nodes, and one walk over an
object that prunes unknown fields (unless ``x-kubernetes-preserve-unknown-fields``),
applies ``default``s and checks types, ``required``, ``enum``, ``minimum``/``maximum``,
``minItems``/``maxItems``, ``minLength``/``maxLength`` and ``pattern``, returning Status
causes worded as the real server words them. Also the request's ``fieldValidation``
directive (Strict / Warn / Ignore) and the warnings it collects.
CEL ``x-kubernetes-validations`` rules are evaluated by ``cel_rules``. Never does: HTTP
or storage.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from failsync.sandbox.status import ApiError, field_cause, invalid

_RESOURCE_KEYS = frozenset(("apiVersion", "kind", "metadata"))
_TYPE_NAMES = {dict: "object", list: "array", str: "string", int: "integer", float: "number", bool: "boolean",
               type(None): "null"}


@dataclass
class Outcome:
    """What one walk found: unknown (pruned) field paths and validation causes."""

    unknown: list[str] = field(default_factory=list)
    causes: list[dict[str, str]] = field(default_factory=list)


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return json.dumps(_TYPE_NAMES[type(value)])
    return str(value)


class Structural:
    """One compiled schema node; ``walk`` returns a new value (pruned and defaulted)."""

    __slots__ = ("type", "nullable", "int_or_string", "quantity", "preserve", "embedded", "properties",
                 "additional", "items", "required", "defaults", "enum", "minimum", "maximum", "exclusive_min",
                 "exclusive_max", "min_items", "max_items", "min_length", "max_length", "pattern", "raw",
                 "checks_values", "rules", "passthrough", "visit")

    def __init__(self) -> None:
        self.type = ""
        self.nullable = False
        self.int_or_string = False
        self.quantity = False
        self.preserve = False
        self.embedded = False
        self.properties: dict[str, Structural] = {}
        self.additional: Structural | None = None
        self.items: Structural | None = None
        self.required: tuple[str, ...] = ()
        self.defaults: tuple[tuple[str, Any], ...] = ()
        self.enum: tuple | None = None
        self.minimum = self.maximum = None
        self.exclusive_min = self.exclusive_max = False
        self.min_items = self.max_items = self.min_length = self.max_length = None
        self.pattern: re.Pattern | None = None
        self.raw: dict = {}
        self.checks_values = True
        self.rules: tuple = ()  # compiled x-kubernetes-validations (``cel.Rule``)
        # exact Python types whose values ``walk`` returns unchanged with nothing to report:
        # the callers' loops skip the call for them (most leaves of most objects)
        self.passthrough: frozenset[type] = frozenset()
        # what the walk calls on a child: ``walk``, or (no rules) straight the branch its type takes
        self.visit: Callable[[Any, str, Outcome], Any] = self.walk

    # --- the walk -------------------------------------------------------------------------------
    def walk(self, value: Any, path: str, outcome: Outcome) -> Any:
        """Prune, default and validate ``value`` found at ``path``; returns the new value."""
        if not self.rules:
            return self._walk(value, path, outcome)
        before = len(outcome.causes)
        result = self._walk(value, path, outcome)
        if len(outcome.causes) == before and result is not None:  # CEL rules run on values of the right type
            for rule in self.rules:
                cause = rule.check(result, self.type or "object", path)
                if cause is not None:
                    outcome.causes.append(cause)
        return result

    def _walk(self, value: Any, path: str, outcome: Outcome) -> Any:
        if value is None:
            if not self.nullable and self.checks_values and (self.type or self.int_or_string):
                outcome.causes.append(_type_cause(path, value, self.type or "integer or string"))
            return value
        kind = self.type
        if self.int_or_string:
            if not isinstance(value, (int, str)) or isinstance(value, bool):
                if self.checks_values:
                    outcome.causes.append(_type_cause(path, value, "integer or string"))
            return value
        if self.quantity:
            return value
        if kind == "object" or (not kind and isinstance(value, dict) and (self.properties or self.additional)):
            if not isinstance(value, dict):
                if self.checks_values:
                    outcome.causes.append(_type_cause(path, value, "object"))
                return value
            return self._walk_object(value, path, outcome)
        if kind == "array":
            if not isinstance(value, list):
                if self.checks_values:
                    outcome.causes.append(_type_cause(path, value, "array"))
                return value
            return self._walk_array(value, path, outcome)
        if not self.checks_values or not kind:
            return value
        if kind == "string":
            if not isinstance(value, str):
                outcome.causes.append(_type_cause(path, value, "string"))
                return value
            self._check_string(value, path, outcome)
        elif kind == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                if not (isinstance(value, float) and value.is_integer()):
                    outcome.causes.append(_type_cause(path, value, "integer"))
                    return value
            self._check_number(value, path, outcome)
        elif kind == "number":
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                outcome.causes.append(_type_cause(path, value, "number"))
                return value
            self._check_number(value, path, outcome)
        elif kind == "boolean" and not isinstance(value, bool):
            outcome.causes.append(_type_cause(path, value, "boolean"))
            return value
        if self.enum is not None and value not in self.enum:
            outcome.causes.append(field_cause(path, "FieldValueNotSupported", f"Unsupported value: {_shown(value)}: "
                                              "supported values: " + ", ".join(_shown(v) for v in self.enum)))
        return value

    def _walk_array(self, value: Any, path: str, outcome: Outcome) -> Any:
        if not isinstance(value, list):
            return self._walk(value, path, outcome)
        items = self.items
        result = value
        if items is not None:
            same, visit = items.passthrough, items.visit
            for index, item in enumerate(value):
                if type(item) in same:
                    continue
                walked = visit(item, f"{path}[{index}]", outcome)
                if walked is not item:
                    if result is value:
                        result = list(value)
                    result[index] = walked
        if self.checks_values:
            count = len(value)
            if self.max_items is not None and count > self.max_items:
                outcome.causes.append(field_cause(
                    path, "FieldValueTooMany", f"Too many: {count}: must have at most {self.max_items} items"))
            if self.min_items is not None and count < self.min_items:
                outcome.causes.append(field_cause(
                    path, "FieldValueInvalid",
                    f"Invalid value: {count}: {path} in body should have at least {self.min_items} items"))
        return result

    def _walk_object(self, value: Any, path: str, outcome: Outcome) -> Any:
        # Copy on write: an object the walk leaves as it is comes back itself (stored objects are
        # never mutated, so sharing is safe), which spares most writes a copy of every level.
        if not isinstance(value, dict):
            return self._walk(value, path, outcome)
        prefix = f"{path}." if path else ""
        result: dict | None = None
        properties = self.properties
        resource_root = not path or self.embedded
        for key, child_value in value.items():
            child = properties.get(key)
            if resource_root and key in _RESOURCE_KEYS and (child is None or not child.properties):
                continue  # a CRD's schema says nothing of these: the server's own rules apply
            if child is None:
                child = self.additional
            if child is not None:
                if type(child_value) in child.passthrough:
                    continue
                walked = child.visit(child_value, prefix + key, outcome)
                if walked is not child_value:
                    if result is None:
                        result = dict(value)
                    result[key] = walked
            elif not self.preserve:
                outcome.unknown.append(prefix + key)
                if result is None:
                    result = dict(value)
                del result[key]
        current = value if result is None else result
        for key, default in self.defaults:
            if current.get(key) is None and not (key in current and properties[key].nullable):
                if result is None:
                    current = result = dict(value)
                result[key] = properties[key].walk(copy.deepcopy(default), prefix + key, outcome)
        if self.checks_values:
            for key in self.required:
                if key not in current:
                    outcome.causes.append(field_cause(prefix + key, "FieldValueRequired", "Required value"))
        return current

    def _check_string(self, value: str, path: str, outcome: Outcome) -> None:
        if self.max_length is not None and len(value) > self.max_length:
            outcome.causes.append(field_cause(path, "FieldValueTooLong",
                                              f"Too long: may not be more than {self.max_length} bytes"))
        if self.min_length is not None and len(value) < self.min_length:
            outcome.causes.append(field_cause(path, "FieldValueInvalid", f"Invalid value: {_shown(value)}: {path} in "
                                              f"body should be at least {self.min_length} chars long"))
        if self.pattern is not None and not self.pattern.search(value):
            outcome.causes.append(field_cause(path, "FieldValueInvalid", f"Invalid value: {_shown(value)}: {path} in "
                                              f"body should match '{self.pattern.pattern}'"))

    def _check_number(self, value: float, path: str, outcome: Outcome) -> None:
        if self.maximum is not None and (value > self.maximum or (self.exclusive_max and value == self.maximum)):
            word = "less than" if self.exclusive_max else "less than or equal to"
            outcome.causes.append(field_cause(path, "FieldValueInvalid", f"Invalid value: {_shown(value)}: {path} in "
                                              f"body should be {word} {_number(self.maximum)}"))
        if self.minimum is not None and (value < self.minimum or (self.exclusive_min and value == self.minimum)):
            word = "greater than" if self.exclusive_min else "greater than or equal to"
            outcome.causes.append(field_cause(path, "FieldValueInvalid", f"Invalid value: {_shown(value)}: {path} in "
                                              f"body should be {word} {_number(self.minimum)}"))

    def child(self, *keys: str) -> "Structural | None":
        """The node at a property path (``child("spec", "replicas")``), or None."""
        node: Structural | None = self
        for key in keys:
            if node is None:
                return None
            node = node.properties.get(key) or node.additional
        return node


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _type_cause(path: str, value: Any, wanted: str) -> dict[str, str]:
    name = _TYPE_NAMES.get(type(value), type(value).__name__)
    return field_cause(path, "FieldValueTypeInvalid",
                       f'Invalid value: "{name}": {path} in body must be of type {wanted}: "{name}"')


# --- compiling ----------------------------------------------------------------------------------

def compile_schema(schema: dict, resolve: Callable[[str], dict] | None = None, *,
                   check_values: bool = True) -> Structural:
    """Compile a schema; ``resolve`` maps a ``$ref`` to its schema (built-in definitions).

    ``check_values=False`` compiles a schema used only for pruning and defaults (built-in
    kinds, whose validation is Go code rather than their OpenAPI schema).
    """
    memo: dict[str, Structural] = {}

    def build(node: dict) -> Structural:
        ref = node.get("$ref")
        if ref is None and len(node.get("allOf") or ()) == 1 and "$ref" in node["allOf"][0]:
            ref = node["allOf"][0]["$ref"]
        if ref is not None and resolve is not None:
            if ref in memo:
                return memo[ref]
            target = Structural()
            memo[ref] = target
            _fill(target, resolve(ref), build, check_values)
            return target
        result = Structural()
        _fill(result, node, build, check_values)
        return result

    return build(schema)


def _fill(target: Structural, node: dict, build: Callable[[dict], Structural], check_values: bool) -> None:
    target.raw = node
    target.checks_values = check_values
    kind = node.get("type", "")
    if isinstance(kind, list):  # JSON-schema style ["string", "null"]
        target.nullable = "null" in kind
        kind = next((k for k in kind if k != "null"), "")
    target.type = kind
    target.nullable = target.nullable or bool(node.get("nullable"))
    one_of = {tuple(o.get("type")) if isinstance(o.get("type"), list) else o.get("type")
              for o in node.get("oneOf") or () if isinstance(o, dict)}
    flat = {t for entry in one_of for t in (entry if isinstance(entry, tuple) else (entry,))} - {"null"}
    target.int_or_string = bool(node.get("x-kubernetes-int-or-string")) or node.get("format") == "int-or-string" \
        or flat == {"string", "integer"}
    target.quantity = flat == {"string", "number"}
    if target.int_or_string or target.quantity:
        target.type = ""
    target.preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    target.embedded = bool(node.get("x-kubernetes-embedded-resource"))
    target.properties = {key: build(child) for key, child in (node.get("properties") or {}).items()
                         if isinstance(child, dict)}
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        target.additional = build(additional)
    elif additional is True:
        target.preserve = True
    if isinstance(node.get("items"), dict):
        target.items = build(node["items"])
    target.required = tuple(node.get("required") or ())
    target.defaults = tuple((key, child.raw["default"]) for key, child in target.properties.items()
                            if "default" in child.raw)
    if node.get("enum") is not None:
        target.enum = tuple(node["enum"])
    target.minimum, target.maximum = node.get("minimum"), node.get("maximum")
    target.exclusive_min, target.exclusive_max = bool(node.get("exclusiveMinimum")), bool(node.get("exclusiveMaximum"))
    target.min_items, target.max_items = node.get("minItems"), node.get("maxItems")
    target.min_length, target.max_length = node.get("minLength"), node.get("maxLength")
    if node.get("pattern"):
        try:
            target.pattern = re.compile(node["pattern"])
        except re.error:
            target.pattern = None
    if check_values and node.get("x-kubernetes-validations"):
        from failsync.sandbox import cel_rules  # noqa: PLC0415 - only schemas with rules need CEL

        target.rules = cel_rules.compile_rules(node["x-kubernetes-validations"])
    target.passthrough = _passthrough(target)
    if not target.rules and kind in ("object", "array") and not (target.int_or_string or target.quantity):
        target.visit = target._walk_object if kind == "object" else target._walk_array


_SCALARS = frozenset((str, int, float, bool))


def _passthrough(node: Structural) -> frozenset[type]:
    """The value types ``node.walk`` leaves unchanged without a cause (mirrors ``_walk``'s branches)."""
    if node.rules:
        return frozenset()
    kind, checks = node.type, node.checks_values
    passes: frozenset[type]
    if node.int_or_string:
        passes = frozenset((int, str)) if checks else _SCALARS
    elif node.quantity or not checks or not kind:
        passes = _SCALARS
    elif kind in ("object", "array"):
        passes = frozenset()
    elif node.enum is not None:
        passes = frozenset()
    elif kind == "string":
        plain = node.max_length is None and node.min_length is None and node.pattern is None
        passes = frozenset((str,)) if plain else frozenset()
    elif kind in ("integer", "number"):
        plain = node.minimum is None and node.maximum is None
        passes = frozenset() if not plain else frozenset((int,)) if kind == "integer" else frozenset((int, float))
    elif kind == "boolean":
        passes = frozenset((bool,))
    else:
        passes = _SCALARS
    if not (checks and not node.nullable and (kind or node.int_or_string)):
        passes |= {type(None)}
    return passes


# --- fieldValidation ----------------------------------------------------------------------------

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


def coerce(structural: Structural, obj: dict, kind: str, version: str, *,
           sort_unknown: bool = False) -> tuple[dict, list[dict[str, str]]]:
    """Prune, default and validate an object received in a write; returns (object, causes).

    Unknown fields are reported through the request's fieldValidation directive, sorted
    for custom resources (as apiextensions' pruning lists them), else in body order (as Go's
    strict JSON decoder meets them).
    """
    outcome = Outcome()
    result = structural.visit(obj, "", outcome)
    report_unknown(kind, version, sorted(outcome.unknown) if sort_unknown else outcome.unknown)
    return result, outcome.causes


def on_read(structural: Structural, obj: dict) -> dict:
    """Prune and default a stored object as served at another version (no validation)."""
    return structural.visit(obj, "", Outcome())
