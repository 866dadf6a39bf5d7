"""RFC 3339 timestamps: the one formatter and parser of failsync.

Kubernetes writes whole seconds in UTC (``2026-01-02T03:04:05Z``); logs and Leases
want fractions. Every timestamp failsync writes or prints comes from ``format_time``.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any


# The last whole second formatted and its text: log lines and Events come many to a second, and
# strftime was most of a log line's cost. One tuple, replaced whole, so threads never see half.
_last_second: tuple[int, str] = (-1, "")


def format_time(seconds: float, *, digits: int = 0) -> str:
    """RFC 3339 in UTC (``Z``) of seconds since the epoch, with ``digits`` (0, 3 or 6) of fraction."""
    global _last_second
    # Rounded to the microsecond the way datetime.fromtimestamp rounds (half to even), so a time
    # a hair before a second prints as that next second, as it always did.
    fraction, whole_float = math.modf(seconds)
    whole, micro = int(whole_float), round(fraction * 1_000_000)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    elif micro < 0:
        whole, micro = whole - 1, micro + 1_000_000
    cached_second, text = _last_second
    if whole != cached_second:
        text = datetime.fromtimestamp(whole, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        _last_second = (whole, text)
    if digits:
        text += f".{micro:06d}"[: digits + 1]
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
