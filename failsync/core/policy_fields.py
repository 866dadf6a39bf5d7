"""The FailoverPolicy fields as one declarative table, read by the validator and the CRD alike.

Owns: every field of a FailoverPolicy document (SPEC §2, §10, §12): its key, type,
accepted values, bounds, unconditional default, whether it is required, and the rules
that tie several fields together (as CEL, for the CRD). ``failsync.core.policy_schema``
and ``failsync.core.decision_schema`` read their key sets, bounds, enums and defaults
here; ``openapi_schema`` turns the same table into the CRD's structural schema, so the
file validator and the API server cannot disagree about them. Rules over several fields
are CEL ``x-kubernetes-validations`` for the API server; the validator keeps its own code
for them, with file:line:key messages. Every list a rule iterates has ``maxItems`` and every
string ``maxLength`` or an enum, so the API server's CEL cost estimate accepts the CRD.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from failsync.core import targets
from failsync.core.model import (
    POLICY_API_VERSION,
    POLICY_KIND,
    FailoverMode,
    HealthSource,
    InactiveBackends,
    SpecMode,
    WhenAllDown,
)

#: Upper bounds: what the API (int32) and the decision can hold; a duration no longer than a week.
INT32_MAX = 2**31 - 1
MAX_HOLD_SECONDS = 7 * 24 * 3600
MAX_DELAY_SECONDS = 86400
#: A DNS-1123 label (Service and object names), as an RE2/ECMA pattern for the schema.
DNS1123_LABEL_PATTERN = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_LABEL_MAX = 63
#: At most this many fallbacks: bounds the cost of the CEL rules that iterate over them.
MAX_FALLBACKS = 64


@dataclass(frozen=True)
class Rule:
    """A rule over several fields: a CEL expression for the API server, and what it means."""

    cel: str
    message: str


@dataclass(frozen=True)
class Field:
    """One field: its type and constraints. ``default`` is applied whether or not other fields are set."""

    type: str  # string | integer | number | object | array | labels (a map of label strings)
    description: str = ""
    required: bool = False
    default: Any = None
    enum: tuple[str, ...] | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None
    dns_label: bool = False
    min_items: int | None = None
    max_items: int | None = None
    properties: dict[str, "Field"] = field(default_factory=dict)
    items: "Field | None" = None
    rules: tuple[Rule, ...] = ()
    #: Keys accepted and ignored (what the API server adds to an object it returns).
    ignored: frozenset[str] = frozenset()


def _dns_label(description: str, *, required: bool = False, default: str | None = None) -> Field:
    return Field("string", description, required=required, default=default, dns_label=True)


def _int(description: str, minimum: int, maximum: int, default: int | None = None) -> Field:
    return Field("integer", description, default=default, minimum=minimum, maximum=maximum)


def _enum(description: str, values: tuple[str, ...], default: str | None = None) -> Field:
    return Field("string", description, default=default, enum=values)


def _values(enum_type: Any) -> tuple[str, ...]:
    return tuple(member.value for member in enum_type)


_ROUTE_KINDS_CEL = "[" + ", ".join(f"'{kind}'" for kind in targets.ROUTE_KINDS) + "]"
_PRIMARY_CEL = "(has(self.primary) ? self.primary : self.service)"
_DISTRIBUTE_CEL = f"(has(self.mode) && self.mode == '{SpecMode.DISTRIBUTE.value}')"
_VERSIONS_CEL = "{" + ", ".join(f"'{kind}': [" + ", ".join(f"'{v}'" for v in targets.API_VERSIONS[kind]) + "]"
                                for kind in targets.KINDS) + "}"

FALLBACK = Field("object", "A fallback backend, in order of preference.", required=True, properties={
    "service": _dns_label("The fallback Service.", required=True),
    "priority": _int("Priority tier; lower is preferred.", 1, INT32_MAX, default=1),
    "weight": _int("Share of traffic with spec.mode: distribute (default 1).", 1, targets.ROUTE_WEIGHT_MAX),
    "health": Field("object", "Where this backend's health is read (another cluster).", properties={
        "cluster": _dns_label("The cluster (a --cluster name) whose ready endpoints count.", required=True),
        "service": _dns_label("The Service there (default: the mirror's remote name, else the same name)."),
        "namespace": _dns_label("Its namespace there (default: the policy's namespace)."),
    }),
})

SPEC = Field("object", "What to fail over and how.", required=True, properties={
    "service": _dns_label("The apex Service that clients call.", required=True),
    "primary": _dns_label("The Service that carries traffic while healthy (default: spec.service)."),
    "fallbacks": Field("array", "Fallback Services, in order.", required=True, min_items=1,
                       max_items=MAX_FALLBACKS, items=FALLBACK),
    "health": Field("object", "When a backend counts as healthy.", properties={
        "minReady": _int("Ready endpoints a backend needs.", 1, INT32_MAX, default=1),
        "source": _enum("Where ready endpoints are read.", _values(HealthSource), HealthSource.AUTO.value),
        "remoteGraceSeconds": _int("Seconds a backend read in an unreachable cluster keeps its last known health.",
                                   0, 86400),
        "minReadyPercent": _int("Ready endpoints a backend needs, in percent of all its endpoints.", 1, 100),
    }),
    "failback": Field("object", "When traffic returns to the primary.", properties={
        "holdSeconds": _int("Seconds the primary stays healthy before traffic returns.", 0, MAX_HOLD_SECONDS,
                            default=0),
    }),
    "whenAllDown": _enum("What to do when no backend is healthy.", _values(WhenAllDown), WhenAllDown.KEEP.value),
    "target": Field("object", "The traffic object rendered.", properties={
        "kind": _enum("The kind rendered.", targets.KINDS, targets.TRAFFIC_SPLIT),
        "apiVersion": _enum("Its apiVersion (default: the kind's first).",
                            tuple(dict.fromkeys(v for kind in targets.KINDS for v in targets.API_VERSIONS[kind]))),
        "port": _int("Service port of the parent and every backendRef (routes only, required there).", 1, 65535),
        "inactiveBackends": _enum("How a route lists backends without traffic (routes only; default "
                                  "zero-weight).", _values(InactiveBackends)),
    }, rules=(
        Rule(f"!has(self.apiVersion) || self.apiVersion in "
             f"{_VERSIONS_CEL}[has(self.kind) ? self.kind : '{targets.TRAFFIC_SPLIT}']",
             "apiVersion must be a version of the target kind"),
        Rule(f"!(has(self.kind) && self.kind in {_ROUTE_KINDS_CEL}) || has(self.port)",
             "a route target (HTTPRoute, GRPCRoute) requires port"),
        Rule(f"(has(self.kind) && self.kind in {_ROUTE_KINDS_CEL}) || (!has(self.port) && !has(self.inactiveBackends))",
             "only routes (HTTPRoute, GRPCRoute) take port and inactiveBackends"),
    )),
    "mode": _enum("failover (one tier at a time) or distribute (fixed weights).", _values(SpecMode),
                  SpecMode.FAILOVER.value),
    "primaryWeight": _int("The primary's share with spec.mode: distribute (default 1).", 1, targets.ROUTE_WEIGHT_MAX),
    "failover": Field("object", "How traffic leaves the primary.", properties={
        "delaySeconds": _int("Seconds a primary must stay unhealthy before failing over.", 0, MAX_DELAY_SECONDS,
                             default=0),
        "mode": _enum("all-at-once or gradual spillover.", _values(FailoverMode), FailoverMode.ALL_AT_ONCE.value),
        "overprovisioningFactor": Field("number", "Spillover factor (gradual only).", minimum=1, maximum=100),
    }, rules=(
        Rule(f"!has(self.overprovisioningFactor) || (has(self.mode) && self.mode == '{FailoverMode.GRADUAL.value}')",
             "overprovisioningFactor only applies with failover.mode: gradual"),
    )),
}, rules=(
    Rule(f"self.fallbacks.all(f, f.service != {_PRIMARY_CEL})",
         "the primary may not be listed as a fallback"),
    Rule("self.fallbacks.all(f, self.fallbacks.exists_one(g, g.service == f.service))",
         "each fallback service may be listed once"),
    Rule(f"{_DISTRIBUTE_CEL} || (!has(self.primaryWeight) && self.fallbacks.all(f, !has(f.weight)))",
         "a weight (primaryWeight, fallbacks[].weight) only applies with spec.mode: distribute"),
    Rule(f"!{_DISTRIBUTE_CEL} || !has(self.failover) || !has(self.failover.mode) "
         f"|| self.failover.mode != '{FailoverMode.GRADUAL.value}'",
         "failover.mode: gradual is not allowed with spec.mode: distribute"),
    # sum() comes from Kubernetes' CEL list library (the sandbox's CEL lacks it and skips the rule).
    Rule(f"!{_DISTRIBUTE_CEL} || (has(self.primaryWeight) ? self.primaryWeight : 1) + "
         f"self.fallbacks.map(f, has(f.weight) ? f.weight : 1).sum() <= {targets.ROUTE_WEIGHT_MAX}",
         f"with spec.mode: distribute the weights add up to at most {targets.ROUTE_WEIGHT_MAX}"),
))

#: ObjectMeta fields an object read from the API carries (the server's, kubectl's, Argo CD's
#: annotations): accepted in a policy and ignored, so `kubectl get fop -o yaml` output validates.
SERVER_METADATA = frozenset({
    "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
    "deletionGracePeriodSeconds", "managedFields", "annotations", "finalizers", "ownerReferences",
    "selfLink", "generateName",
})

#: The whole document. ``metadata`` is the API server's ObjectMeta; its constraints here are
#: the validator's (the server checks names and labels with its own rules). ``status`` is
#: failsync's own report on a FailoverPolicy object, ignored when read as a policy.
DOCUMENT = Field("object", f"A {POLICY_KIND}.", ignored=frozenset({"status"}), properties={
    "apiVersion": Field("string", f"{POLICY_API_VERSION}", required=True),
    "kind": Field("string", POLICY_KIND, required=True),
    "metadata": Field("object", "Name, namespace and labels (copied onto the rendered object).", required=True,
                      ignored=SERVER_METADATA, properties={
                          "name": _dns_label("Name of the policy and of the rendered object.", required=True),
                          "namespace": _dns_label("Namespace of both.", default="default"),
                          "labels": Field("labels", "Labels copied onto the rendered object."),
                      }),
    "spec": SPEC,
})

#: Rules the CRD schema does not express at all (the validator alone enforces them).
VALIDATOR_ONLY = (
    "labels: the key app.kubernetes.io/managed-by is failsync's own (a CRD schema cannot constrain metadata)",
    "two policies rendering the same object (across files or objects)",
)

_INDEX = re.compile(r"\[\d+\]")


@functools.lru_cache(maxsize=None)
def table_path(path: str) -> str:
    """The table path of a document path: ``spec.fallbacks[1].priority`` -> ``spec.fallbacks[].priority``."""
    return _INDEX.sub("[]", path)


@functools.lru_cache(maxsize=None)
def field_at(path: str) -> Field:
    """The field at a document or table path (``spec.health.minReady``, ``spec.fallbacks[2].weight``)."""
    node = DOCUMENT
    for part in table_path(path).split(".") if path else ():
        if part.endswith("[]"):
            node = node.properties[part[:-2]]
            assert node.items is not None
            node = node.items
        else:
            node = node.properties[part]
    return node


@functools.lru_cache(maxsize=None)
def keys_at(path: str) -> frozenset[str]:
    """The keys the mapping at ``path`` may hold (its fields, not the ignored keys)."""
    return frozenset(field_at(path).properties)


@functools.lru_cache(maxsize=None)
def ignored_at(path: str) -> frozenset[str]:
    """The keys the mapping at ``path`` may hold and that mean nothing to a policy."""
    return field_at(path).ignored


def openapi_schema() -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a FailoverPolicy (spec from the table, and status)."""
    from failsync.core.policy_status import STATUS_SCHEMA  # the status is written by the loop, not a user

    return {
        "type": "object",
        "description": DOCUMENT.description + " failsync renders it into a TrafficSplit or route.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": _openapi(SPEC),
            "status": STATUS_SCHEMA,
        },
    }


def _openapi(node: Field) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": node.type}
    if node.description:
        schema["description"] = node.description
    if node.type == "object":
        schema["properties"] = {key: _openapi(child) for key, child in node.properties.items()}
        required = [key for key, child in node.properties.items() if child.required]
        if required:
            schema["required"] = required
    if node.type == "array" and node.items is not None:
        schema["items"] = _openapi(node.items)
    if node.min_items is not None:
        schema["minItems"] = node.min_items
    if node.max_items is not None:
        schema["maxItems"] = node.max_items
    if node.type == "integer":
        schema["format"] = "int32"
    for key, value in (("minimum", node.minimum), ("maximum", node.maximum), ("default", node.default)):
        if value is not None:
            schema[key] = value
    if node.enum is not None:
        schema["enum"] = list(node.enum)
    if node.dns_label:
        schema["maxLength"] = DNS1123_LABEL_MAX
        schema["pattern"] = DNS1123_LABEL_PATTERN
    if node.rules:
        schema["x-kubernetes-validations"] = [{"rule": rule.cel, "message": rule.message} for rule in node.rules]
    return schema
