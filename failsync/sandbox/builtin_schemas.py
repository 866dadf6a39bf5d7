"""The OpenAPI schemas of the built-in kinds, from a published Kubernetes version (v1.32).

Owns: reading the definitions the ``kubernetes-validate`` package ships (JSON-schema
renderings of kube-apiserver's own swagger), turning them back into OpenAPI form (single
``type``, ``$ref`` to ``#/definitions/``, int-or-string and Quantity as the swagger spells
them), finding a kind's definition by its ``x-kubernetes-group-version-kind``, and the
compiled structural schemas used to prune unknown fields of built-in objects. Never does:
validation of built-in objects (kube-apiserver does that in Go code; ``kinds`` mirrors it).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import threading
from pathlib import Path
from typing import Any

from failsync.sandbox import schema

KUBERNETES_VERSION = "v1.32.0"
_PACKAGE = "kubernetes_validate"
_LOCK = threading.Lock()


def _convert(node: Any, prefix: str) -> Any:
    """One JSON-schema node back to OpenAPI form, with refs under ``prefix``."""
    if isinstance(node, list):
        return [_convert(item, prefix) for item in node]
    if not isinstance(node, dict):
        return node
    one_of = node.get("oneOf")
    if isinstance(one_of, list):
        kinds = {t for option in one_of for t in (option.get("type") if isinstance(option.get("type"), list)
                                                  else [option.get("type")])} - {"null", None}
        if kinds == {"string", "integer"}:
            return {**{k: v for k, v in node.items() if k != "oneOf"}, "type": "string", "format": "int-or-string"}
        if kinds == {"string", "number"}:
            return {**{k: v for k, v in node.items() if k != "oneOf"}, "type": "string"}
    result = {}
    for key, value in node.items():
        if key in ("$schema", "$id"):
            continue
        if key == "type" and isinstance(value, list):
            value = next((t for t in value if t != "null"), None)
            if value is None:
                continue
        elif key == "$ref" and isinstance(value, str):
            value = prefix + value.rsplit("/", 1)[-1]
        elif key in ("properties", "patternProperties") and isinstance(value, dict):
            value = {name: _convert(child, prefix) for name, child in value.items()}
        else:
            value = _convert(value, prefix)
        result[key] = value
    return result


#: Definitions the API server decodes as raw JSON, never pruned: managedFields' field tries.
_RAW_JSON = ("io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",)


@functools.cache
def _raw() -> dict[str, dict]:
    # find_spec locates the package without importing it (its __init__ pulls in jsonschema: ~0.5 s)
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {_PACKAGE} package (a failsync dependency) is not installed")
    folder = Path(list(spec.submodule_search_locations)[0]) / "kubernetes-json-schema" / f"{KUBERNETES_VERSION}-local"
    found = json.loads((folder / "_definitions.json").read_text())["$defs"]
    for name in _RAW_JSON:
        if name in found:
            found[name] = {**found[name], "x-kubernetes-preserve-unknown-fields": True}
    return found


@functools.cache
def definition(name: str, prefix: str = "#/definitions/") -> dict | None:
    """One definition of the Kubernetes version in OpenAPI form, refs under ``prefix`` (converted on demand)."""
    node = _raw().get(name)
    return None if node is None else _convert(node, prefix)


@functools.cache
def _by_gvk() -> dict[tuple[str, str, str], str]:
    index = {}
    for name, node in _raw().items():
        for gvk in node.get("x-kubernetes-group-version-kind") or ():
            index.setdefault((gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")), name)
    return index


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The definition of a built-in kind (``io.k8s.api.apps.v1.Deployment``), or None."""
    return _by_gvk().get((group, version, kind))


def closure(names: list[str], prefix: str = "#/definitions/") -> dict[str, dict]:
    """The named definitions and every definition they reference, in OpenAPI form."""
    found: dict[str, dict] = {}
    pending = [name for name in names if name in _raw()]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found[name] = definition(name, prefix)
        pending.extend(ref.rsplit("/", 1)[-1] for ref in _refs(found[name]))
    return found


def _refs(node: Any):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


_COMPILED: dict[str, schema.Structural | None] = {}
# Kept as raw JSON by kube-apiserver, so never pruned nor reported as unknown fields (managedFields' trees).
_OPAQUE = frozenset({"io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1"})


def _compiled_node(every: dict[str, dict], ref: str) -> dict:
    name = ref.rsplit("/", 1)[-1]
    return dict(every[name], **{"x-kubernetes-preserve-unknown-fields": True}) if name in _OPAQUE else every[name]


def structural(group: str, version: str, kind: str) -> schema.Structural | None:
    """The compiled schema of a built-in kind, for pruning and defaults only (no value checks)."""
    name = definition_name(group, version, kind)
    return None if name is None else compiled(name)


OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def compiled(name: str) -> schema.Structural:
    """One definition compiled for pruning and defaults only (no value checks)."""
    with _LOCK:
        if name not in _COMPILED:
            _COMPILED[name] = schema.compile_schema(definition(name), lambda ref: definition(ref.rsplit("/", 1)[-1]),
                                                    check_values=False)
        return _COMPILED[name]
