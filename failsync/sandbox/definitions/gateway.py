"""HTTPRoute (v1, v1beta1) and GRPCRoute (v1) of gateway.networking.k8s.io, standard channel.

Written from the Gateway API v1.2 types: the same structural schema at v1 and v1beta1 (v1
is the storage version), defaults (parentRef group/kind, backendRef group/kind/weight,
the PathPrefix "/" match), limits (16 hostnames, 32 parentRefs, 16 rules, 64 matches,
16 filters, 16 backendRefs, weight 0..1,000,000, port 1..65535) and patterns, printer
columns Hostnames and Age, a status subresource. The upstream CEL rules are listed but not
evaluated by the sandbox.
"""

from __future__ import annotations

from failsync.sandbox.definitions.common import AGE, array, crd, integer, obj, root, string, version

_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_GROUP = string("Group is the group of the referent.", maxLength=253,
                pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KIND = string("Kind is the kind of the referent.", maxLength=63, minLength=1,
               pattern=r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
_NAME = string("Name is the name of the referent.", maxLength=253, minLength=1)
_NAMESPACE = string("Namespace is the namespace of the referent.", maxLength=63, minLength=1,
                    pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SECTION = string("SectionName is the name of a section within the target resource.", maxLength=253, minLength=1,
                  pattern=_DNS_SUBDOMAIN)
_PORT = integer("Port specifies the destination port number to use for this resource.", minimum=1, maximum=65535)
_HOSTNAME = string("Hostname is the fully qualified domain name of a network host.", maxLength=253, minLength=1,
                   pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HEADER_NAME = string("Name is the name of the HTTP Header to be matched.", maxLength=256, minLength=1,
                      pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_\x60|~]+$")
_DURATION = string("Duration string (Gateway API GEP-2257).", pattern=r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")

PARENT_REF = obj({"group": {**_GROUP, "default": "gateway.networking.k8s.io"},
                  "kind": {**_KIND, "default": "Gateway"},
                  "namespace": _NAMESPACE, "name": _NAME, "sectionName": _SECTION, "port": _PORT},
                 required=("name",), description="ParentReference identifies an API object (usually a Gateway, or a "
                                                 "Service for GAMMA mesh routes) this route attaches to.")
PARENT_REFS = array(PARENT_REF, maxItems=32, description="ParentRefs references the resources (usually Gateways) that "
                                                          "a Route wants to be attached to.",
                    **{"x-kubernetes-validations": [
                        {"message": "sectionName or port must be specified when parentRefs includes 2 or more "
                                    "references to the same parent",
                         "rule": "self.all(p1, self.exists_one(p2, p1.group == p2.group && p1.kind == p2.kind && "
                                 "p1.name == p2.name && (((!has(p1.__namespace__) || p1.__namespace__ == '') && "
                                 "(!has(p2.__namespace__) || p2.__namespace__ == '')) || (has(p1.__namespace__) && "
                                 "has(p2.__namespace__) && p1.__namespace__ == p2.__namespace__))))"}]})


def _header_modifier(description: str) -> dict:
    header = obj({"name": _HEADER_NAME, "value": string("Value is the value of HTTP Header to be matched.",
                                                      maxLength=4096, minLength=1)}, required=("name", "value"))
    keyed = {"x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map"}
    return obj({"set": array(header, maxItems=16, **keyed), "add": array(header, maxItems=16, **keyed),
                "remove": array(string(), maxItems=16, **{"x-kubernetes-list-type": "set"})},
               description=description)


def _backend_object_ref(*, weight: bool) -> dict:
    properties = {"group": {**_GROUP, "default": ""}, "kind": {**_KIND, "default": "Service"}, "name": _NAME,
                  "namespace": _NAMESPACE, "port": _PORT}
    if weight:
        properties["weight"] = integer("Weight specifies the proportion of requests forwarded to the referenced "
                                       "backend: its weight divided by the sum of the rule's weights. 0 means no "
                                       "traffic.", default=1, minimum=0, maximum=1000000)
    return obj(properties, required=("name",), **{"x-kubernetes-validations": [
        {"message": "Must have port for Service reference",
         "rule": "(size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true"}]})


_EXTENSION_REF = obj({"group": {**_GROUP, "pattern": _GROUP["pattern"]}, "kind": _KIND, "name": _NAME},
                     required=("group", "kind", "name"))
_PATH_MODIFIER = obj({"type": string(enum=["ReplaceFullPath", "ReplacePrefixMatch"]),
                      "replaceFullPath": string(maxLength=1024), "replacePrefixMatch": string(maxLength=1024)},
                     required=("type",))
_HTTP_FILTER = obj({
    "type": string("Type identifies the type of filter to apply.",
                   enum=["RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror", "RequestRedirect",
                         "URLRewrite", "ExtensionRef"]),
    "requestHeaderModifier": _header_modifier("Modifies request headers."),
    "responseHeaderModifier": _header_modifier("Modifies response headers."),
    "requestMirror": obj({"backendRef": _backend_object_ref(weight=False),
                          "percent": integer(minimum=0, maximum=100),
                          "fraction": obj({"numerator": integer(minimum=0), "denominator": integer(default=100,
                                                                                                    minimum=1)},
                                          required=("numerator",))}, required=("backendRef",)),
    "requestRedirect": obj({"scheme": string(enum=["http", "https"]), "hostname": _HOSTNAME,
                            "path": _PATH_MODIFIER, "port": _PORT,
                            "statusCode": integer(default=302, enum=[301, 302])}),
    "urlRewrite": obj({"hostname": _HOSTNAME, "path": _PATH_MODIFIER}),
    "extensionRef": _EXTENSION_REF,
}, required=("type",))

_HTTP_MATCH = obj({
    "path": obj({"type": string(default="PathPrefix", enum=["Exact", "PathPrefix", "RegularExpression"]),
                 "value": string(default="/", maxLength=1024)}, default={"type": "PathPrefix", "value": "/"}),
    "headers": array(obj({"type": string(default="Exact", enum=["Exact", "RegularExpression"]),
                          "name": _HEADER_NAME, "value": string(maxLength=4096)}, required=("name", "value")),
                     maxItems=16, **{"x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map"}),
    "queryParams": array(obj({"type": string(default="Exact", enum=["Exact", "RegularExpression"]),
                              "name": string(maxLength=256, minLength=1, pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_\x60|~]+$"),
                              "value": string(maxLength=1024, minLength=1)}, required=("name", "value")),
                         maxItems=16, **{"x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map"}),
    "method": string(enum=["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]),
})

_HTTP_BACKEND_REF = obj({**_backend_object_ref(weight=True)["properties"],
                         "filters": array(_HTTP_FILTER, maxItems=16)}, required=("name",))

_HTTP_RULE = obj({
    "name": _SECTION,
    "matches": array(_HTTP_MATCH, maxItems=64, default=[{"path": {"type": "PathPrefix", "value": "/"}}]),
    "filters": array(_HTTP_FILTER, maxItems=16),
    "backendRefs": array(_HTTP_BACKEND_REF, maxItems=16),
    "timeouts": obj({"request": _DURATION, "backendRequest": _DURATION}),
})

_CONDITION = obj({"type": string(maxLength=316, pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*"
                                                        r"[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?"
                                                        r"[A-Za-z0-9])$"),
                  "status": string(enum=["True", "False", "Unknown"]),
                  "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
                  "lastTransitionTime": string(format="date-time"),
                  "reason": string(maxLength=1024, minLength=1, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
                  "message": string(maxLength=32768)},
                 required=("lastTransitionTime", "message", "reason", "status", "type"))

ROUTE_STATUS = obj({"parents": array(obj({
    "parentRef": PARENT_REF,
    "controllerName": string(maxLength=253, minLength=1),
    "conditions": array(_CONDITION, maxItems=8, minItems=1,
                        **{"x-kubernetes-list-map-keys": ["type"], "x-kubernetes-list-type": "map"}),
}, required=("controllerName", "parentRef")), maxItems=32)}, required=("parents",),
    description="Status defines the current state of the route.")

_HOSTNAMES_COLUMN = {"name": "Hostnames", "type": "string", "jsonPath": ".spec.hostnames"}

HTTP_ROUTE_SPEC = obj({
    "parentRefs": PARENT_REFS,
    "hostnames": array(_HOSTNAME, maxItems=16),
    "rules": array(_HTTP_RULE, maxItems=16, default=[{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]),
}, description="Spec defines the desired state of HTTPRoute.")

_HTTP_ROUTE_SCHEMA = root(HTTP_ROUTE_SPEC, status=ROUTE_STATUS,
                          description="HTTPRoute provides a way to route HTTP requests.")

HTTP_ROUTE = crd("gateway.networking.k8s.io", "HTTPRoute", "httproutes", [
    version("v1", _HTTP_ROUTE_SCHEMA, storage=True, columns=(_HOSTNAMES_COLUMN, AGE), status=True),
    version("v1beta1", _HTTP_ROUTE_SCHEMA, columns=(_HOSTNAMES_COLUMN, AGE), status=True),
], categories=("gateway-api",), annotations={"gateway.networking.k8s.io/bundle-version": "v1.2.1",
                                             "gateway.networking.k8s.io/channel": "standard"})

_GRPC_FILTER = obj({
    "type": string(enum=["ResponseHeaderModifier", "RequestHeaderModifier", "RequestMirror", "ExtensionRef"]),
    "requestHeaderModifier": _header_modifier("Modifies request headers."),
    "responseHeaderModifier": _header_modifier("Modifies response headers."),
    "requestMirror": obj({"backendRef": _backend_object_ref(weight=False)}, required=("backendRef",)),
    "extensionRef": _EXTENSION_REF,
}, required=("type",))

_GRPC_RULE = obj({
    "name": _SECTION,
    "matches": array(obj({
        "method": obj({"type": string(default="Exact", enum=["Exact", "RegularExpression"]),
                       "service": string(maxLength=1024), "method": string(maxLength=1024)}),
        "headers": array(obj({"type": string(default="Exact", enum=["Exact", "RegularExpression"]),
                              "name": _HEADER_NAME, "value": string(maxLength=4096, minLength=1)},
                             required=("name", "value")), maxItems=16,
                         **{"x-kubernetes-list-map-keys": ["name"], "x-kubernetes-list-type": "map"}),
    }), maxItems=64),
    "filters": array(_GRPC_FILTER, maxItems=16),
    "backendRefs": array(obj({**_backend_object_ref(weight=True)["properties"],
                              "filters": array(_GRPC_FILTER, maxItems=16)}, required=("name",)), maxItems=16),
})

GRPC_ROUTE = crd("gateway.networking.k8s.io", "GRPCRoute", "grpcroutes", [
    version("v1", root(obj({"parentRefs": PARENT_REFS, "hostnames": array(_HOSTNAME, maxItems=16),
                            "rules": array(_GRPC_RULE, maxItems=16)},
                           description="Spec defines the desired state of GRPCRoute."),
                       status=ROUTE_STATUS, description="GRPCRoute provides a way to route gRPC requests."),
            storage=True, columns=(_HOSTNAMES_COLUMN, AGE), status=True),
], categories=("gateway-api",), annotations={"gateway.networking.k8s.io/bundle-version": "v1.2.1",
                                             "gateway.networking.k8s.io/channel": "standard"})
