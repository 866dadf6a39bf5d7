"""``failsync validate`` and ``failsync render``: policy files in, errors or objects out.

Thin: loading is ``failsync.loading.load_policies``, rendering ``failsync.core.rendering``;
this module only formats. Errors go to stderr, one line each (``file:line: key: message``);
rendered objects go to stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import click

from failsync import collector
from failsync.cli.options import global_options, settings
from failsync.cli.output import EXIT_INVALID, exit_code_for_errors, report_errors
from failsync.core.model import Policy
from failsync.core.policies import PolicySet, object_identity
from failsync.core.weights import initial_weights
from failsync.errors import PolicyError, TemplateError
from failsync.fanout import split_map
from failsync.loading import load_policies, load_valid_files, policy_paths, readable_policy_files

if TYPE_CHECKING:
    from failsync.core.rendering import Renderer

_paths_argument = click.argument("paths", nargs=-1, type=click.Path())


def _load(paths: Sequence[str]) -> PolicySet:
    return load_policies(policy_paths(paths))


def _split(paths: Sequence[str], work: Any) -> list[Any] | None:
    """``work`` of slices of the policy files in forked workers (``failsync.fanout``), when the input
    is big enough and every slice is valid; None otherwise, and the caller loads everything itself,
    so that errors are found and worded by the one serial path."""
    files = readable_policy_files(policy_paths(paths))
    if files is None:
        return None
    results = split_map(files, work)
    if results is None or any(result is None for result in results):
        return None
    identities = [identity for found, _ in results for identity in found]
    if len(set(identities)) != len(identities):
        return None  # two policies of one name: merge_policy_sets words the error
    return results


def _valid_identities(files: Sequence[str]) -> tuple[list[tuple[str, str]], None] | None:
    """A worker's slice for ``validate``: the identity of each policy, or None on any error."""
    policy_set = load_valid_files(files)
    if policy_set is None:
        return None
    return [object_identity(policy) for policy in policy_set.policies], None


def _render_all(renderer: Renderer, policies: Iterable[Policy]) -> tuple[list[Any], list[PolicyError]]:
    """The object of each policy at its initial weights, and an error for each that does not render."""
    objects = []
    failures: list[PolicyError] = []
    for policy in policies:
        try:
            # gradual (100 on the primary) and distribute (every weight) start as sync creates them
            objects.append(renderer.render(policy, None if policy.full_weight == 1 else initial_weights(policy)))
        except TemplateError as error:
            failures.append(PolicyError(str(error), policy.location))
    return objects, failures


class _SliceRenderer:
    """A worker's slice for ``render``: each policy's identity and the YAML of the slice, or None on
    any error; one Renderer per process (it compiles each template once)."""

    def __init__(self, templates: Path | None) -> None:
        self.templates = templates
        self.renderer: Renderer | None = None

    def __call__(self, files: Sequence[str]) -> tuple[list[tuple[str, str]], str] | None:
        from failsync.core.rendering import Renderer, to_yaml_documents

        policy_set = load_valid_files(files)
        if policy_set is None:
            return None
        if self.renderer is None:
            self.renderer = Renderer(self.templates)
        objects, failures = _render_all(self.renderer, policy_set.policies)
        if failures:
            return None
        return [object_identity(policy) for policy in policy_set.policies], to_yaml_documents(objects)


def _report_errors(errors: Iterable[PolicyError]) -> None:
    report_errors(errors, prefix="")


def summary(policy_set: PolicySet) -> str:
    """``N policies valid, M errors in K files``."""
    return _summary(len(policy_set.policies), len(policy_set.errors), len(policy_set.files_with_errors))


def _summary(valid: int, errors: int, files: int) -> str:
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
    with collector.paused():
        results = _split(paths, _valid_identities)
        if results is not None:
            click.echo(_summary(sum(len(found) for found, _ in results), 0, 0))
            return
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

    templates = settings().templates
    with collector.paused():
        # Split over workers only for YAML, whose documents join as they come (a JSON List does not).
        results = _split(paths, _SliceRenderer(templates)) if output == "yaml" else None
        if results is not None:
            click.echo("".join(text for _, text in results), nl=False)
            return
        policy_set = _load(paths)
        objects, failures = _render_all(Renderer(templates), policy_set.policies)
        failures[:0] = policy_set.errors
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
