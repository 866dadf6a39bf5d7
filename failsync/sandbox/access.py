"""``SelfSubjectAccessReview`` (``kubectl auth can-i``): "may I do this?" answered from the
caller's token rights, as the real authorizer answers it.

Owns: the request path, reading the review (decoded by the server: JSON, or protobuf) and
the answer: the review echoed with ``status.allowed``.
Never does: HTTP framing or deciding rights (``auth``).
"""

from __future__ import annotations

from typing import Any

from failsync.sandbox.auth import Attributes, Authorizer
from failsync.sandbox.status import bad_request, field_cause, invalid

PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

def review(authorizer: Authorizer, token: str | None, body: Any) -> dict:
    """The answered review (201 Created on the real server); 400/422 for a malformed one."""
    if not isinstance(body, dict) or not isinstance(body.get("spec") or {}, dict):
        raise bad_request("the body of the request was not a valid SelfSubjectAccessReview")
    spec = body.get("spec") or {}
    resource = spec.get("resourceAttributes")
    non_resource = spec.get("nonResourceAttributes")
    if bool(resource) == bool(non_resource):
        raise invalid("SelfSubjectAccessReview", "authorization.k8s.io", "", [field_cause(
            "spec.resourceAttributes", "FieldValueInvalid",
            "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified")])
    if resource:
        attributes = Attributes(str(resource.get("group") or ""), str(resource.get("resource") or ""),
                                resource.get("subresource") or None, resource.get("namespace") or None,
                                resource.get("name") or None)
        allowed = authorizer.allowed(token, str(resource.get("verb") or ""), attributes)
    else:
        allowed = True  # every authenticated user may read the discovery and health paths
    status = {"allowed": allowed}  # RBAC gives no reason when no rule allows (kubectl then prints just "no")
    return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
            "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}


__all__ = ["PATH", "review"]
