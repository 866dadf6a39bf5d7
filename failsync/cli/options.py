"""Global options accepted before or after the command name (SPEC §5).

``@global_options`` goes on the group and on every command; both write into one
``Settings`` object on the click context, so ``failsync -v render`` and
``failsync render -v`` mean the same.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from failsync.log_format import JsonFormatter, TextFormatter
from failsync.loading import expand_path

F = TypeVar("F", bound=Callable[..., Any])

#: Where ``run --source`` and ``status --source`` take policies from.
POLICY_SOURCES = ("files", "cluster", "all")


@dataclass
class Settings:
    """What the global options resolved to."""

    kubeconfig: str | None = None
    contexts: tuple[str, ...] = ()
    verbose: int = 0
    log_format: str = "text"
    templates: Path | None = None

    @property
    def context(self) -> str | None:
        """The one context for commands that talk to a single cluster."""
        return self.contexts[0] if self.contexts else None

    def kubeconfig_path(self) -> str | None:
        """``--kubeconfig``, else ``$KUBECONFIG``, else ``~/.kube/config`` if it exists, else None (in-cluster)."""
        if self.kubeconfig:
            return self.kubeconfig
        if os.environ.get("KUBECONFIG"):
            return os.environ["KUBECONFIG"]
        default = Path.home() / ".kube" / "config"
        return str(default) if default.exists() else None


def settings(ctx: click.Context | None = None) -> Settings:
    """The Settings of this invocation (created on first use)."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings()
    return root.obj


def _store(attribute: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        target = settings(ctx)
        if attribute == "contexts":
            if value:
                target.contexts = tuple(target.contexts) + tuple(value)
        elif attribute == "verbose":
            target.verbose += value
            _configure_logging(target)
        elif attribute == "log_format":
            if value is not None:
                target.log_format = value
                _configure_logging(target)
        elif value is not None:
            setattr(target, attribute, expand_path(value) if attribute == "templates" else value)
        return value

    return callback


def log_handler(log_format: str | None) -> logging.Handler:
    """A stderr handler writing ``log_format`` (json, else text) lines, each with an RFC 3339 time."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    return handler


def _configure_logging(target: Settings) -> None:
    level = logging.WARNING - 10 * min(target.verbose, 2)
    root = logging.getLogger("failsync")
    root.handlers[:] = [log_handler(target.log_format)]
    root.setLevel(level)


def kubeconfig_option(help_text: str = "Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).",
                      **options: Any) -> Callable[[F], F]:
    """The --kubeconfig option (stored in Settings), with a command's own help text."""
    return click.option("--kubeconfig", type=click.Path(dir_okay=False), expose_value=False,
                        callback=_store("kubeconfig"), help=help_text, **options)


def logging_options(function: F) -> F:
    """Add -v/--verbose and --log-format (stored in Settings)."""
    function = click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
                            expose_value=False, callback=_store("log_format"), help="Log line format.")(function)
    return click.option("-v", "--verbose", count=True, expose_value=False, callback=_store("verbose"),
                        help="More logging (-v info, -vv debug).")(function)


def global_options(function: F) -> F:
    """Add --kubeconfig, --context, -v, --log-format and --templates to a group or command."""
    function = click.option("--templates", type=click.Path(file_okay=False, exists=True), expose_value=False,
                            callback=_store("templates"),
                            help="Directory whose templates override the built-in ones, by file name.")(function)
    function = logging_options(function)
    function = click.option("--context", "contexts", multiple=True, expose_value=False,
                            callback=_store("contexts"), help="Kubeconfig context to use.")(function)
    return kubeconfig_option()(function)
