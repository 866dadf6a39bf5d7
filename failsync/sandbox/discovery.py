"""Discovery documents: ``/version``, ``/api``, ``/api/v1``, ``/apis``, ``/apis/G``, ``/apis/G/V``.

Owns: the legacy (non-aggregated) discovery bodies kubectl and client-go read, built from a
cluster's ``Registry`` (so they follow its installed CRDs). Never does: HTTP. The sandbox
serves no aggregated discovery, so clients fall back to these.
"""

from __future__ import annotations

from failsync.sandbox.resources import Registry, ResourceType

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-failsync-sandbox", "gitCommit": "0" * 40,
           "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.4",
           "compiler": "gc", "platform": "linux/amd64"}


def api_versions(server_address: str) -> dict:
    """``/api``."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(registry: Registry, name: str) -> dict:
    versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in registry.versions_of(name)]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def group_names(registry: Registry) -> list[str]:
    """Named groups in discovery order."""
    return [g for g in dict.fromkeys(group for group, _ in registry.group_versions) if g]


def api_group_list(registry: Registry) -> dict:
    """``/apis``."""
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(registry, name) for name in group_names(registry)]}


def api_group(registry: Registry, name: str) -> dict | None:
    """``/apis/G`` or None when the group is not served."""
    if name not in group_names(registry):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(registry, name)}


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


def resource_list(registry: Registry, group: str, version: str) -> dict | None:
    """``/api/v1`` or ``/apis/G/V``: an APIResourceList, or None when not served."""
    served = registry.of_group_version(group, version)
    if not served:
        return None
    entries = []
    for resource in served:
        entries.append(_entry(resource))
        entries.extend(_subresource(resource, sub) for sub in resource.subresources)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": entries}
