"""``failsync validate`` and ``failsync render``: policy files in, errors or objects out.

Thin: loading is ``failsync.loading.load_policies``, rendering ``failsync.core.rendering``;
this module only formats. Errors go to stderr, one line each (``file:line: key: message``);
rendered objects go to stdout.
"""

from __future__ import annotations

import gc
import json
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

import click

from failsync.cli.options import global_options, settings
from failsync.cli.output import EXIT_INVALID, exit_code_for_errors, report_errors
from failsync.core.policies import PolicySet
from failsync.core.weights import initial_weights
from failsync.errors import PolicyError, TemplateError
from failsync.loading import load_policies, policy_paths

_paths_argument = click.argument("paths", nargs=-1, type=click.Path())


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a one-shot command's batch of work.

    Loading, rendering and a sync pass build tens of thousands of long-lived objects and no
    cycles; every automatic collection would re-scan them all (~0.1 s at 10,000 policies, ~1 s
    of a converged ``sync``). What the batch built lives until the command exits, so it is then
    moved out of the collector's reach (``gc.freeze``) rather than scanned once more by the first
    collection after it (a fifth of a converged ``sync``'s py-spy samples) and the one at exit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def _load(paths: Sequence[str]) -> PolicySet:
    return load_policies(policy_paths(paths))


def _report_errors(errors: Iterable[PolicyError]) -> None:
    report_errors(errors, prefix="")


def summary(policy_set: PolicySet) -> str:
    """``N policies valid, M errors in K files``."""
    valid = len(policy_set.policies)
    errors = len(policy_set.errors)
    files = len(policy_set.files_with_errors)
    return (f"{valid} {'policy' if valid == 1 else 'policies'} valid, "
            f"{errors} {'error' if errors == 1 else 'errors'} in {files} {'file' if files == 1 else 'files'}")


@click.command("validate")
@_paths_argument
@global_options
def validate(paths: tuple[str, ...]) -> None:
    """Parse and validate policy files; print every error and a summary.

    PATHS are policy files or directories (searched recursively for *.yaml and
    *.yml); the default is ./policies. Exit code 0 when everything is valid,
    1 when any policy file is invalid or cannot be read, 2 when a path does
    not exist. Each error is one line: file:line: key: message.

    \b
    Example:
      failsync validate policies/
      failsync validate policies/emojivoto/web-svc-failover.yaml
    """
    with collector_paused():
        policy_set = _load(paths)
    _report_errors(policy_set.errors)
    click.echo(summary(policy_set))
    if not policy_set.ok:
        click.get_current_context().exit(exit_code_for_errors("validate", policy_set.errors))


@click.command("render")
@_paths_argument
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True,
              help="yaml: one document per object; json: a v1 List.")
@global_options
def render(paths: tuple[str, ...], output: str) -> None:
    """Print the objects the policies render to, with initial weights (primary 1).

    Nothing is printed on stdout unless every policy is valid and renders: a
    partial output piped into kubectl would look complete. Errors go to stderr and
    the exit code is 1 (2 when a path does not exist).

    \b
    Example:
      failsync render policies/
      failsync render policies/ -o json | jq '.items[].spec'
      failsync --templates my-templates/ render policies/
    """
    # Imported here: validate never pays for Jinja2 (~0.04 s of start-up).
    from failsync.core.rendering import Renderer, to_yaml_documents

    with collector_paused():
        policy_set = _load(paths)
        renderer = Renderer(settings().templates)
        objects = []
        failures: list[PolicyError] = list(policy_set.errors)
        for policy in policy_set.policies:
            try:
                # gradual (100 on the primary) and distribute (every weight) start as sync creates them
                objects.append(renderer.render(policy, None if policy.full_weight == 1 else initial_weights(policy)))
            except TemplateError as error:
                failures.append(PolicyError(str(error), policy.location))
        if failures:
            _report_errors(failures)
            click.echo(f"nothing rendered: {len(failures)} {'error' if len(failures) == 1 else 'errors'}",
                       err=True)
            click.get_current_context().exit(max(EXIT_INVALID, exit_code_for_errors("render", failures)))
        if output == "json":
            click.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}, indent=2))
        elif objects:
            click.echo(to_yaml_documents(objects), nl=False)


COMMANDS: list[click.Command] = [validate, render]
