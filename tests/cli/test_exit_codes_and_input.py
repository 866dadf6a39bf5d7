"""The exit-code contract and what one bad input may do to a command.

Covers:
- exit codes: `diff`/`sync`/`status`/`run` exit 2 for any error (a bad --selector, a bad flag,
  a missing policy path), never 1; `validate` exits 2 for a missing path, 1 for invalid or
  unreadable files; missing paths are reported before any cluster is contacted; `--adopt`
  makes a missing path fine;
- input: a named pipe called *.yaml is an error and never blocks; an empty file is reported as
  containing no policy; an unreadable file is a `cannot read` error (exit 1); the good policies
  beside each still validate;
- output: `--log-format json` prints CLI errors as JSON lines with an RFC 3339 time; a label key
  with a newline or a bidi override cannot forge or reorder an error line; a huge echoed value
  is truncated.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from failsync.cli import main
from tests import helpers
from tests.helpers import MINIMAL_POLICY

GOOD = MINIMAL_POLICY
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\Z")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def unreachable_kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig whose server nobody answers: any attempt to contact it fails with "cannot reach"."""
    return helpers.unreachable_kubeconfig(tmp_path)


@pytest.mark.parametrize("command", ["diff", "sync", "status"])
def test_bad_selector_is_exit_2_for_cluster_commands(command: str, unreachable_kubeconfig: Path) -> None:
    result = invoke("--kubeconfig", str(unreachable_kubeconfig), command, "--adopt", "--selector", "-bad=x")
    assert result.exit_code == 2, result.output
    assert "--selector: invalid label selector '-bad=x'" in result.stderr
    assert "cannot reach" not in result.stderr


@pytest.mark.parametrize("command", ["diff", "sync", "status", "run", "validate"])
def test_bad_flag_is_exit_2(command: str) -> None:
    assert invoke(command, "--no-such-flag").exit_code == 2


@pytest.mark.parametrize("command", ["diff", "sync", "status", "run"])
def test_missing_policy_path_is_exit_2_before_any_request(command: str, tmp_path: Path,
                                                          unreachable_kubeconfig: Path) -> None:
    missing = tmp_path / "no-such-dir"
    result = invoke("--kubeconfig", str(unreachable_kubeconfig), command, str(missing))
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"error: {missing}: no such file or directory; expected a policy file or a directory of them"]
    assert "stays in force" not in result.output


def test_missing_policy_path_is_fine_with_adopt(tmp_path: Path, unreachable_kubeconfig: Path) -> None:
    result = invoke("--kubeconfig", str(unreachable_kubeconfig), "diff", "--adopt", str(tmp_path / "none"))
    assert result.exit_code == 2  # the server is not there; the path was not the problem
    assert "cannot reach" in result.stderr and "no such file" not in result.stderr


def test_validate_missing_path_is_2_but_invalid_file_is_1(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: FailoverPolicy\n")
    assert invoke("validate", str(tmp_path / "bad.yaml")).exit_code == 1
    assert invoke("validate", str(tmp_path / "bad.yaml"), str(tmp_path / "missing.yaml")).exit_code == 2


def test_named_pipe_is_an_error_and_never_blocks(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD.format(name="good"))
    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    for given in (str(tmp_path), str(pipe)):
        result = invoke("validate", given)
        assert result.exit_code == 1, result.output
        assert f"{pipe}: is a named pipe, not a regular file; expected a policy file" in result.stderr
    assert "1 policy valid, 1 error in 1 file" in invoke("validate", str(tmp_path)).stdout


def test_empty_file_is_reported_as_containing_no_policy(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD.format(name="good"))
    (tmp_path / "empty.yaml").write_text("# nothing here yet\n")
    result = invoke("validate", str(tmp_path))
    assert result.exit_code == 1
    assert f"{tmp_path / 'empty.yaml'}: contains no policy" in result.stderr
    assert "1 policy valid" in result.stdout


def test_unreadable_file_is_exit_1_with_a_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root reads any file, so the failure is made where the loader opens it."""
    secret = tmp_path / "secret.yaml"
    secret.write_text(GOOD.format(name="secret"))
    (tmp_path / "good.yaml").write_text(GOOD.format(name="good"))
    helpers.deny_to_the_loader(monkeypatch, secret, "open")
    result = invoke("validate", str(tmp_path))
    assert result.exit_code == 1, result.output
    assert f"{secret}: cannot read: Permission denied" in result.stderr
    assert "1 policy valid, 1 error in 1 file" in result.stdout


def test_json_log_format_prints_cli_errors_as_json_with_rfc3339_time(tmp_path: Path) -> None:
    result = invoke("--log-format", "json", "validate", str(tmp_path / "missing"))
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "error" and record["file"] == str(tmp_path / "missing")
    assert "no such file or directory" in record["message"]
    assert RFC3339_UTC.match(record["time"]), record["time"]


def test_json_log_lines_have_rfc3339_times() -> None:
    from failsync.log_format import JsonFormatter

    record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO", "name": "failsync.test"})
    assert RFC3339_UTC.match(json.loads(JsonFormatter().format(record))["time"])


def test_control_and_bidi_characters_in_keys_cannot_forge_lines(tmp_path: Path) -> None:
    policy = tmp_path / "forge.yaml"
    policy.write_text(GOOD.format(name="forge").replace(
        "  namespace: emojivoto\n",
        '  namespace: emojivoto\n  labels:\n    "a\\nforge.yaml:1: fake error\\u202e": x\n'))
    result = invoke("validate", str(policy))
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert len(errors) == 1, errors
    assert "\\n" in errors[0] and "\\u202e" in errors[0] and "\u202e" not in errors[0]


def test_huge_echoed_value_is_truncated(tmp_path: Path) -> None:
    policy = tmp_path / "huge.yaml"
    policy.write_text(GOOD.format(name="huge").replace("service: web-svc\n", f"service: {'x' * 200_000}\n", 1))
    result = invoke("validate", str(policy))
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert len(line) < 1100 and "characters cut" in line


def test_json_log_format_prints_usage_errors_as_json_too() -> None:
    result = invoke("--log-format", "json", "diff", "--no-such-flag")
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert "--no-such-flag" in json.loads(line)["message"]
