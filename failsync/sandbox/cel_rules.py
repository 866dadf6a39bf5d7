"""CEL ``x-kubernetes-validations`` rules of CRD schemas, evaluated as kube-apiserver does.

Owns: compiling a schema node's rules with the ``common-expression-language`` package
(cel-rust bindings), binding ``self`` to the node's value with Kubernetes' escaping of
property names that are CEL keywords (``namespace`` -> ``__namespace__``), and turning a
failed rule into the Status cause the real server gives (``<path>: Invalid value:
"object": <message>``; ``reason``, ``fieldPath`` and ``messageExpression`` honoured).
Not evaluated, as this sandbox cannot: transition rules (those naming ``oldSelf``), rules
using Kubernetes' own CEL library extensions the package lacks (``isURL``, ``quantity``,
``format``...), which are skipped when they fail to compile or run for want of a function.
Never does: the schema walk (``schema``).
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import logging
from pathlib import Path
from typing import Any

from failsync.sandbox.status import field_cause

log = logging.getLogger(__name__)

# Property names Kubernetes escapes in CEL (apiextensions' CEL escaping of reserved words).
_RESERVED = frozenset(("true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function",
                       "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"))
_REASONS = {"FieldValueRequired": "Required value", "FieldValueForbidden": "Forbidden",
            "FieldValueDuplicate": "Duplicate value"}



def _load_cel() -> Any:
    """The package's native module, loaded without its ``__init__`` (which imports a CLI: ~0.8 s)."""
    spec = importlib.util.find_spec("cel")
    if spec is None or not spec.submodule_search_locations:
        return None  # not installed: rules are not evaluated (and the docs say so)
    try:
        native = next(Path(list(spec.submodule_search_locations)[0]).glob("cel.*.so"))
        loader = importlib.machinery.ExtensionFileLoader("cel.cel", str(native))
        native_spec = importlib.util.spec_from_file_location("cel.cel", native, loader=loader)
        if native_spec is None:
            raise ImportError(native)
        module = importlib.util.module_from_spec(native_spec)
        loader.exec_module(module)
        return module
    except (StopIteration, ImportError, OSError):  # another layout: the ordinary (slower) import
        import cel  # noqa: PLC0415

        return cel


_cel = _load_cel()


def _escaped(value: Any) -> Any:
    if isinstance(value, dict):
        return {(f"__{key}__" if key in _RESERVED else key): _escaped(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_escaped(child) for child in value]
    return value


class Rule:
    """One compiled rule of a schema node."""

    def __init__(self, spec: dict, program: Any, message_program: Any) -> None:
        self.text = spec["rule"]
        self.message = spec.get("message") or f"failed rule: {self.text}"
        self.reason = spec.get("reason") or "FieldValueInvalid"
        self.field_path = spec.get("fieldPath") or ""
        self._program = program
        self._message_program = message_program

    def check(self, value: Any, type_name: str, path: str) -> dict[str, str] | None:
        """The cause when ``value`` breaks the rule, else None (also when it cannot be evaluated)."""
        try:
            ok = self._program.execute({"self": _escaped(value)})
        except KeyError as missing:
            ok, message = False, f"no such key: {missing.args[0] if missing.args else ''}"
            return self._cause(path, type_name, message)
        except Exception as error:  # a function the package lacks: the sandbox cannot tell, so it allows
            log.debug("CEL rule %r not evaluated: %s", self.text, error)
            return None
        if ok is True:
            return None
        message = self.message
        if self._message_program is not None:
            try:
                message = str(self._message_program.execute({"self": _escaped(value)}))
            except Exception:  # the real server falls back to message too
                pass
        return self._cause(path, type_name, message)

    def _cause(self, path: str, type_name: str, message: str) -> dict[str, str]:
        where = path + self.field_path if self.field_path.startswith((".", "[")) else path
        if self.reason in _REASONS:
            return field_cause(where, self.reason, f"{_REASONS[self.reason]}: {message}")
        return field_cause(where, "FieldValueInvalid", f'Invalid value: "{type_name}": {message}')


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> Any:
    try:
        return _cel.compile(text)
    except Exception as error:  # a rule this library cannot parse is not evaluated
        log.debug("CEL rule %r not compiled: %s", text, error)
        return None


def compile_rules(specs: list) -> tuple[Rule, ...]:
    """The rules of one schema node that this sandbox can evaluate."""
    if _cel is None:
        return ()
    rules = []
    for spec in specs:
        if not isinstance(spec, dict) or not isinstance(spec.get("rule"), str) or "oldSelf" in spec["rule"]:
            continue
        program = _compile(spec["rule"])
        if program is None:
            continue
        message = spec.get("messageExpression")
        rules.append(Rule(spec, program, _compile(message) if isinstance(message, str) else None))
    return tuple(rules)
