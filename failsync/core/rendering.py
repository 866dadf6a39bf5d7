"""Rendering: a Policy and its weights -> the one Kubernetes object it stands for.

Owns: the Jinja2 environment (sandboxed, StrictUndefined; templates found only by file
name through ``template_loader``: built-in ones shipped as ``failsync.templates``,
optionally overridden from a directory), YAML-safe emission of every value, and the
check that the output is exactly one object of the expected kind and apiVersion (and,
for an override template, keeps to ``target_schema``). Never touches a cluster and
never decides weights.

Safety: every ``{{ expression }}`` passes through ``emit`` (the environment's
``finalize``), which writes strings as double-quoted scalars with every special
character escaped and numbers as plain numbers, so no policy value can add, remove
or rename a key, whatever template is used. A template made only of text and
``{{ variable }}`` (every built-in one) is filled in directly, without a Jinja context
per policy; when it is one JSON document with each variable a whole value (every
built-in one), it is compiled once into an expression that builds the object without
text at all; a built-in one is compiled so without importing Jinja2. Either way the object
is exactly what Jinja's output parses to. Any other template is rendered by Jinja, sandboxed.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from failsync.core import targets
from failsync.core.model import (
    LINKERD_PRIMARY_ANNOTATION,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    POLICY_ANNOTATION,
    InactiveBackends,
    Policy,
    Target,
)
from failsync.core.target_schema import rendered_object_problem, with_ownership_marks
from failsync.core.simple_yaml import full_loader
from failsync.core.template_loader import template_loader, template_source
from failsync.errors import TemplateError

if TYPE_CHECKING:  # Jinja2 is imported only to render a template the direct builder cannot take
    import jinja2
    from jinja2 import nodes


# Characters json.dumps leaves as they are but YAML would reject or fold: C1 controls
# and DEL (not printable in YAML), line/paragraph separators and NEL (line breaks
# in YAML 1.1), BOM, non-characters and lone surrogates.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


class Emitted(str):
    """Text already emitted as YAML; ``emit`` passes it through unchanged."""

    __slots__ = ()


def _escape_unsafe(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def emit(value: Any) -> Emitted:
    """``value`` as a YAML flow scalar/collection that parses back to exactly ``value``."""
    kind = type(value)
    if kind is str:
        text = _json_string(value)
    elif kind is dict or kind is list:
        text = _JSON_COLLECTION.encode(value)
    elif isinstance(value, Emitted):
        return value
    elif isinstance(value, str):
        text = _json_string(value)
    elif value is None or isinstance(value, (bool, int)):
        text = json.dumps(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise TemplateError(f"cannot render the number {value!r}")
        text = repr(value)
    elif isinstance(value, (Mapping, list, tuple)):
        text = _JSON_COLLECTION.encode(value)
    elif "jinja2" in sys.modules and isinstance(value, sys.modules["jinja2"].Undefined):  # none without Jinja2
        str(value)  # StrictUndefined raises UndefinedError naming the variable
        raise TemplateError("undefined value")
    else:
        raise TemplateError(f"cannot render a value of type {type(value).__name__}")
    if _YAML_UNSAFE.search(text):
        text = _YAML_UNSAFE.sub(_escape_unsafe, text)
    return Emitted(text)


def _not_serialisable(value: Any) -> Any:
    raise TemplateError(f"cannot render a value of type {type(value).__name__}")


# One encoder for all calls: json.dumps with any non-default argument builds a new
# JSONEncoder every time, which was most of the cost of rendering a policy.
_JSON_COLLECTION = json.JSONEncoder(ensure_ascii=False, default=_not_serialisable)
_json_string = json.encoder.encode_basestring  # what that encoder does for a str


def quantity_weights(backends: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Backends with weights as Kubernetes quantities (strings), as TrafficSplit v1alpha1 spells them."""
    return [{**backend, "weight": str(backend["weight"])} for backend in backends]


# Plain (unquoted) YAML scalars only for text that cannot mean anything else in YAML
# 1.1 or 1.2: starts with a letter, no spaces or indicators, not a boolean/null word.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9._/-]*\Z")
_NOT_PLAIN_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})
# Keys and many values repeat across objects; remembering their text halves the emitter's
# cost. Bounded so a long-running process never grows it without limit.
_TEXT_CACHE: dict[str, str] = {}
_TEXT_CACHE_SIZE = 4096


def _scalar_text(value: Any) -> str:
    if type(value) is str:
        text = _TEXT_CACHE.get(value)
        if text is None:
            text = _plain_or_emitted(value)
            if len(_TEXT_CACHE) < _TEXT_CACHE_SIZE:
                _TEXT_CACHE[value] = text
        return text
    if type(value) is int:
        return str(value)
    return _plain_or_emitted(value)


def _plain_or_emitted(value: Any) -> str:
    if isinstance(value, str) and _PLAIN.match(value) and value.lower() not in _NOT_PLAIN_WORDS:
        return value
    return str(emit(value))


def to_yaml(obj: Any) -> str:
    """Block-style YAML for JSON-shaped data (dicts, lists, strings, numbers), keys in order.

    ~10x faster than yaml.dump for rendered objects; ``yaml.safe_load`` reads it back to ``obj``.
    """
    lines: list[str] = []
    _emit(obj, lines)
    return "\n".join(lines) + "\n"


def to_yaml_documents(objects: Iterable[Any]) -> str:
    """``to_yaml`` of each object, each opened by ``---``: the text of a multi-document stream.

    The lines of all objects are joined once (a join per object cost ~10% of emitting 10,000).
    """
    lines: list[str] = []
    for obj in objects:
        lines.append("---")
        _emit(obj, lines)
    return "\n".join(lines) + "\n" if lines else ""


def _emit(obj: Any, lines: list[str]) -> None:
    if _is_block(obj):
        _emit_block(obj, "", "", lines)
    else:
        lines.append(_flow(obj))


def _is_block(value: Any) -> bool:
    """A non-empty mapping or list: written over several lines rather than inline."""
    kind = type(value)
    if kind is dict or kind is list:
        return bool(value)
    return bool(value) and isinstance(value, (Mapping, list, tuple))


def _emit_block(value: Any, indent: str, first: str, lines: list[str]) -> None:
    """Append the lines of the non-empty container ``value`` at ``indent``.

    ``first`` replaces the indentation of the first line: a list item's ``- `` marker
    sits on the first line of the item's own block.
    """
    # Exact-type fast paths for what rendered objects are made of (str, int, dict, list), a
    # list told from a mapping before any isinstance(..., Mapping) (an ABC check, the slowest
    # test here); anything else takes the general path.
    prefix = first
    nested = indent + "  "
    kind = type(value)
    if kind is list or (kind is not dict and not isinstance(value, Mapping)):
        for item in value:
            item_kind = type(item)
            if item_kind is str or item_kind is int or not _is_block(item):
                lines.append(f"{prefix}- {_flow(item)}")
            else:
                _emit_block(item, nested, f"{prefix}- ", lines)
            prefix = indent
        return
    for key, item in value.items():
        key_text = _TEXT_CACHE.get(key) if type(key) is str else None
        head = f"{prefix}{key_text or _scalar_text(key)}:"
        prefix = indent
        item_kind = type(item)
        if item_kind is str:
            lines.append(f"{head} {_TEXT_CACHE.get(item) or _scalar_text(item)}")
        elif item_kind is int:
            lines.append(f"{head} {item}")  # what _scalar_text gives an int
        elif item_kind is dict and item:
            lines.append(head)
            _emit_block(item, nested, nested, lines)
        elif item_kind is list and item:
            lines.append(head)
            _emit_block(item, indent, indent, lines)
        elif _is_block(item):
            lines.append(head)
            if isinstance(item, (list, tuple)):
                _emit_block(item, indent, indent, lines)
            else:
                _emit_block(item, nested, nested, lines)
        else:
            lines.append(f"{head} {_flow(item)}")


def _flow(value: Any) -> str:
    kind = type(value)
    if kind is str or kind is int:
        return _scalar_text(value)
    if kind is dict or isinstance(value, Mapping):
        return "{}"
    if kind is list or isinstance(value, (list, tuple)):
        return "[]"
    return _scalar_text(value)


#: Groups whose templates are named by kind and version alone (a kind belongs to one of them).
_PLAIN_TEMPLATE_GROUPS = frozenset({targets.SMI_GROUP, targets.GATEWAY_GROUP})


def template_name(target: Target) -> str:
    """File name of the template for a target, e.g. ``trafficsplit-v1alpha2.yaml.j2``.

    Kinds of another group carry it in the name (``httproute-policy.linkerd.io-v1beta3.yaml.j2``),
    so Linkerd's HTTPRoute and the Gateway API's never share a template.
    """
    group, _, version = target.api_version.rpartition("/")
    if group in _PLAIN_TEMPLATE_GROUPS:
        return f"{target.kind.lower()}-{version}.yaml.j2"
    return f"{target.kind.lower()}-{group}-{version}.yaml.j2"


class Renderer:
    """Renders policies to objects; templates are compiled once and reused.

    ``overrides``: a directory whose files replace built-in templates of the same name.
    """

    def __init__(self, overrides: Path | None = None) -> None:
        self.overrides = Path(overrides) if overrides is not None else None
        self._environment: jinja2.Environment | None = None
        self._templates: dict[str, tuple[jinja2.Template, _Pieces | None, bool, _Builder | None]] = {}
        self._direct: dict[str, _Builder | None] = {}

    def _jinja(self) -> jinja2.Environment:
        """The sandboxed Jinja2 environment, made (and Jinja2 imported) on first use."""
        if self._environment is None:
            import jinja2
            from jinja2.sandbox import SandboxedEnvironment

            self._environment = SandboxedEnvironment(
                loader=template_loader(self.overrides),
                undefined=jinja2.StrictUndefined,
                finalize=emit,
                autoescape=False,
                auto_reload=False,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
            )
            self._environment.filters.update(_FILTERS)
            # Templates compute from the context only: no helpers beyond the sandbox's safe builtins.
            for name in ("lipsum", "cycler", "joiner"):
                self._environment.globals.pop(name, None)
        return self._environment

    def _template(self, target: Target) -> tuple[jinja2.Template, _Pieces | None, bool, _Builder | None]:
        """The compiled template of ``target``, its text-and-variables pieces (or None), whether
        it is a built-in one (trusted: its output needs no schema check), and its direct builder (or None)."""
        name = template_name(target)
        found = self._templates.get(name)
        if found is None:
            environment = self._jinja()
            import jinja2

            try:
                template = environment.get_template(name)
                source, filename, _ = environment.loader.get_source(environment, name)  # type: ignore[union-attr]
                pieces = _pieces(environment, environment.parse(source))
                found = (template, pieces, filename is None, None if pieces is None else _builder(pieces))
            except jinja2.TemplateNotFound:
                raise self._not_found(name, target) from None
            except jinja2.TemplateSyntaxError as error:
                raise TemplateError(f"template {name}, line {error.lineno}: {error.message}") from None
            except TemplateError as error:
                raise TemplateError(f"template {name}: {error}") from None
            self._templates[name] = found
        return found

    def _not_found(self, name: str, target: Target) -> TemplateError:
        where = f"{self.overrides} or the built-in templates" if self.overrides else "the built-in templates"
        return TemplateError(f"no template {name} for {target.kind} {target.api_version} in {where}")

    def _direct_builder(self, name: str, target: Target) -> _Builder | None:
        """The direct builder of built-in template ``name``, compiled without Jinja2; None when the
        template is overridden, or not plain text and variables (Jinja2 compiles and renders those).

        What Jinja2 would output differs from the text read here only in whitespace around
        ``{# comments #}``, which changes no JSON value (a JSON string holds no line break):
        the builder is the one ``_template`` gives (a property test pins both to Jinja's output).
        """
        if name in self._direct:
            return self._direct[name]
        builder = None
        try:
            found = template_source(self.overrides, name)
        except TemplateError as error:
            raise TemplateError(f"template {name}: {error}") from None
        if found is None:
            raise self._not_found(name, target)
        source, filename = found
        if filename is None:
            pieces = _plain_pieces(source)
            builder = None if pieces is None else _builder(pieces)
        self._direct[name] = builder
        return builder

    def render(self, policy: Policy, weights: Mapping[str, int] | None = None) -> dict[str, Any]:
        """The object ``policy`` renders to with ``weights`` (None: primary 1, others 0)."""
        name = template_name(policy.target)
        builder = self._direct_builder(name, policy.target)
        variables = context(policy, weights)
        if builder is not None:  # a built-in template: rendered without Jinja2 (~40 ms of start-up)
            try:
                obj = builder(variables)
            except (_NotDirect, RecursionError):
                pass  # a value the builder does not copy: Jinja's text path below decides
            else:
                return _checked(obj, policy, name, True)
        template, pieces, builtin, jinja_builder = self._template(policy.target)
        if jinja_builder is not None and builder is None:  # (the same builder would fail again)
            try:
                obj = jinja_builder(variables)
            except (_NotDirect, RecursionError):
                pass  # a value the builder does not copy: the text path below decides
            else:
                return _checked(obj, policy, template.name or name, builtin)
        import jinja2

        try:
            if pieces is None:
                text = template.render(variables)
            else:
                text = _fill(pieces, variables)
        except (TemplateError, jinja2.TemplateError) as error:
            raise TemplateError(f"template {template.name} failed for policy {policy.key}: {error}") from None
        except RecursionError:
            raise TemplateError(f"template {template.name} failed for policy {policy.key}: it includes "
                                f"itself without end") from None
        return check_rendered(text, policy, template.name or template_name(policy.target),
                              trusted=builtin)


# A template made only of text and {{ variable }} / {{ variable | filter }} as pieces:
# (text, "", None) or ("", variable, filter or None).
_Pieces = list[tuple[str, str, Any]]
#: The variables ``context`` gives every template.
CONTEXT_VARIABLES = frozenset({"name", "namespace", "labels", "annotations", "service", "primary",
                               "backends", "kind", "api_version", "port", "backend_refs"})
_DIRECT_FILTERS = frozenset({"yaml", "quantity_weights"})
#: The filters templates may use beyond Jinja's own.
_FILTERS: dict[str, Callable[[Any], Any]] = {"yaml": emit, "quantity_weights": quantity_weights}
_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_VARIABLE = re.compile(r"\{\{ *([A-Za-z_][A-Za-z0-9_]*) *(?:\| *([A-Za-z_][A-Za-z0-9_]*) *)?\}\}")


def _plain_pieces(source: str) -> _Pieces | None:
    """The pieces ``_pieces`` finds, read without Jinja2 from a template of only text, ``{# comments #}``
    and ``{{ variable }}`` / ``{{ variable | filter }}`` (every built-in one); None for anything else."""
    text = _COMMENT.sub("", source)
    pieces: _Pieces = []
    position = 0
    for found in _VARIABLE.finditer(text):
        name, filter_name = found.groups()
        if name not in CONTEXT_VARIABLES or filter_name is not None and filter_name not in _DIRECT_FILTERS:
            return None
        pieces.append((text[position:found.start()], "", None))
        pieces.append(("", name, None if filter_name is None else _FILTERS[filter_name]))
        position = found.end()
    pieces.append((text[position:], "", None))
    if any(marker in piece for piece, _, _ in pieces for marker in ("{{", "{%", "{#")):
        return None  # a tag, a comment left open or another expression: Jinja2's to read
    return pieces


def _pieces(environment: jinja2.Environment, tree: nodes.Template) -> _Pieces | None:
    """The template as text and emitted variables, or None if it does anything else.

    Such a template (every built-in one) renders to exactly what Jinja renders, text
    joined with ``emit`` of each variable, without a Jinja context per policy (~40% of
    rendering). Anything else (tags, attributes, calls, other filters or names) is
    rendered by Jinja, sandboxed.
    """
    from jinja2 import nodes

    pieces: _Pieces = []
    for output in tree.body:
        if not isinstance(output, nodes.Output):
            return None
        for node in output.nodes:
            apply = None
            if isinstance(node, nodes.Filter) and node.name in _DIRECT_FILTERS and node.node is not None and not (
                    node.args or node.kwargs or node.dyn_args or node.dyn_kwargs):
                apply = environment.filters[node.name]
                node = node.node
            if isinstance(node, nodes.TemplateData) and apply is None:
                pieces.append((node.data, "", None))
            elif isinstance(node, nodes.Name) and node.ctx == "load" and node.name in CONTEXT_VARIABLES:
                pieces.append(("", node.name, apply))
            else:
                return None
    return pieces


def _fill(pieces: _Pieces, variables: Mapping[str, Any]) -> str:
    """What Jinja renders for a text-and-variables template: the text, each variable emitted."""
    parts = []
    for text, name, apply in pieces:
        if not name:
            parts.append(text)
        elif apply is None:
            parts.append(emit(variables[name]))
        else:
            parts.append(emit(apply(variables[name])))
    return "".join(parts)


# A template whose text-and-variables pieces form one JSON document with every variable a whole
# value (every built-in one) is compiled once into a Python expression building the object
# directly: json.loads(_fill(...)) without emitting and re-parsing each policy's text (~half of
# rendering). Each variable is copied by ``_plain``, which gives exactly what json.loads(emit(value))
# gives, or raises _NotDirect for anything else, and render then takes the text path.
_Builder = Callable[[Mapping[str, Any]], Any]
_SLOT = "\x00failsync-slot-{}\x00"  # no emitted value or template text holds a NUL


class _NotDirect(Exception):
    """A value the direct builder does not copy; the text path renders it."""


def _plain(value: Any) -> Any:
    """A fresh copy of a JSON-shaped ``value`` equal to ``json.loads(emit(value))``; else _NotDirect.

    Exact types only (a str subclass, an IntEnum, a tuple or a float take the text path), and ASCII
    text only: emit escapes some non-ASCII characters, and json.loads joins escaped surrogate pairs.
    """
    kind = type(value)
    if kind is str:
        if value.isascii():
            return value
    elif kind is int or kind is bool or value is None:
        return value
    elif kind is dict:
        copy = {}
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                raise _NotDirect
            item_kind = type(item)  # the scalars inline: one call per container, not per value
            if item_kind is str and item.isascii() or item_kind is int:
                copy[key] = item
            else:
                copy[key] = _plain(item)
        return copy
    elif kind is list:
        return [_plain(item) for item in value]
    raise _NotDirect


def _builder(pieces: _Pieces) -> _Builder | None:
    """The direct builder of a text-and-variables template, or None if it is not one JSON document
    with each variable a whole value (the text path renders it then)."""
    slots: list[tuple[str, Any]] = []
    parts = []
    for text, name, apply in pieces:
        if name:
            parts.append(_json_string(_SLOT.format(len(slots))))
            slots.append((name, apply))
        else:
            parts.append(text)
    try:
        skeleton = json.loads("".join(parts), parse_constant=_no_constant)
    except ValueError:
        return None
    used: list[int] = []
    source = _source(skeleton, slots, used)
    if source is None or sorted(used) != list(range(len(slots))):
        return None  # a slot lost or seen twice (the template spelled one itself): the text path
    # Evaluated from literals of a parsed JSON document (repr) and these names only.
    names = {"__builtins__": {}, "_plain": _plain,
             **{f"_filter{index}": apply for index, (_, apply) in enumerate(slots)}}
    return eval(f"lambda variables: {source}", names)  # type: ignore[no-any-return]


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity: not JSON, left to the text path


def _source(value: Any, slots: list[tuple[str, Any]], used: list[int]) -> str | None:
    """A Python expression building ``value`` with every slot filled from ``variables``, or None."""
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            inner = _source(item, slots, used)
            if inner is None or "\x00" in key:
                return None
            items.append(f"{key!r}: {inner}")
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        inner_items = [_source(item, slots, used) for item in value]
        if None in inner_items:
            return None
        return "[" + ", ".join(inner_items) + "]"  # type: ignore[arg-type]
    if isinstance(value, str) and "\x00" in value:
        index = next((i for i in range(len(slots)) if value == _SLOT.format(i)), None)
        if index is None:
            return None  # a variable inside a string: only the text path renders that
        used.append(index)
        name, apply = slots[index]
        got = f"variables[{name!r}]"
        return f"_plain({got if apply is None else f'_filter{index}({got})'})"
    return repr(value)  # str, int, float, bool, None: literals


def context(policy: Policy, weights: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The variables templates see (documented in docs/policy-format.md)."""
    services = policy.services
    if weights is None:
        backends = [{"service": s, "weight": int(i == 0)} for i, s in enumerate(services)]
    else:
        backends = []
        for service in services:
            weight = weights.get(service, 0)
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
                raise ValueError(f"weight of {service} must be a non-negative integer, got {weight!r}")
            backends.append({"service": service, "weight": weight})
    labels = dict(policy.labels)
    labels[MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    target = policy.target
    backend_refs = None
    if targets.is_route(target.kind):
        omit = target.inactive_backends is InactiveBackends.OMIT
        backend_refs = [{"group": "", "kind": "Service", "name": b["service"], "port": target.port,
                         "weight": b["weight"]} for b in backends if not (omit and b["weight"] == 0)]
    return {
        "name": policy.name,
        "namespace": policy.namespace,
        "labels": labels,
        "annotations": {POLICY_ANNOTATION: policy.key, LINKERD_PRIMARY_ANNOTATION: policy.primary},
        "service": policy.service,
        "primary": policy.primary,
        "backends": backends,
        "kind": target.kind,
        "api_version": target.api_version,
        "port": target.port,  # routes only (None for a TrafficSplit)
        "backend_refs": backend_refs,  # routes only: backends as Gateway API backendRefs
    }


def check_rendered(text: str, policy: Policy, template: str, *, trusted: bool = False) -> dict[str, Any]:
    """Parse rendered text back; it must be one mapping of the policy's kind, apiVersion and name.

    Unless ``trusted`` (a built-in template, whose output tests check against the same schema),
    it must also keep to the target kind's schema and failsync's ownership marks.
    """
    try:
        # Built-in templates write JSON (a subset of YAML) because json parses it ~10x faster.
        obj = json.loads(text)
    except ValueError:
        obj = _load_yaml(text, policy, template)
    return _checked(obj, policy, template, trusted)


def _load_yaml(text: str, policy: Policy, template: str) -> Any:
    import yaml  # a user's template writing YAML; the built-in ones write JSON

    try:
        return yaml.load(text, Loader=full_loader())
    except yaml.YAMLError as error:
        summary = str(error).replace("\n", " ")
        raise TemplateError(f"template {template} produced invalid YAML for policy {policy.key}: "
                            f"{summary}") from None


def _checked(obj: Any, policy: Policy, template: str, trusted: bool) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise TemplateError(f"template {template} produced a {type(obj).__name__} for policy "
                            f"{policy.key}; expected one {policy.target.kind} mapping")
    expected = (policy.target.api_version, policy.target.kind, policy.name, policy.namespace)
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    found = (obj.get("apiVersion"), obj.get("kind"), metadata.get("name"), metadata.get("namespace"))
    if found != expected:
        raise TemplateError(
            f"template {template} produced {found[1]} {found[0]} {found[3]}/{found[2]} for policy "
            f"{policy.key}; expected {expected[1]} {expected[0]} {expected[3]}/{expected[2]}")
    problem = None if trusted else rendered_object_problem(obj, policy)
    if problem is not None:
        raise TemplateError(f"template {template} rendered {problem} for policy {policy.key}; nothing "
                            f"was written")
    return obj if trusted else with_ownership_marks(obj, policy)
