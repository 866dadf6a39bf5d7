"""``failsync simulate``: replay a timeline of health through policies, offline (SPEC §12).

Thin: the timeline and its replay are ``failsync.core.timeline`` (the same ``decide`` the
loop uses); this module loads the files, prints a table or JSON and maps the outcome to
an exit code: 0 every ``expect`` holds, 1 one does not (naming the step), 2 bad input.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import click

from failsync.cli.options import global_options
from failsync.cli.output import EXIT_ERROR, EXIT_INVALID, report_error, report_errors
from failsync.core.model import Policy
from failsync.core.timeline import Row, TimelineError, check_services, parse_timeline, pick_policies, replay, step_name
from failsync.loading import load_policies, policy_paths

COLUMNS = ("AT", "STEP", "READY", "WEIGHTS", "RULE", "REASON")


def simulate(paths: Sequence[str], timeline_path: str) -> list[tuple[Policy, list[Row]]]:
    """Load policies and the timeline, replay it through each chosen policy; raises on bad input."""
    policy_set = load_policies(policy_paths(paths))
    if policy_set.errors:
        problems = [str(error) for error in policy_set.errors]
        raise TimelineError(problems[0], problems=problems)
    try:
        with open(timeline_path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise TimelineError(f"cannot read the timeline {timeline_path}: {error.strerror}") from None
    timeline = parse_timeline(text, timeline_path)
    policies = pick_policies(policy_set.policies, timeline)
    if not policies:
        raise TimelineError(f"no policy found in {', '.join(map(str, policy_paths(paths)))}")
    check_services(policies, timeline)
    return [(policy, replay(policy, timeline)) for policy in policies]


def _counts(row: Row, policy: Policy) -> str:
    return ",".join(f"{s}={row.ready[s]}" + (f"/{row.total[s]}" if row.total[s] != row.ready[s] else "")
                    for s in policy.services)


def row_cells(policy: Policy, row: Row) -> tuple[str, ...]:
    """The table cells of one row: time, step, ready counts, weights, rule, reason."""
    weights = ",".join(f"{s}={w}" for s, w in row.decision.weights.items())
    step = "timer" if row.step is None else str(row.step.index + 1)
    if row.mismatch:
        step += " FAIL"
    reason = row.decision.reason.split(" (minReady=")[0]
    return (f"{row.at:g}s", step, _counts(row, policy), weights, row.decision.rule.value, reason)


def row_dict(row: Row) -> dict[str, Any]:
    """A JSON-ready view of one row."""
    decision = row.decision
    return {"at": row.at, "step": None if row.step is None else row.step.index + 1,
            "line": None if row.step is None else row.step.line,
            "ready": dict(row.ready), "total": dict(row.total), "weights": dict(decision.weights),
            "rule": decision.rule.value, "reason": decision.reason,
            "expect": None if row.step is None or row.step.expect is None else dict(row.step.expect),
            "ok": row.mismatch is None, "mismatch": row.mismatch}


@click.command("simulate")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--timeline", "timeline_path", required=True, type=click.Path(dir_okay=False),
              help="YAML timeline: steps of {at: SECONDS, ready: {svc: N} | endpoints: {svc: [READY, TOTAL]}, "
                   "expect: {svc: WEIGHT}}.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@global_options
def simulate_command(paths: tuple[str, ...], timeline_path: str, output: str) -> None:
    """Replay a timeline of endpoint health through policies, offline, and check the weights.

    Each step is decided by the same code as `failsync run`, carrying the previous
    weights and the hold/delay state; a row marked "timer" is a re-decision the loop
    makes when a hold, delay or pin ends between two steps. Exit code 0 when every
    expect holds, 1 when one does not (naming the step), 2 for bad input.

    \b
    Example:
      failsync simulate policies/emojivoto --timeline examples/web-svc-failover-timeline.yaml
      failsync simulate policies/ --timeline outage.yaml -o json
    """
    try:
        results = simulate(paths, timeline_path)
    except TimelineError as error:
        report_errors(error.problems)
        click.get_current_context().exit(EXIT_ERROR)
    failures = [row.mismatch for _policy, rows in results for row in rows if row.mismatch]
    if output == "json":
        click.echo(json.dumps({"ok": not failures, "policies": [
            {"policy": policy.key, "rows": [row_dict(row) for row in rows]} for policy, rows in results]}, indent=2))
    else:
        for number, (policy, rows) in enumerate(results):
            if number:
                click.echo("")
            click.echo(f"{policy.key}:")
            table = [COLUMNS, *(row_cells(policy, row) for row in rows)]
            widths = [max(len(cells[i]) for cells in table) for i in range(len(COLUMNS))]
            for cells in table:
                click.echo("   ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip())
    for failure in failures:
        report_error(failure, prefix="FAIL ")
    if failures:
        click.get_current_context().exit(EXIT_INVALID)
    expects = sum(1 for _policy, rows in results for row in rows if row.step is not None and row.step.expect)
    if output == "table":
        click.echo(f"\nok: {expects} expectation(s) held", err=True)


COMMANDS: list[click.Command] = [simulate_command]
__all__ = ["simulate", "simulate_command", "step_name"]
