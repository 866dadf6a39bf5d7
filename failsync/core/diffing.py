"""What differs between a live object and the desired one, limited to what
failsync owns, as a guarded JSON Patch and a unified YAML diff.

Owns: the owned-field rule of SPEC §3 and the shape of every write.
- ``Ownership.FULL`` (objects failsync rendered): ``spec``; the labels the desired
  object carries plus ``app.kubernetes.io/managed-by``; the annotations the desired
  object carries, every ``failsync.io/*`` annotation, and
  ``failover.linkerd.io/primary-service``.
- ``Ownership.WEIGHTS`` (adopted hand-written TrafficSplits and routes): only the
  weights (``spec.backends[].weight``; a route's ``spec.rules[].backendRefs[].weight`` in
  the rules ``targets.managed_rules`` names).
Everything else (other labels and annotations, ``status``, server-set metadata) is
left out of both sides, so it can never show up as drift or be written.
The patch (RFC 6902) between the two owned views is led by a ``test`` op on
``/metadata/resourceVersion``, so a concurrent writer makes the server answer 422
instead of being overwritten.

Never does: I/O, deciding weights, rendering.
"""

from __future__ import annotations

import copy
import enum
import functools
import json
from collections.abc import Callable, Mapping  # not typing's: their isinstance is several times slower
from typing import Any

from failsync.core.model import API_GROUP, LINKERD_PRIMARY_ANNOTATION, MANAGED_BY_LABEL
from failsync.core.targets import weights_view

FAILSYNC_ANNOTATION_PREFIX = f"{API_GROUP}/"


class Ownership(str, enum.Enum):
    """How much of an object failsync owns."""

    FULL = "full"
    WEIGHTS = "weights"


class Action(str, enum.Enum):
    """What a write of a Change would be."""

    CREATE = "create"
    PATCH = "patch"
    NONE = "none"


class Change:
    """The owned views of live (None when missing) and desired, and the guarded patch between them.

    An in-sync change (most of every pass) and a create (a pass from scratch, whose write sends the
    rendered object, not the view) build their views only when they are read."""

    __slots__ = ("name", "patch", "_views", "_build", "_creates")

    def __init__(self, name: str, live: dict[str, Any] | None, desired: dict[str, Any],
                 patch: tuple[dict[str, Any], ...]) -> None:
        self.name, self.patch = name, patch
        self._views: tuple[dict[str, Any] | None, dict[str, Any]] | None = (live, desired)
        self._build: Callable[[], tuple[dict[str, Any] | None, dict[str, Any]]] | None = None
        self._creates = live is None

    @classmethod
    def in_sync_of(cls, name: str, build: Callable[[], tuple[dict[str, Any], dict[str, Any]]]) -> "Change":
        """An in-sync change whose views ``build()`` makes on first use."""
        change = cls(name, {}, {}, ())
        change._views, change._build = None, build
        return change

    @classmethod
    def create_of(cls, name: str, build: Callable[[], dict[str, Any]]) -> "Change":
        """The change of a missing object, whose desired view ``build()`` makes on first use."""
        change = cls(name, None, {}, ())
        change._views, change._build = None, lambda: (None, build())
        return change

    def _both(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        if self._views is None:
            assert self._build is not None
            self._views = self._build()
        return self._views

    @property
    def live(self) -> dict[str, Any] | None:
        return self._both()[0]

    @property
    def desired(self) -> dict[str, Any]:
        return self._both()[1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Change):
            return NotImplemented
        return (self.name, self.patch, self._both()) == (other.name, other.patch, other._both())

    __hash__ = None  # type: ignore[assignment]  # holds dicts, as the dataclass it replaces did

    def __repr__(self) -> str:
        return f"Change(name={self.name!r}, live={self.live!r}, desired={self.desired!r}, patch={self.patch!r})"

    @property
    def action(self) -> Action:
        if self._creates:
            return Action.CREATE
        return Action.PATCH if self.patch else Action.NONE

    @property
    def in_sync(self) -> bool:
        return self.action is Action.NONE

    def text(self) -> str:
        """A unified diff of the two owned views as YAML; empty when in sync."""
        if self.in_sync:
            return ""
        import difflib  # only diff's text output needs it (as YAML below): sync never does

        before = _yaml(self.live) if self.live is not None else ""
        lines = difflib.unified_diff(before.splitlines(keepends=True), _yaml(self.desired).splitlines(keepends=True),
                                     fromfile=f"live/{self.name}", tofile=f"desired/{self.name}")
        return "".join(lines)


class _FlowMapping(dict):  # type: ignore[type-arg]
    """A list item of scalars, dumped on one line so a weight change is one changed line."""


@functools.cache
def _diff_dumper() -> Any:
    """A SafeDumper writing ``_FlowMapping`` on one line; built on first use, so that importing this
    module (every sync and the loop) does not import PyYAML."""
    import yaml

    class DiffDumper(yaml.SafeDumper):
        pass

    DiffDumper.add_representer(
        _FlowMapping, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True))
    return DiffDumper


def _flow_list_items(value: Any, in_list: bool = False) -> Any:
    if isinstance(value, Mapping):
        items = {key: _flow_list_items(item) for key, item in value.items()}
        flat = in_list and not any(isinstance(item, (Mapping, list)) for item in items.values())
        return _FlowMapping(items) if flat else items
    if isinstance(value, list):
        return [_flow_list_items(item, in_list=True) for item in value]
    return value


def _yaml(view: Mapping[str, Any]) -> str:
    import yaml

    return str(yaml.dump(_flow_list_items(view), Dumper=_diff_dumper(), sort_keys=True, default_flow_style=False))


def _clean(value: Any) -> Any:
    """Drop None values recursively: an absent field and a null one mean the same to the API."""
    # Exact dict/list/scalar types first: an ABC isinstance per scalar was a third of diff's time.
    kind = type(value)
    if kind is dict:
        return {key: _clean(item) for key, item in value.items() if item is not None}
    if kind is list:
        return [_clean(item) for item in value]
    if kind is str or kind is int or kind is bool or kind is float:
        return value
    if isinstance(value, Mapping):
        return {key: _clean(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _clean_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _clean(item) for key, item in value.items() if item is not None}


def _owned_keys(desired: Mapping[str, Any], live: Mapping[str, Any] | None) -> tuple[set[str], set[str]]:
    desired_meta = desired.get("metadata") or {}
    live_annotations = ((live or {}).get("metadata") or {}).get("annotations") or {}
    labels = set(desired_meta.get("labels") or {}) | {MANAGED_BY_LABEL}
    annotations = set(desired_meta.get("annotations") or {}) | {LINKERD_PRIMARY_ANNOTATION}
    annotations |= {key for key in live_annotations if key.startswith(FAILSYNC_ANNOTATION_PREFIX)}
    return labels, annotations


def _subset(obj: Mapping[str, Any], field: str, keys: set[str], *, keep_empty: bool) -> dict[str, str] | None:
    found = (obj.get("metadata") or {}).get(field)
    if not isinstance(found, Mapping):
        return {} if keep_empty else None
    return {key: value for key, value in found.items() if key in keys}


def owned_view(obj: Mapping[str, Any], *, desired: Mapping[str, Any], live: Mapping[str, Any] | None,
               ownership: Ownership = Ownership.FULL, services: tuple[str, ...] = ()) -> dict[str, Any]:
    """The part of ``obj`` (the live or the desired object) that failsync owns, normalised.

    The identity (apiVersion, kind, name, namespace) is taken from ``desired`` on
    both sides so it is shown but never diffed. ``services`` (drop-in mode) are the
    policy's backends, which say which rules of a hand-written route are managed. A label/annotation map appears in
    the view when the live object has one, so patches add single keys to it and
    never replace a map holding foreign keys.
    """
    meta = desired.get("metadata") or {}
    view: dict[str, Any] = {"apiVersion": desired.get("apiVersion"), "kind": desired.get("kind"),
                            "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")}}
    if ownership is Ownership.WEIGHTS:
        view["spec"] = weights_view(obj, services)
        return _clean_mapping(view)
    label_keys, annotation_keys = _owned_keys(desired, live)
    live_meta = (live or {}).get("metadata") or {}
    for field, keys in (("labels", label_keys), ("annotations", annotation_keys)):
        live_has_map = isinstance(live_meta.get(field), Mapping)
        found = _subset(obj, field, keys, keep_empty=live_has_map)
        if found is not None and (found or live_has_map):
            view["metadata"][field] = found
    if obj.get("spec") is not None or obj is desired:
        view["spec"] = obj.get("spec") if obj.get("spec") is not None else {}
    # A live object without spec (removed by hand) has none in its view either, so the
    # patch adds /spec whole: an "add" below a missing /spec would never apply.
    return _clean_mapping(view)  # copies every mapping and list on the way, so the view shares nothing mutable


_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})


def _same_json(left: Any, right: Any) -> bool:
    """Equal as JSON documents: ``==`` alone takes 1, 1.0 and True for the same value, so types
    are compared too (walked directly: two sorted ``json.dumps`` per converged object cost 3x more)."""
    kind = type(left)
    if kind is type(right) and kind in _PLAIN_SCALARS:
        return bool(left == right)
    if isinstance(left, dict) and isinstance(right, dict):
        if len(left) != len(right):
            return False
        for key, value in left.items():
            if key not in right:
                return False
            other = right[key]
            kind = type(value)
            if kind is type(other) and kind in _PLAIN_SCALARS:  # most leaves: no call
                if value != other:
                    return False
            elif not _same_json(value, other):
                return False
        return True
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same_json, left, right))
    if kind is type(right):
        return bool(left == right)
    return left == right and json.dumps(left) == json.dumps(right)  # e.g. a str subclass and a str


def _same_cleaned(left: Any, right: Any) -> bool:
    """``_same_json(_clean(left), _clean(right))`` without building the two copies."""
    # ``type(...) is dict`` first: decoded and rendered objects are dicts, and the ABC check costs more.
    if (type(left) is dict or isinstance(left, Mapping)) and (type(right) is dict or isinstance(right, Mapping)):
        count = 0
        for key, value in left.items():
            if value is None:
                continue
            other = right.get(key)
            if other is None:
                return False
            count += 1
            kind = type(value)
            if kind is type(other) and kind in _PLAIN_SCALARS:  # most leaves: no call
                if value != other:
                    return False
            elif not _same_cleaned(value, other):
                return False
        return count == len(right) or count == sum(value is not None for value in right.values())
    if type(left) is list and type(right) is list or isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_same_cleaned, left, right))
    return _same_json(left, right)


def in_sync(live: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Whether the ``Ownership.FULL`` owned views of ``live`` and ``desired`` are the same JSON, decided
    on the objects themselves (what ``owned_view`` keeps of each, without copying it): the converged
    case of every pass, where building two views to compare them was most of the diff."""
    live_meta = live.get("metadata") or {}
    desired_meta = desired.get("metadata") or {}
    label_keys, annotation_keys = _owned_keys(desired, live)
    for field, keys in (("labels", label_keys), ("annotations", annotation_keys)):
        live_map, desired_map = live_meta.get(field), desired_meta.get(field)
        wanted = ({key: value for key, value in desired_map.items() if key in keys}
                  if type(desired_map) is dict or isinstance(desired_map, Mapping) else {})
        if type(live_map) is dict or isinstance(live_map, Mapping):
            if not _same_cleaned({key: value for key, value in live_map.items() if key in keys}, wanted):
                return False
        elif wanted:  # the desired view has the map, the live one has none
            return False
    spec = live.get("spec")
    desired_spec = desired.get("spec")
    return spec is not None and _same_cleaned(spec, desired_spec if desired_spec is not None else {})


def _pointer_token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")  # RFC 6901


def json_patch(source: Any, target: Any, path: str = "") -> list[dict[str, Any]]:
    """RFC 6902 operations that turn the JSON document ``source`` into ``target``.

    Mappings are compared key by key and lists of equal length item by item; a list that
    changed length, or a value that changed JSON type (``1`` to ``1.0`` or ``true``), is
    replaced whole. Small and exact where a general differ (move detection) costs several
    times more on the reaction path.
    """
    if isinstance(source, Mapping) and isinstance(target, Mapping):
        operations: list[dict[str, Any]] = []
        for key in source.keys() - target.keys():
            operations.append({"op": "remove", "path": f"{path}/{_pointer_token(key)}"})
        for key, value in target.items():
            where = f"{path}/{_pointer_token(key)}"
            if key in source:
                operations += json_patch(source[key], value, where)
            else:
                operations.append({"op": "add", "path": where, "value": copy.deepcopy(value)})
        return operations
    if isinstance(source, list) and isinstance(target, list) and len(source) == len(target):
        return [operation for index, (before, after) in enumerate(zip(source, target))
                for operation in json_patch(before, after, f"{path}/{index}")]
    if type(source) is type(target) and source == target:
        return []
    return [{"op": "replace", "path": path, "value": copy.deepcopy(target)}]


def guarded_patch(live: Mapping[str, Any], live_view: Mapping[str, Any],
                  desired_view: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
    """The JSON Patch from ``live_view`` to ``desired_view`` led by a resourceVersion test; () when equal."""
    if _same_json(live_view, desired_view):  # the common case (a converged object): no patch to compute
        return ()
    operations = json_patch(live_view, desired_view)
    if not operations:
        return ()
    version = (live.get("metadata") or {}).get("resourceVersion")
    return ({"op": "test", "path": "/metadata/resourceVersion", "value": version}, *operations)


def diff(live: Mapping[str, Any] | None, desired: Mapping[str, Any], *,
         ownership: Ownership = Ownership.FULL, services: tuple[str, ...] = ()) -> Change:
    """Compare the owned parts of ``live`` (None: missing) and ``desired`` (``services``: see ``owned_view``)."""
    meta = desired.get("metadata") or {}
    name = f"{meta.get('namespace')}/{meta.get('name')}"
    if live is not None and ownership is Ownership.FULL and in_sync(live, desired):
        return Change.in_sync_of(name, lambda: (owned_view(live, desired=desired, live=live),
                                                owned_view(desired, desired=desired, live=live)))
    if live is None:
        return Change.create_of(name, lambda: owned_view(desired, desired=desired, live=None, ownership=ownership,
                                                         services=services))
    desired_view = owned_view(desired, desired=desired, live=live, ownership=ownership, services=services)
    live_view = owned_view(live, desired=desired, live=live, ownership=ownership, services=services)
    return Change(name, live_view, desired_view, guarded_patch(live, live_view, desired_view))
