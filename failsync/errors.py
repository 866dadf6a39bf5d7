"""The exception tree of failsync. Every error the user can cause or meet is a
FailsyncError; each class carries the process exit code the CLI uses for it.

This module imports nothing else of failsync.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Longest message failsync prints for one error; longer ones keep their start and end.
MESSAGE_LIMIT = 1000
# What must never reach a terminal or a log raw: C0/C1 controls (a newline would forge a
# second error line), DEL, and the bidirectional overrides, embeddings and isolates (U+202E
# would reorder what the reader sees).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(char) or f"\\u{ord(char):04x}"


def safe_text(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` as one printable line: control and bidi characters escaped, at most ``limit`` characters.

    Output is not a channel: an echoed value can neither forge a line nor flood the terminal.
    """
    if _UNSAFE.search(text):
        text = _UNSAFE.sub(_escaped, text)
    if len(text) > limit:
        tail = limit // 5
        cut = len(text) - limit
        text = f"{text[:limit - tail]}... [{cut} characters cut] ...{text[-tail:]}"
    return text


class FailsyncError(Exception):
    """Root of every error failsync raises on purpose. ``str()`` is always one safe, bounded line."""

    exit_code: int = 2

    def __str__(self) -> str:
        return safe_text(super().__str__())


@dataclass(frozen=True, slots=True)  # one per loaded policy: a __dict__ each cost twice the values
class Location:
    """Where in the user's input a problem sits: file, 1-based line, dotted key path."""

    file: str
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        text = f"{where}: {self.key}" if self.key else where
        return safe_text(text, MESSAGE_LIMIT // 2)


class PolicyError(FailsyncError):
    """A policy file is invalid; the user must fix it. Formats as ``file:line: key: message``."""

    exit_code = 1

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class PolicyPathError(PolicyError):
    """A policy path given on the command line does not exist: a usage error (exit 2), not bad content."""

    exit_code = 2


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
