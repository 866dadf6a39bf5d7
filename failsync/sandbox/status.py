"""Kubernetes ``Status`` error bodies, shaped exactly as kube-apiserver's (reference §6).

Owns: the ``ApiError`` exception that every sandbox layer raises to answer a request
with a non-2xx Status, and one constructor per reason. Never does: HTTP or storage.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An answer with a ``Status`` body: code, reason, message and optional details."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}
        self.list_metadata: dict[str, Any] = {}  # e.g. a fresh continue token on an expired one

    def body(self) -> dict[str, Any]:
        """The Status object as the real server serialises it."""
        status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": dict(self.list_metadata),
                                  "status": "Failure", "message": self.message}
        if self.reason:
            status["reason"] = self.reason
        if self.details:
            status["details"] = self.details
        status["code"] = self.code
        return status


def qualified(resource: str, group: str) -> str:
    """``deployments.apps`` for named groups, ``services`` for the core group."""
    return f"{resource}.{group}" if group else resource


def _details(name: str, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name} if name else {}
    if group:
        details["group"] = group
    details["kind"] = kind
    details.update({key: value for key, value in extra.items() if value is not None})
    return details


def not_found(resource: str, group: str, name: str) -> ApiError:
    """404 NotFound ``<resource>.<group> "name" not found``."""
    return ApiError(404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
                    _details(name, group, resource))


def already_exists(resource: str, group: str, name: str) -> ApiError:
    """409 AlreadyExists ``<resource>.<group> "name" already exists``."""
    return ApiError(409, "AlreadyExists", f'{qualified(resource, group)} "{name}" already exists',
                    _details(name, group, resource))


def conflict(resource: str, group: str, name: str, why: str | None = None) -> ApiError:
    """409 Conflict with the real optimistic-concurrency message."""
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}',
                    _details(name, group, resource))


def invalid(kind: str, group: str, name: str, causes: list[dict[str, str]]) -> ApiError:
    """422 Invalid; each cause is ``{"reason", "message", "field"}`` (message without the field prefix)."""
    texts = [f"{cause['field']}: {cause['message']}" if cause.get("field") else cause["message"] for cause in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(422, "Invalid", f'{qualified(kind, group)} "{name}" is invalid: {joined}',
                    _details(name, group, kind, causes=[dict(cause) for cause in causes]))


def field_cause(field: str, reason: str, message: str) -> dict[str, str]:
    """One Status cause; ``reason`` is e.g. FieldValueInvalid, FieldValueRequired."""
    return {"reason": reason, "message": message, "field": field}


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def expired(message: str) -> ApiError:
    """410 Expired (too old resourceVersion, expired continue token)."""
    return ApiError(410, "Expired", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    """405 MethodNotAllowed."""
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    """415 UnsupportedMediaType naming the accepted media types."""
    return ApiError(415, "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}")


def unprocessable(message: str) -> ApiError:
    """422 Invalid without field causes (e.g. a failed JSON Patch operation)."""
    return ApiError(422, "Invalid", message)


def internal(message: str) -> ApiError:
    """500 InternalError."""
    return ApiError(500, "InternalError", message, {"causes": [{"message": message}]})


def unauthorized() -> ApiError:
    """401 Unauthorized, message "Unauthorized" as the real authentication filter writes it."""
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(message: str, resource: str, group: str, name: str) -> ApiError:
    """403 Forbidden."""
    return ApiError(403, "Forbidden", message, _details(name, group, resource))


def injected(code: int, retry_after: float | None) -> ApiError:
    """The answer of an injected fault: 429 TooManyRequests, 503, 500 or any other code."""
    reasons = {429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
               500: ("InternalError", "an error on the server (\"injected fault\") has prevented the request from succeeding"),
               503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
               504: ("Timeout", "the server was unable to return a response in the time allotted"),
               409: ("Conflict", "the object has been modified (injected fault)")}
    reason, message = reasons.get(code, ("InternalError", f"injected fault {code}"))
    details = {"retryAfterSeconds": int(retry_after)} if retry_after is not None else None
    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
    return ApiError(code, reason, message, details, headers)
