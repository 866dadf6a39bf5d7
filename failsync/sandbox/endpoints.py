"""The sandbox's endpoints that are no resource: its own ``/_sandbox/`` control endpoints (the
request log, faults and outages), discovery, the OpenAPI documents and the health checks.

Owns: what each of those paths answers, and "404 page not found" / 405 for the rest as the
real mux answers. Never does: resources (``server`` routes them to ``reads``/``writes``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from failsync.sandbox import discovery as documents
from failsync.sandbox import openapi, openapi_proto
from failsync.sandbox.status import bad_request, forbidden, method_not_allowed

if TYPE_CHECKING:
    from failsync.sandbox.server import Handler

def admin(handler: "Handler", path: str, body: bytes) -> None:
    """The sandbox's own endpoints; with tokens on, reading the log needs a known token and
    setting faults one that may do everything (401 / 403 otherwise)."""
    cluster = handler.server.cluster
    token = cluster.auth.authenticate(handler.headers.get("Authorization"))
    if token is not None and path == "/_sandbox/faults" and cluster.auth.rules(token) is not None:
        raise forbidden(f'forbidden: User "{cluster.auth.user(token)}" cannot set the sandbox\'s faults',
                        "", "", "")
    if path == "/_sandbox/requests" and handler.command == "GET":
        handler.answer_json(200, [record.as_dict() for record in list(cluster.requests)])
    elif path == "/_sandbox/faults" and handler.command == "POST":
        try:
            settings = json.loads(body or b"{}")
            outage = settings.pop("outage", None) if isinstance(settings, dict) else None
            cluster.faults.configure(settings)
        except (ValueError, TypeError, AttributeError) as error:
            raise bad_request(f"invalid fault settings: {error}") from None
        handler.answer_json(200, {"ok": True})
        if outage:
            handler.close_connection = True
            cluster.faults.outage(float(outage))
    else:
        handler.answer_not_found()


def discovery(handler: "Handler", path: str) -> None:
    """A discovery document; a path that is none (nor a resource) is "404 page not found" for any
    method, a document asked with another method than GET is 405 (as the real mux answers)."""
    path = path.rstrip("/") or "/"
    parts = [p for p in path.split("/") if p]
    answer: Any = None
    if path == "/version":
        answer = documents.VERSION
    elif path == "/api":
        answer = documents.api_versions(handler.server.cluster.url.removeprefix("http://"))
    elif path == "/apis":
        answer = documents.api_group_list(handler.server.cluster.registry)
    elif parts[:2] == ["api", "v1"] and len(parts) == 2:
        answer = documents.resource_list(handler.server.cluster.registry, "", "v1")
    elif parts[:1] == ["apis"] and len(parts) == 2:
        answer = documents.api_group(handler.server.cluster.registry, parts[1])
    elif parts[:1] == ["apis"] and len(parts) == 3:
        answer = documents.resource_list(handler.server.cluster.registry, parts[1], parts[2])
    elif path == "/openapi/v2":
        protobuf = "protobuf" in (handler.headers.get("Accept") or "")
        document = openapi.v2_bytes(handler.server.cluster.registry, protobuf=protobuf)
        if protobuf:
            handler.answer(200, document, openapi_proto.CONTENT_TYPE)
        else:
            handler.answer(200, document)  # JSON
        return
    elif path == "/openapi/v3":
        answer = openapi.v3_root(handler.server.cluster.registry)
    elif parts[:2] == ["openapi", "v3"] and len(parts) in (4, 5):
        group, version = (parts[3], parts[4]) if parts[2] == "apis" and len(parts) == 5 else ("", parts[3])
        document = openapi.v3_bytes(handler.server.cluster.registry, group, version) \
            if parts[2] in ("api", "apis") else None
        if document is None:
            handler.answer_not_found()
        else:
            handler.answer(200, document)
        return
    elif path in ("/healthz", "/livez", "/readyz"):
        answer = "ok"
    if answer is None:
        handler.answer_not_found()
    elif handler.command != "GET":
        raise method_not_allowed()
    elif answer == "ok":
        handler.answer(200, b"ok", "text/plain; charset=utf-8")
    else:
        handler.answer_json(200, answer)


__all__ = ["admin", "discovery"]
