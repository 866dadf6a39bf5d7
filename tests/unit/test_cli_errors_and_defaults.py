"""Every command's errors follow ``--log-format``, and each default is stated once.

Covers:
- ``simulate``, ``explain`` and ``pin`` print their errors as JSON lines under ``--log-format json``
  (with an RFC 3339 time), escaped like every other error line; bad input is exit 2;
- text log lines carry the same RFC 3339 time (with its zone) as JSON ones;
- ``failsync run``'s options take their defaults from ``LoopOptions`` (so the loop and the CLI
  never disagree), and the default policy path of every command is ``loading.DEFAULT_POLICY_PATH``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from failsync import loading
from failsync.cli import main
from failsync.controller import LoopOptions

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\Z")
BROKEN = 'apiVersion: failsync.io/v1alpha1\nkind: FailoverPolicy\nmetadata:\n  name: "a\\nb.yaml:1: forged"\n'


def _json_lines(stderr: str) -> list[dict]:
    records = [json.loads(line) for line in stderr.splitlines()]  # any line that is not JSON fails here
    assert records and all(RFC3339_UTC.match(r["time"]) and r["level"] == "error" for r in records)
    return records


@pytest.mark.parametrize("command", [["simulate", "--timeline", "missing.yaml"], ["explain", "web", "-f"],
                                     ["pin", "web", "--to", "web-svc", "-f"], ["unpin", "web", "-f"]],
                         ids=["simulate", "explain", "pin", "unpin"])
def test_policy_errors_of_every_command_follow_the_json_log_format(command: list[str], tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BROKEN)
    args = [*command, str(tmp_path)] if command[-1] == "-f" else [*command[:1], str(tmp_path), *command[1:]]
    result = CliRunner().invoke(main, ["--log-format", "json", *args])
    assert result.exit_code == 2, result.output
    records = _json_lines(result.stderr)
    assert any("bad.yaml" in (r.get("file") or "") + r["message"] for r in records)
    assert "\n" not in "".join(r["message"] for r in records)


def test_a_failing_expect_follows_the_json_log_format_and_is_exit_1(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    timeline = tmp_path / "timeline.yaml"
    timeline.write_text("steps:\n  - at: 0\n    ready: {web-svc: 1, web-svc-east: 1}\n"
                        "    expect: {web-svc: 0, web-svc-east: 1}\n")
    result = CliRunner().invoke(main, ["--log-format", "json", "simulate", str(root / "policies" / "emojivoto"),
                                       "--timeline", str(timeline), "-o", "json"])
    assert result.exit_code == 1, result.output
    (record,) = _json_lines(result.stderr)
    assert "step 1" in record["message"]


def _run_options() -> dict[str, object]:
    """The default of each ``failsync run`` option, as click applies it."""
    command = main.get_command(click.Context(main), "run")
    assert command is not None
    context = click.Context(command)
    return {param.name: param.get_default(context) for param in command.params if param.name}


def test_run_takes_its_defaults_from_loop_options() -> None:
    defaults = LoopOptions()
    options = _run_options()
    shared = [f.name for f in dataclasses.fields(LoopOptions) if f.name in options]
    assert len(shared) >= 10, shared
    for name in shared:
        if name in ("paths", "identity", "metrics_port"):  # given differently: see the next test
            continue
        assert options[name] == getattr(defaults, name), name


def test_one_default_policy_path_and_one_default_metrics_port() -> None:
    from failsync.observability import DEFAULT_METRICS_PORT

    assert tuple(map(str, LoopOptions().paths)) == (loading.DEFAULT_POLICY_PATH,)
    assert loading.policy_paths([]) == [loading.DEFAULT_POLICY_PATH]
    assert _run_options()["metrics_port"] == DEFAULT_METRICS_PORT


def test_text_log_lines_have_the_same_rfc3339_time_as_json_ones() -> None:
    import logging

    from failsync.cli.options import log_handler

    record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO", "name": "failsync.test", "created": 0.25})
    text = log_handler("text").format(record)
    assert text == "1970-01-01T00:00:00.250Z INFO failsync.test: hello"
    assert json.loads(log_handler("json").format(record))["time"] == "1970-01-01T00:00:00.250Z"


def test_the_retry_policy_docs_loop_md_states_is_the_loops() -> None:
    from failsync.backoff import DEFAULT_RETRY

    text = " ".join((Path(__file__).resolve().parents[2] / "docs" / "loop.md").read_text().split())
    assert LoopOptions().retry == DEFAULT_RETRY
    assert f"{DEFAULT_RETRY.initial:g} s doubling to {DEFAULT_RETRY.maximum:g} s" in text
