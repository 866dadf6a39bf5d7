"""The exception tree of failsync. Every error the user can cause or meet is a
FailsyncError; each class carries the process exit code the CLI uses for it.

This module imports nothing else of failsync.
"""

from __future__ import annotations

from dataclasses import dataclass


class FailsyncError(Exception):
    """Root of every error failsync raises on purpose."""

    exit_code: int = 2


@dataclass(frozen=True)
class Location:
    """Where in the user's input a problem sits: file, 1-based line, dotted key path."""

    file: str
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}" if self.key else where


class PolicyError(FailsyncError):
    """A policy file is invalid; the user must fix it. Formats as ``file:line: key: message``."""

    exit_code = 1

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class TemplateError(FailsyncError):
    """A template is missing, fails to render, or renders something that is not one object."""

    exit_code = 1


class ApiError(FailsyncError):
    """The Kubernetes API answered with an error (or could not be reached)."""

    exit_code = 2

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None) -> None:
        self.status = status
        self.reason = reason
        super().__init__(message)


class Unreachable(ApiError):
    """The API server could not be reached at all (connection refused, DNS, TLS)."""


class Unauthorized(ApiError):
    """401: the credentials were rejected."""


class Forbidden(ApiError):
    """403: the credentials lack an RBAC permission."""


class NotFound(ApiError):
    """404: the object, or its kind, does not exist."""


class Conflict(ApiError):
    """409, or 422 from the resourceVersion guard: normal; re-read and decide again."""


class Invalid(ApiError):
    """422 other than a failed guard: the server rejected the object."""


class Gone(ApiError):
    """410: a watch or continue token expired; re-list."""


class ServerError(ApiError):
    """5xx or 429: temporary; retry with backoff (``retry_after`` seconds when the server said)."""

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status, reason=reason)
        self.retry_after = retry_after
