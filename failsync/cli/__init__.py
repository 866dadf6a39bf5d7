"""The ``failsync`` command line: parse options, call library functions, print.

Owns: option parsing, output formatting, mapping exceptions to exit codes.
Never does: business logic. Every command is a thin wrapper over a function
that tests can call directly. Each command family lives in its own module and
exports ``COMMANDS``; this module assembles them under one group, importing a
family only when one of its commands runs (or help lists them all), so that
``failsync render`` never pays for the cluster client, the loop or the sandbox.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
import threading

import click

from failsync import collector
from failsync.cli.options import global_options, settings
from failsync.cli.output import exit_code_for, report_error
from failsync.errors import FailsyncError

#: Command name -> the module whose ``COMMANDS`` holds it. A hint for loading one
#: family only; any name missing here is still found by loading every family.
COMMAND_MODULES: dict[str, str] = {
    "validate": "failsync.cli.policy_cmds",
    "render": "failsync.cli.policy_cmds",
    "diff": "failsync.cli.cluster_cmds",
    "sync": "failsync.cli.cluster_cmds",
    "status": "failsync.cli.cluster_cmds",
    "run": "failsync.cli.run_cmd",
    "sandbox": "failsync.cli.sandbox_cmd",
    "demo": "failsync.cli.demo_cmd",
    "simulate": "failsync.cli.simulate_cmd",
    "pin": "failsync.cli.pin_cmd",
    "unpin": "failsync.cli.pin_cmd",
    "explain": "failsync.cli.explain_cmd",
    "crd": "failsync.cli.crd_cmd",
    "get": "failsync.cli.get_cmd",
}


class FailsyncGroup(click.Group):
    """A click group whose errors are one line on stderr and an exit code, never a traceback.

    Command families are imported on first use (see ``COMMAND_MODULES``).
    """

    def _load_family(self, module_name: str) -> None:
        with collector.paused():  # a family's import builds only long-lived objects (~3 ms of collections)
            family = importlib.import_module(module_name)
        for command in family.COMMANDS:
            if command.name not in self.commands:
                self.add_command(command)

    def _load_all(self) -> None:
        for module_name in dict.fromkeys(COMMAND_MODULES.values()):
            self._load_family(module_name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            module_name = COMMAND_MODULES.get(cmd_name)
            if module_name is not None:
                self._load_family(module_name)
            if cmd_name not in self.commands:
                self._load_all()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_all()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except FailsyncError as error:
            report_error(error)
            ctx.exit(exit_code_for(ctx.invoked_subcommand, error))
        except click.UsageError as error:
            if settings(ctx).log_format != "json":
                raise  # click prints usage and the error itself (exit 2)
            report_error(f"{error.format_message()} (see failsync {ctx.invoked_subcommand or ''} --help)")
            ctx.exit(exit_code_for(ctx.invoked_subcommand, error))


@click.group(cls=FailsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@global_options
@click.version_option(package_name="failsync")
def main() -> None:
    """failsync keeps traffic flowing when a service dies.

    Failover policies live as YAML files in git; failsync renders them into SMI
    TrafficSplits, reads live endpoint health and moves the weights.

    \b
    Example:
      failsync validate policies/
      failsync diff policies/ && failsync sync policies/
    """


def entry() -> None:
    """The console script: ``main``, then out of the interpreter without tearing its heap down once
    no thread is left to wait for (the atexit handlers run, the streams are flushed): the OS frees
    it at once, where freeing object by object took a converged 1,000-policy ``sync`` ~8 ms."""
    try:
        main()
        code: str | int | None = 0
    except SystemExit as end:
        code = end.code
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)  # the ordinary way out waits for them
    if code is None or isinstance(code, int):
        status = code or 0
    else:  # as the interpreter does with a message as the exit code
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: the interpreter reports it and exits 120
        sys.exit(code)
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    entry()
