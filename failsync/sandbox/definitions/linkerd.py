"""Linkerd's own HTTPRoute (policy.linkerd.io v1beta2 and v1beta3; v1beta3 stored).

Linkerd's HTTPRoute follows the Gateway API HTTPRoute of the same era: parentRefs
(usually a Service or a Linkerd Server), hostnames, rules with matches, backendRefs and
timeouts; its filters are limited to the header modifiers and RequestRedirect.
"""

from __future__ import annotations

import copy

from failsync.sandbox.definitions.common import AGE, crd, root, version
from failsync.sandbox.definitions.gateway import HTTP_ROUTE_SPEC, ROUTE_STATUS


def _linkerd_spec() -> dict:
    spec = copy.deepcopy(HTTP_ROUTE_SPEC)
    allowed = ["RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect"]
    rule = spec["properties"]["rules"]["items"]["properties"]
    rule.pop("name", None)
    for filters in (rule["filters"], rule["backendRefs"]["items"]["properties"]["filters"]):
        properties = filters["items"]["properties"]
        properties["type"]["enum"] = list(allowed)
        for key in ("requestMirror", "urlRewrite", "extensionRef"):
            properties.pop(key, None)
    return spec


_SCHEMA = root(_linkerd_spec(), status=ROUTE_STATUS, description="HTTPRoute provides a way to route HTTP requests.")
_HOSTNAMES_COLUMN = {"name": "Hostnames", "type": "string", "jsonPath": ".spec.hostnames"}

HTTP_ROUTE = crd("policy.linkerd.io", "HTTPRoute", "httproutes", [
    version("v1beta2", _SCHEMA, columns=(_HOSTNAMES_COLUMN, AGE), status=True),
    version("v1beta3", _SCHEMA, storage=True, columns=(_HOSTNAMES_COLUMN, AGE), status=True),
], labels={"linkerd.io/control-plane-ns": "linkerd"})
