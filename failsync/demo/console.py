"""How the demo talks to the person watching: step headers, commands, tables, YAML,
progress while waiting, ok/FAILED lines.

Owns: colour (only on a terminal, never with ``NO_COLOR``), the in-place progress line
on a terminal (a single "waiting ..." line when piped), and pausing between steps.
Never does: decide whether a step passed (the scenario does).
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Collection, Sequence, TextIO

import click

SPINNER = "|/-\\"


def wants_colour(stream: TextIO) -> bool:
    """Colour only on a terminal and only when ``NO_COLOR`` is unset or empty (no-color.org)."""
    return not os.environ.get("NO_COLOR") and stream.isatty()


class Console:
    """Writes the demo to ``stream``; ``interactive`` enables colour and in-place progress."""

    def __init__(self, stream: TextIO | None = None, *, colour: bool | None = None,
                 pause: Callable[[str], None] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.colour = wants_colour(self.stream) if colour is None else colour
        self.live = self._isatty()
        self._pause = pause
        self._progress_shown = False
        self._spin = 0

    def _isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def _style(self, text: str, **style: object) -> str:
        return click.style(text, **style) if self.colour else text  # type: ignore[arg-type]

    def echo(self, text: str = "") -> None:
        self._clear_progress()
        click.echo(text, file=self.stream, color=self.colour)

    def title(self, text: str) -> None:
        self.echo(self._style(text, bold=True))

    def note(self, text: str) -> None:
        self.echo(self._style(text, dim=True) if self.colour else text)

    def step(self, number: int, total: int, text: str) -> None:
        self.echo()
        self.echo(self._style(f"[{number}/{total}] ", fg="cyan", bold=True) + self._style(text, bold=True))

    def command(self, text: str) -> None:
        self.echo("  " + self._style(f"$ {text}", fg="blue"))

    def block(self, lines: Sequence[str], *, highlighted: Collection[int] = ()) -> None:
        """Indented output; the lines at the ``highlighted`` indexes are shown in yellow."""
        for index, line in enumerate(lines):
            self.echo("    " + (self._style(line, fg="yellow", bold=True) if index in highlighted else line))

    def table(self, rows: Sequence[Sequence[str]], *, highlight: Callable[[Sequence[str]], bool] = lambda _r: False
              ) -> None:
        """Aligned columns, header first (as kubectl and linkerd print them)."""
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for index, row in enumerate(rows):
            line = "   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            if index == 0:
                line = self._style(line, dim=True) if self.colour else line
            elif highlight(row):
                line = self._style(line, fg="yellow", bold=True)
            self.echo("    " + line)

    def ok(self, text: str) -> None:
        self.echo("  " + self._style("ok", fg="green", bold=True) + f"  {text}")

    def failed(self, text: str) -> None:
        self.echo("  " + self._style("FAILED", fg="red", bold=True) + f"  {text}")

    def progress(self, text: str, elapsed: float) -> None:
        """Show that something is being waited for: an updating line on a terminal, one line when piped."""
        if self.live:
            self._spin += 1
            frame = SPINNER[self._spin % len(SPINNER)]
            self.stream.write(f"\r  {self._style(frame, fg='cyan')} {text} {elapsed:4.1f}s\x1b[K")
            self.stream.flush()
            self._progress_shown = True
        elif not self._progress_shown:
            self.stream.write(f"  ... {text}\n")
            self.stream.flush()
            self._progress_shown = True

    def end_progress(self) -> None:
        """The wait is over: the next line starts clean (and a new wait shows its line again)."""
        self._clear_progress()

    def _clear_progress(self) -> None:
        if self._progress_shown:
            if self.live:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            self._progress_shown = False

    def pause(self, next_step: str) -> None:
        """With ``--step``: wait for Enter before the next step."""
        if self._pause is not None:
            self._pause(self._style(f"  press Enter for: {next_step} ", dim=True) if self.colour
                        else f"  press Enter for: {next_step} ")
