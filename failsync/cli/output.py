"""What the CLI says when something goes wrong: the exit-code contract and error lines.

Owns: the one mapping from errors to process exit codes (SPEC §5) and printing an
error line on stderr in the chosen ``--log-format`` (text: ``error: ...``, or the
``file:line: key: message`` of a policy error; json: one object per line, with an
RFC 3339 ``time``). Every line goes through ``safe_text``: escaped and bounded.

Exit codes:
- 0: success (``diff``: in sync);
- 1: ``diff``: changes pending; ``validate``/``render``: the policies are invalid;
- 2: any other error, and any error at all in ``diff``, ``sync``, ``status`` and ``run``
  (so that 1 from ``diff`` always means "changes pending"); usage errors (click's).
"""

from __future__ import annotations

import json
import time
from typing import Iterable

import click

from failsync.core.timestamps import format_time
from failsync.errors import FailsyncError, PolicyError, safe_text

EXIT_OK = 0
EXIT_CHANGES_PENDING = 1
EXIT_INVALID = 1
EXIT_ERROR = 2
#: Commands for which every error is 2 (1 is diff's "changes pending", never an error).
CLUSTER_COMMANDS = frozenset({"diff", "sync", "status", "run"})


def exit_code_for(command: str | None, error: BaseException) -> int:
    """The exit code of ``command`` failing with ``error``."""
    if isinstance(error, click.ClickException):
        return error.exit_code  # usage errors: 2
    if command in CLUSTER_COMMANDS:
        return EXIT_ERROR
    if isinstance(error, FailsyncError):
        return error.exit_code
    return EXIT_ERROR


def exit_code_for_errors(command: str | None, errors: Iterable[BaseException]) -> int:
    """The exit code of ``command`` having reported ``errors`` (0 when there are none)."""
    return max((exit_code_for(command, error) for error in errors), default=EXIT_OK)


def _json_format() -> bool:
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return False
    from failsync.cli.options import settings

    return settings(ctx).log_format == "json"


def report_error(error: BaseException | str, *, prefix: str = "error: ") -> None:
    """Print one error on stderr: ``prefix`` and the message (text), or one JSON object (json)."""
    if _json_format():
        payload: dict[str, object] = {"time": format_time(time.time(), digits=3), "level": "error",
                                      "logger": "failsync.cli", "message": safe_text(str(error))}
        if isinstance(error, PolicyError) and error.location is not None:
            payload.update({"file": safe_text(error.location.file), "line": error.location.line,
                            "key": safe_text(error.location.key) if error.location.key else None})
        click.echo(json.dumps(payload), err=True)
    else:
        click.echo(f"{prefix}{safe_text(str(error))}", err=True)


def report_errors(errors: Iterable[BaseException | str], *, prefix: str = "error: ") -> None:
    """``report_error`` for each."""
    for error in errors:
        report_error(error, prefix=prefix)
