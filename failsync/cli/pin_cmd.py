"""``failsync pin`` and ``failsync unpin``: send a policy's traffic to one backend, or stop doing so.

Thin: the work is ``failsync.pinning``; this module loads the policies, picks the cluster
from the global options, prints one line for the pin and one per object synced, and exits
as ``sync`` does (0 ok, 2 any error; a pin to a backend outside the policy is an error).
"""

from __future__ import annotations

import click

from failsync.cli.cluster_cmds import result_line
from failsync.cli.options import global_options, settings
from failsync.cli.output import EXIT_ERROR, report_errors
from failsync.core.pins import PIN_ANNOTATION, PinSyntaxError, parse_duration
from failsync.kube import KubeClient
from failsync.loading import load_policies, policy_paths
from failsync.pinning import PinResult, find_policy, pin, unpin

_policies_option = click.option("-f", "--policies", "policy_paths", multiple=True, type=click.Path(),
                                help="Policy files or directories (default ./policies).")
_dry_run_option = click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")


def _policy(name: str, paths: tuple[str, ...]):  # type: ignore[no-untyped-def]
    policy_set = load_policies(policy_paths(paths))
    report_errors(policy_set.errors)
    return find_policy(policy_set.policies, name)


def _client() -> KubeClient:
    options = settings()
    return KubeClient.from_kubeconfig(options.kubeconfig_path(), options.context)


def _print(result: PinResult, verb: str) -> None:
    key = result.policy.key
    would = "would be " if result.dry_run else ""
    if not result.changed:
        state = f"{PIN_ANNOTATION}={result.after}" if result.after else "not pinned"
        click.echo(f"{key}: already {state}")
    elif result.after is None:
        click.echo(f"{key}: {would}unpinned (was {PIN_ANNOTATION}={result.before})")
    else:
        click.echo(f"{key}: {would}{verb} ({PIN_ANNOTATION}={result.after})")
    if result.report is None:
        return
    for line in result.report.results:
        click.echo(result_line(line, dry_run=result.dry_run))
    report_errors(result.report.errors)
    report_errors(f"{failed.key}: {failed.message}" for failed in result.report.failed)
    if not result.report.ok:
        click.get_current_context().exit(EXIT_ERROR)


@click.command("pin")
@click.argument("policy")
@click.option("--to", "backend", required=True, help="The backend (service) to send all traffic to.")
@click.option("--for", "duration", default=None,
              help="How long (90s, 15m, 2h, 1h30m, 1d); default until `failsync unpin`.")
@_policies_option
@_dry_run_option
@global_options
def pin_command(policy: str, backend: str, duration: str | None, policy_paths: tuple[str, ...],
                dry_run: bool) -> None:
    """Send all traffic of POLICY to one backend, regardless of health, until unpinned or expired.

    Writes the failsync.io/pin annotation on the policy's object (an Event says so),
    then syncs that policy so the weights move at once. `sync`, `run` and `status`
    honour the pin; when it expires the next write removes it. A backend that is
    not part of the policy is refused. Exit code 0 ok, 2 error.

    \b
    Example:
      failsync --context west pin emojivoto/web-svc-failover --to web-svc-east --for 30m
      failsync pin web-svc-failover --to web-svc-east --dry-run -f policies/
    """
    try:
        seconds = parse_duration(duration) if duration is not None else None
    except PinSyntaxError as error:
        raise click.BadParameter(str(error), param_hint="--for") from None
    # A refused pin or an unknown policy is a FailsyncError: one "error:" line, exit code 2.
    chosen = _policy(policy, policy_paths)  # the policies before the cluster: a bad file needs no kubeconfig
    result = pin(_client(), chosen, backend, seconds=seconds, dry_run=dry_run)
    _print(result, "pinned")


@click.command("unpin")
@click.argument("policy")
@_policies_option
@_dry_run_option
@global_options
def unpin_command(policy: str, policy_paths: tuple[str, ...], dry_run: bool) -> None:
    """Remove the pin of POLICY: health decides the weights again.

    Removes the failsync.io/pin annotation (an Event says so) and syncs the policy.
    Exit code 0 ok (also when it was not pinned), 2 error.

    \b
    Example:
      failsync --context west unpin emojivoto/web-svc-failover
    """
    chosen = _policy(policy, policy_paths)
    result = unpin(_client(), chosen, dry_run=dry_run)
    _print(result, "unpinned")


COMMANDS: list[click.Command] = [pin_command, unpin_command]
