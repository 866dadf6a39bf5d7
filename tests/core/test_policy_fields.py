"""The field table is the one source of the validator's and the CRD's constraints.

Covers: every bounded integer and every enum of the table is what the validator enforces
(the bound accepted, one past it refused with a message naming the table's bounds; every
enum value accepted, another refused) and what the CRD schema says (same bounds, same
values, same defaults, same required keys); every field of the table is documented in
docs/policy-format.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from failsync.core import policy_fields
from failsync.core.crd import failover_policy_crd
from failsync.core.policies import parse_policies
from failsync.core.policy_fields import Field

DOCS = Path(__file__).resolve().parents[2] / "docs" / "policy-format.md"
BASE = {"apiVersion": "failsync.io/v1alpha1", "kind": "FailoverPolicy",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"service": "web", "fallbacks": [{"service": "east"}]}}
#: What a field needs around it to be allowed at all (weights with distribute, port with a route...).
CONTEXT: dict[str, dict[str, Any]] = {
    "spec.primaryWeight": {"mode": "distribute"},
    "spec.fallbacks[].weight": {"mode": "distribute"},
    "spec.target.port": {"target": {"kind": "HTTPRoute"}},
    "spec.target.inactiveBackends": {"target": {"kind": "HTTPRoute", "port": 80}},
    "spec.failover.overprovisioningFactor": {"failover": {"mode": "gradual"}},
    "spec.target.apiVersion": {},
}


def _leaves(node: Field, path: str = "") -> Iterator[tuple[str, Field]]:
    for key, child in node.properties.items():
        child_path = f"{path}.{key}" if path else key
        yield child_path, child
        if child.items is not None:
            yield from _leaves(child.items, child_path + "[]")
        yield from _leaves(child, child_path)


LEAVES = dict(_leaves(policy_fields.DOCUMENT))
BOUNDED = [path for path, f in LEAVES.items() if f.type in ("integer", "number") and f.maximum is not None]
ENUMS = [path for path, f in LEAVES.items() if f.enum is not None and path != "spec.target.apiVersion"]


def _with(path: str, value: Any) -> str:
    document = yaml.safe_load(yaml.safe_dump(BASE))
    spec = document["spec"]
    for key, extra in CONTEXT.get(path, {}).items():
        spec[key] = {**spec.get(key, {}), **extra} if isinstance(extra, dict) else extra
    parts = path.split(".")
    node = document
    for part in parts[:-1]:
        node = node[part[:-2]][0] if part.endswith("[]") else node.setdefault(part, {})
    node[parts[-1]] = value
    return yaml.safe_dump(document)


def _errors(text: str) -> list[str]:
    return [str(error) for error in parse_policies(text, "p.yaml").errors]


@pytest.mark.parametrize("path", BOUNDED)
def test_the_validator_enforces_the_table_bounds(path: str) -> None:
    field = LEAVES[path]
    if "mode" not in CONTEXT.get(path, {}):  # distribute weights also have a bound on their sum
        assert _errors(_with(path, field.maximum)) == []
    assert _errors(_with(path, field.minimum)) == []
    (error,) = _errors(_with(path, field.maximum + 1))
    assert f"from {int(field.minimum)} to {int(field.maximum)}" in error, error


@pytest.mark.parametrize("path", ENUMS)
def test_the_validator_accepts_exactly_the_table_enum(path: str) -> None:
    for value in LEAVES[path].enum:
        text = _with(path, value)
        if value in ("HTTPRoute", "GRPCRoute"):  # a route needs its port
            text = text.replace("kind: " + value, "kind: " + value + "\n    port: 80")
        assert _errors(text) == [], value
    (error,) = _errors(_with(path, "no-such-value"))
    assert "one of " + ", ".join(LEAVES[path].enum) in error


def _crd_node(path: str) -> dict[str, Any]:
    node = failover_policy_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for part in path.split("."):
        node = node["properties"][part[:-2]]["items"] if part.endswith("[]") else node["properties"][part]
    return node


@pytest.mark.parametrize("path", [p for p in LEAVES if p.startswith("spec.")])
def test_the_crd_schema_says_what_the_table_says(path: str) -> None:
    field, node = LEAVES[path], _crd_node(path)
    assert node["type"] == field.type
    assert (node.get("minimum"), node.get("maximum"), node.get("default")) == (
        field.minimum, field.maximum, field.default)
    assert node.get("enum") == (list(field.enum) if field.enum else None)
    assert sorted(node.get("required", ())) == sorted(k for k, c in field.properties.items() if c.required)
    if field.dns_label:
        assert node["pattern"] == policy_fields.DNS1123_LABEL_PATTERN and node["maxLength"] == 63


def test_every_field_of_the_table_is_documented() -> None:
    text = DOCS.read_text()
    missing = [path for path, field in LEAVES.items() if field.type != "object" and f"`{path}`" not in text]
    assert missing == []
