"""The ``failsync`` command line: parse options, call library functions, print.

Owns: option parsing, output formatting, mapping exceptions to exit codes.
Never does: business logic. Every command is a thin wrapper over a function
that tests can call directly. Each command family lives in its own module and
exports ``COMMANDS``; this module assembles them under one group.
"""

from __future__ import annotations

import sys

import click

from failsync.cli import cluster_cmds, demo_cmd, policy_cmds, run_cmd, sandbox_cmd
from failsync.cli.options import global_options
from failsync.errors import FailsyncError


class FailsyncGroup(click.Group):
    """A click group whose errors are one line on stderr and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except FailsyncError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(error.exit_code)


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


for _module in (policy_cmds, cluster_cmds, run_cmd, sandbox_cmd, demo_cmd):
    for _command in _module.COMMANDS:
        main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
