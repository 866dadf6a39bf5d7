"""One FailoverPolicy document: plain values -> a validated Policy, or errors with lines.

Owns: checking a document against the FailoverPolicy fields of SPEC §2 (their keys,
types, defaults and limits are the table in ``failsync.core.policy_fields``, which the CRD
is generated from too; the rules across fields are code here, the checks of single values
such as names and labels are ``failsync.core.policy_values``) and where each problem is
(``file:line`` and a dotted key path such as ``spec.fallbacks[1].service``, with a message
saying what was expected). Works on one document already read from YAML (PyYAML nodes or the fast
reader's values); reading files, several documents and duplicates across them belong
to ``failsync.core.policies``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from failsync.core.decision_schema import decision_fields
from failsync.core.remote_health_schema import remote_health_fields
from failsync.core.model import (
    POLICY_API_VERSION,
    POLICY_KIND,
    Backend,
    HealthSource,
    InactiveBackends,
    Policy,
    Target,
    WhenAllDown,
)
from failsync.core import targets
from failsync.core.policy_fields import field_at, ignored_at, keys_at
from failsync.core.policy_values import is_dns_label, label_problem, one_of, type_name
from failsync.errors import Location, PolicyError

if TYPE_CHECKING:
    import yaml

_STR_TAG = "tag:yaml.org,2002:str"

#: apiVersions of TrafficSplit a policy may target (SMI traffic-split specs), oldest first.
TRAFFICSPLIT_API_VERSIONS = tuple(sorted(targets.API_VERSIONS[targets.TRAFFIC_SPLIT]))
#: apiVersions of each route kind a policy may target (SPEC §10), the default first.
ROUTE_API_VERSIONS = {kind: targets.API_VERSIONS[kind] for kind in targets.ROUTE_KINDS}
_ROUTE_ONLY_KEYS = frozenset({"port", "inactiveBackends"})

# Built once rather than per document: accepted values (in the order messages list them)
# and the values policies hold. Target is immutable, so policies share one per version.
_HEALTH_SOURCES = {source.value: source for source in HealthSource}
_WHEN_ALL_DOWN = {mode.value: mode for mode in WhenAllDown}
_INACTIVE_BACKENDS = {choice.value: choice for choice in InactiveBackends}
_ZERO_WEIGHT = InactiveBackends.ZERO_WEIGHT.value  # an Enum's .value is a Python-level descriptor
_TARGETS = {version: Target("TrafficSplit", version) for version in TRAFFICSPLIT_API_VERSIONS}


@functools.lru_cache(maxsize=64)
def _fallback_paths(index: int) -> tuple[str, str, str]:
    """The key paths of ``spec.fallbacks[index]`` and its service and priority, worded once."""
    item = f"spec.fallbacks[{index}]"
    return item, f"{item}.service", f"{item}.priority"


class PolicyDocument:
    """One YAML document being converted and validated, collecting errors with lines.

    Lines come from the fast reader (``simple_yaml``), or are looked up in the node tree
    only when needed (an error, the policy's location).
    """

    def __init__(self, file: str, *, root: yaml.Node | None = None,
                 lines: dict[str, int] | None = None) -> None:
        self.file = file
        self.root = root
        self.errors: list[PolicyError] = []
        self._lines = lines
        self._constructor: yaml.constructor.SafeConstructor | None = None

    # -- conversion: nodes -> plain values -------------------------------------------------------

    def convert(self, node: yaml.Node, path: str) -> Any:
        import yaml  # loaded: PyYAML composed the node (the fast reader's documents need none of this)

        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node)
                if type(key) is not str:
                    child = f"{path}.{key}" if path else str(key)
                    if not isinstance(key, str):
                        self.error(child, f"keys must be strings, found the {type_name(key)} {key!r}",
                                   key_node.start_mark.line + 1)
                        continue
                if key in result:
                    child = f"{path}.{key}" if path else str(key)
                    self.error(child, "duplicate key; each key may appear once per mapping",
                               key_node.start_mark.line + 1)
                    continue
                if isinstance(value_node, yaml.ScalarNode):
                    result[key] = value_node.value if value_node.tag == _STR_TAG else self._scalar(value_node)
                else:
                    result[key] = self.convert(value_node, f"{path}.{key}" if path else key)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, f"{path}[{index}]") for index, item in enumerate(node.value)]
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        import yaml  # loaded, as in convert

        if not isinstance(node, yaml.ScalarNode):
            return f"<{type(node).__name__}>"
        if node.tag == _STR_TAG:  # the common case, without the constructor's bookkeeping
            return node.value
        if self._constructor is None:
            self._constructor = yaml.constructor.SafeConstructor()
        return self._constructor.construct_object(node, deep=True)

    # -- lines: key path -> line, built on first use ---------------------------------------------

    @property
    def lines(self) -> dict[str, int]:
        """The line of every key path (``spec.fallbacks[1].service``) of the document."""
        if self._lines is None:
            assert self.root is not None
            self._lines = {}
            self._record_lines(self.root, "")
        return self._lines

    def _record_lines(self, node: yaml.Node, path: str) -> None:
        # Mirrors convert(): keys that convert() skips (not strings, duplicates) get no line.
        import yaml  # loaded, as in convert

        lines = self._lines
        assert lines is not None
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = self._scalar(key_node)
                if not isinstance(key, str) or key in seen:
                    continue
                seen.add(key)
                child = f"{path}.{key}" if path else key
                lines[child] = key_node.start_mark.line + 1
                self._record_lines(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._record_lines(item, f"{path}[{index}]")

    # -- errors ----------------------------------------------------------------------------------

    def error(self, path: str, message: str, line: int | None = None) -> None:
        if line is None:
            line = self._line_of(path)
        self.errors.append(PolicyError(message, Location(self.file, line, path or None)))

    def _line_of(self, path: str) -> int | None:
        while path not in self.lines and path:
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.lines.get(path)

    # -- typed getters ---------------------------------------------------------------------------

    def mapping(self, parent: dict[str, Any], key: str, path: str, schema: str) -> dict[str, Any]:
        value = parent.get(key, {})
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, found a {type_name(value)}")
            return {}
        self.unknown_keys(value, path, schema)
        return value

    def unknown_keys(self, value: dict[str, Any], path: str, schema: str) -> None:
        allowed = keys_at(schema)
        if allowed.issuperset(value):
            return  # the common case, one C-level pass over the keys
        ignored = ignored_at(schema)
        for key in value:
            if key not in allowed and key not in ignored:
                child = f"{path}.{key}" if path else key
                self.error(child, f"unknown key; expected one of {', '.join(sorted(allowed))}")

    def string(self, parent: dict[str, Any], key: str, path: str, *, required: bool,
               default: str | None = None, what: str = "a string") -> str | None:
        value = parent.get(key)  # absent and null alike
        if value is None:
            if required:
                self.error(path, f"required field is missing; expected {what}",
                           self._line_of(path))
            return default
        if type(value) is not str and not isinstance(value, str):
            self.error(path, f"expected {what}, found the {type_name(value)} {value!r}")
            return None
        return value

    def dns_label(self, parent: dict[str, Any], key: str, path: str, *, required: bool,
                  default: str | None = None) -> str | None:
        value = parent.get(key)
        if type(value) is str and is_dns_label(value):
            return value  # the common case, before any message is worded
        what = "a DNS-1123 label (lowercase letters, digits and '-', at most 63 characters)"
        value = self.string(parent, key, path, required=required, default=default, what=what)
        if value is not None and value is not default and not is_dns_label(value):
            self.error(path, f"{value!r} is not {what}")
            return None
        return value

    def integer(self, parent: dict[str, Any], key: str, path: str, *,
                default: int | None = None) -> int | None:
        """The integer at ``path`` within its bounds in the field table (its default when absent)."""
        spec = field_at(path)
        value = parent.get(key)  # absent and null alike
        if value is None:
            return spec.default if default is None else default
        minimum, maximum = spec.minimum, spec.maximum
        assert minimum is not None and maximum is not None, f"the field table bounds {path}"
        if type(value) is int and minimum <= value <= maximum:
            return value  # the common case, before any message is worded
        expected = f"an integer from {minimum} to {maximum}"
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"expected {expected}, found the {type_name(value)} {value!r}")
            return None
        if not minimum <= value <= maximum:
            shown = value if abs(value) < 10**12 else f"a {len(str(abs(value)))}-digit number"
            self.error(path, f"expected {expected}, found {shown}")
            return None
        return value

    def choice(self, parent: dict[str, Any], key: str, path: str, default: str | None = None) -> str | None:
        """One of the field table's values at ``path`` (its default, or ``default``, when absent)."""
        spec = field_at(path)
        choices = spec.enum
        assert choices is not None, path
        value = parent.get(key)
        if type(value) is str and value in choices:
            return value  # the common case, before any message is worded
        default = spec.default if default is None else default
        what = one_of(choices)
        value = self.string(parent, key, path, required=False, default=default, what=what)
        if value is not None and value not in choices:
            self.error(path, f"{value!r} is not valid; expected {what}")
            return None
        return value

    # -- the schema ------------------------------------------------------------------------------

    def validate(self, data: Any) -> Policy | None:
        if not isinstance(data, dict):
            self.error("", f"expected a {POLICY_KIND} mapping, found a {type_name(data)}")
            return None
        before = len(self.errors)
        api_version = self.string(data, "apiVersion", "apiVersion", required=True,
                                  what=f"apiVersion {POLICY_API_VERSION}")
        kind = self.string(data, "kind", "kind", required=True, what=f"kind {POLICY_KIND}")
        if kind is not None and kind != POLICY_KIND:
            self.error("kind", f"this document is a {kind}, not a policy; expected kind {POLICY_KIND}")
            return None
        if api_version is not None and api_version != POLICY_API_VERSION:
            self.error("apiVersion", f"{api_version!r} is not supported; expected {POLICY_API_VERSION}")
        self.unknown_keys(data, "", "")

        metadata = self.mapping(data, "metadata", "metadata", "metadata")
        if "metadata" not in data:
            self.error("metadata", "required field is missing; expected a mapping with name and namespace")
        name = self.dns_label(metadata, "name", "metadata.name", required="metadata" in data)
        namespace = self.dns_label(metadata, "namespace", "metadata.namespace", required=False,
                                   default="default")
        labels = self.labels(metadata.get("labels"), "metadata.labels")

        spec = self.mapping(data, "spec", "spec", "spec")
        if "spec" not in data:
            self.error("spec", "required field is missing; expected a mapping with service and fallbacks")
        service = self.dns_label(spec, "service", "spec.service", required="spec" in data)
        primary = self.dns_label(spec, "primary", "spec.primary", required=False, default=service)
        fallbacks = self.fallbacks(spec, primary)

        health = self.mapping(spec, "health", "spec.health", "spec.health")
        min_ready = self.integer(health, "minReady", "spec.health.minReady")
        source = self.choice(health, "source", "spec.health.source")
        failback = self.mapping(spec, "failback", "spec.failback", "spec.failback")
        hold_seconds = self.integer(failback, "holdSeconds", "spec.failback.holdSeconds")
        when_all_down = self.choice(spec, "whenAllDown", "spec.whenAllDown")
        target = self.target(spec)
        decisions = decision_fields(self, spec, health)
        remote = remote_health_fields(self, spec, health)

        # Target, a dataclass, is told from None by identity: "None in" would call its __eq__.
        if len(self.errors) > before or target is None or None in (
                name, namespace, service, primary, labels, min_ready, source, hold_seconds, when_all_down,
                decisions, remote):
            return None
        fallback_weights = decisions.pop("fallback_weights")  # type: ignore[union-attr]
        remote_grace, remotes = remote  # type: ignore[misc]
        if fallback_weights is not None or any(remotes):
            # Entries and fallbacks match one to one when nothing failed. Built directly:
            # dataclasses.replace inspects the fields on every call.
            weights = fallback_weights or tuple(b.weight for b in fallbacks)
            fallbacks = tuple(Backend(b.service, b.priority, weight=w, remote=r)
                              for b, w, r in zip(fallbacks, weights, remotes))
        return Policy(**decisions, remote_grace_seconds=remote_grace,  # type: ignore[arg-type]
            name=name, namespace=namespace, service=service, primary=primary,  # type: ignore[arg-type]
            fallbacks=fallbacks, labels=labels, min_ready=min_ready,  # type: ignore[arg-type]
            health_source=_HEALTH_SOURCES[source], hold_seconds=hold_seconds,  # type: ignore[index, arg-type]
            when_all_down=_WHEN_ALL_DOWN[when_all_down], target=target,  # type: ignore[index]
            # Anchored at the name: the line a reader looks at to tell policies apart.
            location=Location(self.file, self._line_of("metadata.name") or self.lines.get("")),
        )

    def fallbacks(self, spec: dict[str, Any], primary: str | None) -> tuple[Backend, ...]:
        path = "spec.fallbacks"
        value = spec.get("fallbacks")
        if value is None:
            if "spec" in self.lines:  # the spec mapping is there but has no fallbacks
                self.error(path, "required field is missing; expected a list of {service: ...} entries",
                           self._line_of(path))
            return ()
        if not isinstance(value, list) or not value:
            found = "an empty list" if value == [] else f"a {type_name(value)}"
            self.error(path, f"expected a non-empty list of {{service: ...}} entries, found {found}")
            return ()
        limit = field_at(path).max_items
        if limit is not None and len(value) > limit:
            self.error(path, f"expected at most {limit} fallbacks, found {len(value)}")
            return ()
        backends: list[Backend] = []
        seen: dict[str, str] = {}
        for index, entry in enumerate(value):
            item_path, service_path, priority_path = _fallback_paths(index)
            if not isinstance(entry, dict):
                self.error(item_path, f"expected a mapping with service and optional priority, "
                                      f"found the {type_name(entry)} {entry!r}")
                continue
            self.unknown_keys(entry, item_path, "spec.fallbacks[]")
            service = self.dns_label(entry, "service", service_path, required=True)
            priority = self.integer(entry, "priority", priority_path)
            if service is None or priority is None:
                continue
            if service == primary:
                self.error(service_path,
                           f"{service!r} is the primary; expected only fallback services here")
                continue
            if service in seen:
                self.error(service_path,
                           f"duplicate backend {service!r} (already listed at {seen[service]}); "
                           f"expected each service once")
                continue
            seen[service] = item_path
            backends.append(Backend(service, priority))
        return tuple(backends)

    def labels(self, value: Any, path: str) -> dict[str, str] | None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping of label keys to string values, found a {type_name(value)}")
            return None
        labels: dict[str, str] = {}
        ok = True
        for key, label_value in value.items():
            problem = label_problem(key, label_value)
            if problem is not None:
                self.error(f"{path}.{key}", problem)
                ok = False
                continue
            labels[key] = label_value
        return labels if ok else None

    def target(self, spec: dict[str, Any]) -> Target | None:
        target = self.mapping(spec, "target", "spec.target", "spec.target")
        kind = self.choice(target, "kind", "spec.target.kind")
        if kind is None:
            return None
        versions = targets.API_VERSIONS[kind]
        api_version = self.string(target, "apiVersion", "spec.target.apiVersion", required=False,
                                  default=versions[0], what=one_of(versions))
        if api_version is None:
            return None
        if api_version not in versions:
            other = [k for k in targets.KINDS if api_version in targets.API_VERSIONS[k]]
            why = f"it is a {other[0]} version" if other else "it is not a version failsync renders"
            self.error("spec.target.apiVersion", f"{api_version!r} cannot be used for {targets.with_article(kind)} ({why}); "
                       f"expected {one_of(versions)}")
            return None
        if not targets.is_route(kind):
            for key in _ROUTE_ONLY_KEYS & target.keys():
                self.error(f"spec.target.{key}", f"only routes (HTTPRoute, GRPCRoute) take {key}; "
                           f"a TrafficSplit names no port and keeps every backend")
            return None if _ROUTE_ONLY_KEYS & target.keys() else _TARGETS[api_version]
        port = self.integer(target, "port", "spec.target.port", default=0)
        if port == 0:
            self.error("spec.target.port", f"required field is missing for {targets.with_article(kind)}; expected the Service "
                       f"port (1-65535) of the parent and every backendRef", self._line_of("spec.target"))
            return None
        inactive = self.choice(target, "inactiveBackends", "spec.target.inactiveBackends",
                               _ZERO_WEIGHT)
        if port is None or inactive is None:
            return None
        return Target(kind, api_version, port=port, inactive_backends=_INACTIVE_BACKENDS[inactive])

