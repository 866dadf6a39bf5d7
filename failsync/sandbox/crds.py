"""CustomResourceDefinitions through the API: the resource served for them, their validation
and defaults, and the controller that turns installed CRDs into served resources.

Owns: ``CRD_RESOURCE`` (apiextensions.k8s.io/v1 customresourcedefinitions), the checks the
real server makes on a CRD (names, group, scope, exactly one storage version, a structural
schema per version), and ``CRDController``: a store hook that, inside the commit of a CRD
write, sets the CRD's status as the apiextensions controllers do (NamesAccepted,
Established, acceptedNames, storedVersions), installs every served version into the
cluster's ``Registry`` (so discovery, routing, short names and printer columns follow at
once), and on deletion removes the CRD's objects. Never does: HTTP or the walk itself
(``schema``).

Conversion is strategy None: custom objects are kept at the version they were written at,
and a read at another version rewrites apiVersion then prunes and defaults with that
version's schema; observably the same as kube-apiserver storing at the storage version.
"""

from __future__ import annotations

import contextvars
import json
import threading
from typing import Any

from failsync.sandbox import schema
from failsync.sandbox.resources import Registry, ResourceType
from failsync.sandbox.status import field_cause
from failsync.sandbox.store import Change, Store

CRD_STORE_KEY = "apiextensions/customresourcedefinitions"


def default_definition(crd: dict) -> dict:
    """The defaults apiextensions applies to a CRD: singular, listKind, conversion None."""
    crd = dict(crd)
    spec = dict(crd.get("spec") or {})
    names = dict(spec.get("names") or {})
    if isinstance(names.get("kind"), str):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    spec["names"] = names
    spec.setdefault("conversion", {"strategy": "None"})
    crd["spec"] = spec
    return crd


def validate_definition(crd: dict) -> list[dict[str, str]]:
    """The field errors kube-apiserver answers 422 with for an invalid CRD."""
    causes: list[dict[str, str]] = []
    spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
    names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not group:
        causes.append(field_cause("spec.group", "FieldValueRequired", "Required value"))
    elif "." not in str(group):
        causes.append(field_cause("spec.group", "FieldValueInvalid",
                                  f'Invalid value: "{group}": should be a domain with at least one dot'))
    for key, value in (("plural", plural), ("kind", kind)):
        if not value:
            causes.append(field_cause(f"spec.names.{key}", "FieldValueRequired", "Required value"))
    name = (crd.get("metadata") or {}).get("name", "")
    if plural and group and name != f"{plural}.{group}":
        causes.append(field_cause("metadata.name", "FieldValueInvalid",
                                  f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'))
    scope = spec.get("scope")
    if scope not in ("Cluster", "Namespaced"):
        causes.append(field_cause("spec.scope", "FieldValueRequired", "Required value") if not scope else field_cause(
            "spec.scope", "FieldValueNotSupported", f'Unsupported value: "{scope}": supported values: "Cluster", '
                                                    '"Namespaced"'))
    strategy = (spec.get("conversion") or {}).get("strategy", "None")
    if strategy != "None":
        causes.append(field_cause("spec.conversion.strategy", "FieldValueNotSupported",
                                  f'Unsupported value: "{strategy}": supported values: "None" (the sandbox runs no '
                                  'conversion webhooks)'))
    versions = spec.get("versions") if isinstance(spec.get("versions"), list) else []
    if sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        causes.append(field_cause("spec.versions", "FieldValueInvalid",
                                  f"Invalid value: {json.dumps(versions)[:200]}: must have exactly one version marked "
                                  "as storage version"))
    seen: set[str] = set()
    for index, entry in enumerate(versions):
        where = f"spec.versions[{index}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            causes.append(field_cause(f"{where}.name", "FieldValueRequired", "Required value"))
            continue
        if entry["name"] in seen:
            causes.append(field_cause(f"{where}.name", "FieldValueDuplicate", f'Duplicate value: "{entry["name"]}"'))
        seen.add(entry["name"])
        root = ((entry.get("schema") or {}).get("openAPIV3Schema"))
        if not isinstance(root, dict):
            causes.append(field_cause(f"{where}.schema.openAPIV3Schema", "FieldValueRequired",
                                      "Required value: schemas are required"))
        elif root.get("type") != "object":
            causes.append(field_cause(f"{where}.schema.openAPIV3Schema.type", "FieldValueRequired",
                                      "Required value: must not be empty at the root") if not root.get("type") else
                          field_cause(f"{where}.schema.openAPIV3Schema.type", "FieldValueInvalid",
                                      f'Invalid value: "{root.get("type")}": must be object at the root'))
    return causes


CRD_RESOURCE = ResourceType(
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
    "CustomResourceDefinition", False, CRD_STORE_KEY, short_names=("crd", "crds"), categories=("api-extensions",),
    subresources=("status",), generation="spec", status_subresource=True, validate=validate_definition,
    default=default_definition)


# --- custom resources of one CRD version --------------------------------------------------------

_COMPILED: dict[str, schema.Structural] = {}
_COMPILED_LOCK = threading.Lock()
# The last write walk, so that the validation right after the defaulting walk reuses its causes.
_LAST_WALK: contextvars.ContextVar[tuple[dict, list] | None] = contextvars.ContextVar("last_walk", default=None)


def _compiled(openapi: dict) -> schema.Structural:
    key = json.dumps(openapi, sort_keys=True)
    with _COMPILED_LOCK:
        found = _COMPILED.get(key)
        if found is None:
            found = _COMPILED[key] = schema.compile_schema(openapi)
        return found


def _same_content(a: dict, b: dict) -> bool:
    """Shallow identity: the same keys holding the very same values (objects are never mutated)."""
    return a.keys() == b.keys() and all(a[k] is b[k] for k in a if k not in ("apiVersion", "kind", "metadata"))


def _custom_resource(crd: dict, entry: dict, structural: schema.Structural) -> ResourceType:
    spec = crd["spec"]
    names = spec["names"]
    kind, version = names["kind"], entry["name"]

    def default(view: dict) -> dict:
        result, causes = schema.coerce(structural, view, kind, version, sort_unknown=True)
        _LAST_WALK.set((result, causes))
        return result

    def validate(view: dict) -> list:
        last = _LAST_WALK.get()
        if last is not None and (last[0] is view or _same_content(last[0], view)):
            return list(last[1])
        outcome = schema.Outcome()
        structural.walk(view, "", outcome)
        return outcome.causes

    status = "status" in (entry.get("subresources") or {})
    return ResourceType(
        spec["group"], version, names["plural"], names.get("singular") or kind.lower(), kind,
        spec.get("scope") == "Namespaced", f"{spec['group']}/{names['plural']}",
        short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
        subresources=("status",) if status else (), custom=True, generation="content", put_requires_rv=True,
        delete_returns_status=True, status_subresource=status, validate=validate, default=default,
        on_read=lambda view: schema.on_read(structural, view),
        printer_columns=tuple(entry.get("additionalPrinterColumns") or ()), schema=structural)


def served_resources(crd: dict) -> list[ResourceType]:
    """The resources an established CRD serves, one per served version."""
    return [_custom_resource(crd, entry, _compiled(entry["schema"]["openAPIV3Schema"]))
            for entry in crd["spec"]["versions"] if entry.get("served")]


# --- the controller -----------------------------------------------------------------------------

def _condition(kind: str, ok: bool, reason: str, message: str, previous: list, now: str) -> dict:
    status = "True" if ok else "False"
    before = next((c for c in previous if isinstance(c, dict) and c.get("type") == kind), None)
    since = before["lastTransitionTime"] if before and before.get("status") == status and \
        before.get("lastTransitionTime") else now
    return {"type": kind, "status": status, "lastTransitionTime": since, "reason": reason, "message": message}


class CRDController:
    """Keeps one cluster's ``Registry`` and CRD statuses in step with its stored CRDs."""

    def __init__(self, store: Store, registry: Registry, timestamp) -> None:
        self.store = store
        self.registry = registry
        self._timestamp = timestamp
        self._served: dict[tuple[str, int, str], list[ResourceType]] = {}  # (uid, generation, name) -> resources

    def on_change(self, change: Change) -> None:
        """Store hook (inside the commit's lock): status, served resources, cleanup on delete.

        Custom objects of a deleted namespace are the namespace controller's (``deletion``), as
        for built-in kinds: it honours their finalizers."""
        if change.store_key != CRD_STORE_KEY:
            return
        if change.type == "DELETED":
            spec = change.obj.get("spec") or {}
            store_key = f"{spec.get('group')}/{(spec.get('names') or {}).get('plural')}"
            self._install()
            for obj in self.store.all_of(store_key):
                self.store.commit(store_key, "DELETED", obj, obj)
            return
        status = self._status(change.obj)
        if status != change.obj.get("status"):
            self.store.commit(CRD_STORE_KEY, "MODIFIED", dict(change.obj, status=status), change.obj)
            return  # that commit runs this hook again and installs
        self._install()

    def _status(self, crd: dict) -> dict:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        previous = crd.get("status") or {}
        conditions = previous.get("conditions") or []
        now = self._timestamp()
        conflict = self._conflict(crd)
        established_before = any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
        accepted = {k: names[k] for k in ("plural", "singular", "shortNames", "kind", "listKind", "categories")
                    if k in names}
        if conflict:
            names_condition = _condition("NamesAccepted", False, conflict[0], conflict[1], conditions, now)
            established = _condition("Established", established_before, "InitialNamesAccepted" if established_before
                                     else "NotAccepted", "the initial names have been accepted" if established_before
                                     else "not all names are accepted", conditions, now)
            accepted = previous.get("acceptedNames") or {}
        else:
            names_condition = _condition("NamesAccepted", True, "NoConflicts", "no conflicts found", conditions, now)
            established = _condition("Established", True, "InitialNamesAccepted",
                                     "the initial names have been accepted", conditions, now)
        storage = [v["name"] for v in spec.get("versions") or () if isinstance(v, dict) and v.get("storage")]
        stored = list(dict.fromkeys(list(previous.get("storedVersions") or ()) + storage))
        return {"conditions": [names_condition, established], "acceptedNames": accepted, "storedVersions": stored}

    def _conflict(self, crd: dict) -> tuple[str, str] | None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        for other in self.store.all_of(CRD_STORE_KEY):
            if other["metadata"]["name"] == crd["metadata"]["name"] or \
                    (other.get("spec") or {}).get("group") != spec.get("group"):
                continue
            taken = (other.get("status") or {}).get("acceptedNames") or {}
            if names.get("kind") and names.get("kind") == taken.get("kind"):
                return "KindConflict", f'"{names["kind"]}" is already in use'
            shared = set(names.get("shortNames") or ()) & set(taken.get("shortNames") or ())
            if shared:
                return "ShortNamesConflict", f'"{sorted(shared)[0]}" is already in use'
        return None

    def _install(self) -> None:
        served: list[ResourceType] = []
        cache: dict[tuple[str, int, str], list[ResourceType]] = {}
        for crd in sorted(self.store.all_of(CRD_STORE_KEY), key=lambda c: c["metadata"]["name"]):
            conditions = (crd.get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                continue
            key = (crd["metadata"].get("uid", ""), crd["metadata"].get("generation", 0), crd["metadata"]["name"])
            resources = self._served.get(key)
            if resources is None:
                resources = served_resources(crd)
            cache[key] = resources
            served.extend(resources)
        self._served = cache
        self.registry.install(served)


def install_defaults(store: Store, create: Any, crds: list[dict]) -> None:
    """Create the CRDs a cluster starts with through the normal write path."""
    for crd in crds:
        create(store, CRD_RESOURCE, None, crd)


__all__ = ["CRD_RESOURCE", "CRD_STORE_KEY", "CRDController", "default_definition", "install_defaults",
           "served_resources", "validate_definition"]
