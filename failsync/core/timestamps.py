"""RFC 3339 timestamps: the one formatter and parser of failsync.

Kubernetes writes whole seconds in UTC (``2026-01-02T03:04:05Z``); logs and Leases
want fractions. Every timestamp failsync writes or prints comes from ``format_time``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def format_time(seconds: float, *, digits: int = 0) -> str:
    """RFC 3339 in UTC (``Z``) of seconds since the epoch, with ``digits`` (0, 3 or 6) of fraction."""
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += f".{moment.microsecond:06d}"[: digits + 1]
    return text + "Z"


def parse_time(text: Any) -> float | None:
    """Seconds since the epoch from an RFC 3339 timestamp (any zone); None when absent or malformed."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # RFC 3339 always has a zone; a bare local time means nothing here
    return moment.timestamp()
