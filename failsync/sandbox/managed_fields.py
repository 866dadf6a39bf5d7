"""Field ownership (``metadata.managedFields``, FieldsV1) as kube-apiserver's field manager keeps it.

Owns: the set of fields an object (or an applied configuration) sets, as paths; their
FieldsV1 form (``f:<field>``, ``k:{<merge key>}`` for items of keyed lists, ``v:<value>`` for
set-like lists, ``.`` for a node owned itself); ``record_update`` (a create/update/patch by a
manager takes the fields it changed from everyone else) and the managers' sets that
server-side apply (``apply``) reads. Never does: HTTP or storage.

Lists merge by key where strategic merge does (containers by name, ports by port or
containerPort with protocol, ...); other lists, and every list of a custom resource, are atomic.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from failsync.sandbox.patches import MERGE_KEYS, PRIMITIVE_MERGE_LISTS

Path = tuple[str, ...]
_STRIPPED_METADATA = frozenset({"name", "namespace", "uid", "resourceVersion", "creationTimestamp", "generation",
                                "managedFields", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"})
_TOP_LEVEL_SKIPPED = frozenset({"apiVersion", "kind"})
_PORT_KEYS = {"containerPort": ("containerPort", "protocol"), "port": ("port", "protocol")}
# One encoder each, built once: json.dumps with non-default options builds a JSONEncoder per call,
# which was most of the cost of a keyed list item's "k:{...}" (a quarter of an EndpointSlice's create).
_KEY_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
_VALUE_JSON = json.JSONEncoder(separators=(",", ":")).encode


def user_agent_manager(user_agent: str | None) -> str:
    """The default field manager: the User-Agent up to its first ``/`` (at most 128 characters)."""
    return (user_agent or "").split("/", 1)[0][:128]


def _item_key(name: str, items: list, custom: bool) -> tuple[str, ...] | None:
    """The merge key fields of a keyed list, or None for an atomic list."""
    if custom or not items or not all(isinstance(item, dict) for item in items):
        return None
    if name == "ports":
        for candidate, keys in _PORT_KEYS.items():
            if all(candidate in item for item in items):
                return keys
        return None
    key = MERGE_KEYS.get(name)
    return (key,) if key and all(key in item for item in items) else None


def _key_element(item: dict, keys: tuple[str, ...]) -> str:
    return "k:" + _KEY_JSON({key: item[key] for key in keys if key in item})


def leaves(obj: Any, *, custom: bool, status: bool = False) -> dict[Path, Any]:
    """Every owned path of an object (excluding server metadata; ``status`` only when asked) and
    the value there (``None`` for a keyed list item's own path)."""
    found: dict[Path, Any] = {}
    if not isinstance(obj, dict):
        return found
    for key, value in obj.items():
        if key in _TOP_LEVEL_SKIPPED or (key == "status") != status:
            continue
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _STRIPPED_METADATA}
            if not value:
                continue
        _walk(value, ("f:" + key,), key, custom, found)
    return found


def _walk(value: Any, path: Path, name: str, custom: bool, found: dict[Path, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _walk(child, path + ("f:" + key,), key, custom, found)
        return
    if isinstance(value, list) and value and not custom:
        if name in PRIMITIVE_MERGE_LISTS and all(not isinstance(item, (dict, list)) for item in value):
            for item in value:
                found[path + ("v:" + _VALUE_JSON(item),)] = item
            return
        keys = _item_key(name, value, custom)
        if keys is not None:
            for item in value:
                item_path = path + (_key_element(item, keys),)
                found[item_path] = None
                for key, child in item.items():
                    _walk(child, item_path + ("f:" + key,), key, custom, found)
            return
    found[path] = value


def fields_of(obj: dict, *, custom: bool, status: bool = False) -> dict:
    """``to_fields_v1(leaves(obj))`` in one pass (the create path: every field is the writer's)."""
    return _interned(_shape_of(obj, custom=custom, status=status))


def _shape_of(obj: dict, *, custom: bool, status: bool) -> tuple:
    shape = []
    for key in sorted(obj):
        if key in _TOP_LEVEL_SKIPPED or (key == "status") != status:
            continue
        value = obj[key]
        if key == "metadata" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _STRIPPED_METADATA}
            if not value:
                continue
        shape.append(("f:" + key, _shape(value, key, custom)))
    return tuple(shape)


def _shape(value: Any, name: str, custom: bool) -> tuple:
    """The FieldsV1 tree of a value as nested (element, subtree) tuples: hashable, so equal trees
    are stored once (see ``_interned``)."""
    if isinstance(value, dict) and value:
        return tuple(("f:" + key, _shape(value[key], key, custom)) for key in sorted(value))
    if isinstance(value, list) and value and not custom:
        if name in PRIMITIVE_MERGE_LISTS and all(not isinstance(item, (dict, list)) for item in value):
            return tuple((element, ()) for element in sorted("v:" + _VALUE_JSON(item)
                                                               for item in value))
        keys = _item_key(name, value, custom)
        if keys is not None:
            items = {_key_element(item, keys): item for item in value}
            return tuple((element, ((".", ()),) + _shape(items[element], "", custom) if items[element] else ())
                         for element in sorted(items))
    return ()


# Stored objects are never mutated in place, so objects of the same shape share one FieldsV1 tree:
# 10,000 similar objects then add 10,000 small entries, not 100,000 dicts for the collector to scan.
_TREES: dict[tuple, dict] = {}


def _interned(shape: tuple) -> dict:
    tree = _TREES.get(shape)
    if tree is None:
        if len(_TREES) >= 4096:
            _TREES.clear()
        tree = _TREES[shape] = {element: _interned(child) if child else {} for element, child in shape}
    return tree


# The same for the trees of path sets (an update's): a controller's status write of 10,000
# Deployments owns the same fields in each, and builds and sorts that tree once.
_PATH_TREES: dict[frozenset, dict] = {}


def to_fields_v1(paths: Iterable[Path]) -> dict:
    """The FieldsV1 tree of a set of paths (a path that is also a prefix gets ``.``); shared by
    every caller asking for the same set, so never to be mutated."""
    key = frozenset(paths)
    tree = _PATH_TREES.get(key)
    if tree is None:
        if len(_PATH_TREES) >= 4096:
            _PATH_TREES.clear()
        tree = _PATH_TREES[key] = _tree_of(key)
    return tree


def _tree_of(paths: frozenset) -> dict:
    tree: dict = {}
    ordered = sorted(paths, key=len)
    for path in ordered:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in ordered:  # mark owned nodes that gained children after they were placed
        node = tree
        for element in path:
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return _sorted(tree)


def _sorted(tree: dict) -> dict:
    return {key: _sorted(tree[key]) for key in sorted(tree, key=lambda k: (k != ".", k))}


def from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    """The paths of a FieldsV1 tree."""
    paths: set[Path] = set()
    if not isinstance(tree, dict):
        return paths
    if prefix and (not tree or "." in tree):
        paths.add(prefix)
    for key, child in tree.items():
        if key != ".":
            paths |= from_fields_v1(child, prefix + (key,))
    return paths


def path_text(path: Path) -> str:
    """``.spec.template.spec.containers[name="web"].image`` as conflict messages print a path."""
    text = ""
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            text += "." + rest
        elif kind == "k":
            keys = json.loads(rest)
            text += "[" + ",".join(f"{key}={json.dumps(value)}" for key, value in keys.items()) + "]"
        else:
            text += f"[={rest}]"
    return text


def entry(manager: str, operation: str, api_version: str, time: str, paths: Iterable[Path],
          subresource: str | None = None) -> dict:
    """One ``managedFields`` entry."""
    return _entry_of_tree(manager, operation, api_version, time, to_fields_v1(paths), subresource)


def _entry_of_tree(manager: str, operation: str, api_version: str, time: str, tree: dict,
                   subresource: str | None) -> dict:
    item = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": time,
            "fieldsType": "FieldsV1", "fieldsV1": tree}
    if subresource:
        item["subresource"] = subresource
    return item


def _same_manager(item: dict, manager: str, operation: str, api_version: str, subresource: str | None) -> bool:
    return (item.get("manager") == manager and item.get("operation") == operation
            and item.get("subresource") == subresource
            and (operation == "Apply" or item.get("apiVersion") == api_version))


def record_update(old: dict | None, new: dict, *, manager: str, api_version: str, time: str, custom: bool,
                  subresource: str | None = None) -> list[dict]:
    """The managedFields after ``manager`` wrote ``new`` over ``old`` (None: a create) with an
    Update operation: it owns what it changed; the others lose what it changed or removed."""
    status = subresource == "status"
    if old is not None:
        after = leaves(new, custom=custom, status=status)
    if old is None:
        tree = fields_of(new, custom=custom, status=status)
        return [_entry_of_tree(manager, "Update", api_version, time, tree, subresource)] if tree else []
    before = leaves(old, custom=custom, status=status)
    changed = {path for path, value in after.items() if path not in before or before[path] != value}
    removed = set(before) - set(after)
    taken = changed | removed
    result = []
    mine: set[Path] = set()
    for item in old["metadata"].get("managedFields") or []:
        if not isinstance(item, dict):
            continue
        paths = from_fields_v1(item.get("fieldsV1"))
        if _same_manager(item, manager, "Update", api_version, subresource):
            mine = paths - removed
            continue
        if taken & paths and (item.get("subresource") == "status") == status:
            paths -= taken
            if not paths:
                continue
            item = dict(item, fieldsV1=to_fields_v1(paths))
        result.append(item)
    mine |= changed
    if mine:
        result.append(entry(manager, "Update", api_version, time, mine, subresource))
    return result


def owners(obj: dict) -> list[tuple[dict, set[Path]]]:
    """Every managedFields entry of an object with its set of paths."""
    return [(item, from_fields_v1(item.get("fieldsV1"))) for item in obj["metadata"].get("managedFields") or []
            if isinstance(item, dict)]


def manager_label(item: dict) -> str:
    """How a conflict names a manager: ``"kubectl"`` for appliers, ``"x" using apps/v1`` for updaters."""
    name = json.dumps(item.get("manager", ""))
    return name if item.get("operation") == "Apply" else f"{name} using {item.get('apiVersion', '')}"


__all__ = ["entry", "from_fields_v1", "leaves", "manager_label", "owners", "path_text", "record_update",
           "to_fields_v1", "user_agent_manager"]
