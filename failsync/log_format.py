"""Log lines: the text and JSON formats every command writes to stderr, each with an RFC 3339 time.

Kept apart from ``observability`` so a one-shot command sets up logging without importing the
probe server's HTTP stack. Standard library only.
"""

from __future__ import annotations

import json
import logging

from failsync.core.timestamps import format_time


class TextFormatter(logging.Formatter):
    """``<RFC 3339 time> LEVEL logger: message``: the text log format, timed as the JSON one is."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (stdlib name)
        return format_time(record.created, digits=3)


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, with any ``extra`` fields (e.g. ``policy``) kept."""

    _standard = set(vars(logging.makeLogRecord({})))

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": format_time(record.created, digits=3),  # RFC 3339, UTC
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in self._standard})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)
