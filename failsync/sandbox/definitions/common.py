"""Small builders for OpenAPI v3 schema fragments shared by the CRD definitions."""

from __future__ import annotations

from typing import Any


def string(description: str = "", **constraints: Any) -> dict:
    """``{"type": "string", ...}``."""
    return {"type": "string", **({"description": description} if description else {}), **constraints}


def integer(description: str = "", **constraints: Any) -> dict:
    """``{"type": "integer", "format": "int32", ...}``."""
    return {"type": "integer", "format": "int32", **({"description": description} if description else {}),
            **constraints}


def obj(properties: dict, *, required: tuple[str, ...] = (), description: str = "", **extra: Any) -> dict:
    """An object schema with properties (and required keys)."""
    schema: dict = {"type": "object", "properties": properties}
    if description:
        schema["description"] = description
    if required:
        schema["required"] = list(required)
    schema.update(extra)
    return schema


def array(items: dict, *, description: str = "", **constraints: Any) -> dict:
    """An array schema."""
    return {"type": "array", "items": items, **({"description": description} if description else {}),
            **constraints}


def crd(group: str, kind: str, plural: str, versions: list[dict], *, short_names: tuple[str, ...] = (),
        categories: tuple[str, ...] = (), annotations: dict | None = None, labels: dict | None = None) -> dict:
    """A namespaced apiextensions.k8s.io/v1 CustomResourceDefinition with conversion None."""
    names: dict = {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()}
    if short_names:
        names["shortNames"] = list(short_names)
    if categories:
        names["categories"] = list(categories)
    metadata: dict = {"name": f"{plural}.{group}"}
    if annotations:
        metadata["annotations"] = dict(annotations)
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": metadata,
            "spec": {"group": group, "names": names, "scope": "Namespaced", "conversion": {"strategy": "None"},
                     "versions": versions}}


def version(name: str, schema: dict, *, storage: bool = False, columns: tuple[dict, ...] = (),
            status: bool = False, deprecated: str = "") -> dict:
    """One served version of a CRD."""
    entry: dict = {"name": name, "served": True, "storage": storage, "schema": {"openAPIV3Schema": schema}}
    if columns:
        entry["additionalPrinterColumns"] = [dict(column) for column in columns]
    if status:
        entry["subresources"] = {"status": {}}
    if deprecated:
        entry["deprecated"] = True
        entry["deprecationWarning"] = deprecated
    return entry


def root(spec: dict, *, status: dict | None = None, description: str = "") -> dict:
    """The root of a custom resource's schema: apiVersion, kind, metadata, spec (and status)."""
    properties = {"apiVersion": string("APIVersion defines the versioned schema of this representation of an object."),
                  "kind": string("Kind is a string value representing the REST resource this object represents."),
                  "metadata": {"type": "object"}, "spec": spec}
    if status is not None:
        properties["status"] = status
    schema = obj(properties, description=description)
    if status is not None:
        schema["required"] = ["spec"]
    return schema


AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
