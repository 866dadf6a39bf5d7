"""Discovery documents: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/G``, ``/apis/G/V``,
and the CustomResourceDefinition objects describing the custom kinds.

Owns: the legacy (non-aggregated) discovery bodies kubectl and client-go read. Never does:
HTTP. The sandbox serves no aggregated discovery and no OpenAPI, so clients fall back.
"""

from __future__ import annotations

from failsync.sandbox import resources
from failsync.sandbox.resources import ResourceType

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-failsync-sandbox", "gitCommit": "0" * 40,
           "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.4",
           "compiler": "gc", "platform": "linux/amd64"}


def api_versions(server_address: str) -> dict:
    """``/api``."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str) -> dict:
    versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in resources.versions_of(name)]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def group_names() -> list[str]:
    """Named groups in discovery order."""
    return [g for g in dict.fromkeys(group for group, _ in resources.GROUP_VERSIONS) if g]


def api_group_list() -> dict:
    """``/apis``."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(name) for name in group_names()]}


def api_group(name: str) -> dict | None:
    """``/apis/G`` or None when the group is not served."""
    if name not in group_names():
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def _entry(resource: ResourceType) -> dict:
    entry = {"name": resource.plural, "singularName": resource.singular, "namespaced": resource.namespaced,
             "kind": resource.kind, "verbs": list(resource.verbs)}
    if resource.short_names:
        entry["shortNames"] = list(resource.short_names)
    if resource.categories:
        entry["categories"] = list(resource.categories)
    entry["storageVersionHash"] = ""
    return entry


def _subresource(resource: ResourceType, sub: str) -> dict:
    if sub == "scale":
        return {"name": f"{resource.plural}/scale", "singularName": "", "namespaced": resource.namespaced,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}
    return {"name": f"{resource.plural}/{sub}", "singularName": "", "namespaced": resource.namespaced,
            "kind": resource.kind, "verbs": ["get", "patch", "update"]}


def resource_list(group: str, version: str) -> dict | None:
    """``/api/v1`` or ``/apis/G/V``: an APIResourceList, or None when not served."""
    served = resources.of_group_version(group, version)
    if not served:
        return None
    entries = []
    for resource in served:
        entries.append(_entry(resource))
        entries.extend(_subresource(resource, sub) for sub in resource.subresources)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": entries}


def custom_resource_definitions() -> list[dict]:
    """The CRD objects of the custom kinds the sandbox serves (read-only, listed by the server)."""
    definitions: dict[str, dict] = {}
    for resource in resources.RESOURCES:
        if not resource.custom:
            continue
        name = f"{resource.plural}.{resource.group}"
        crd = definitions.setdefault(name, {
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": resource.group, "scope": "Namespaced" if resource.namespaced else "Cluster",
                     "names": {"plural": resource.plural, "singular": resource.singular, "kind": resource.kind,
                               "listKind": resource.list_kind,
                               **({"shortNames": list(resource.short_names)} if resource.short_names else {}),
                               **({"categories": list(resource.categories)} if resource.categories else {})},
                     "conversion": {"strategy": "None"}, "versions": []},
            "status": {"acceptedNames": {"plural": resource.plural, "kind": resource.kind},
                       "storedVersions": [resource.version],
                       "conditions": [{"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                                       "message": "the initial names have been accepted"}]}})
        crd["spec"]["versions"].append({
            "name": resource.version, "served": True, "storage": resources.storage_type(resource.store_key) is resource,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            **({"subresources": {"status": {}}} if resource.status_subresource else {})})
    return list(definitions.values())
