"""`failsync validate` and `failsync render` through click's CliRunner and the real console script.

Covers:
- validate: summary line, exit 0 on valid policies, 1 with one error line per problem
  (file:line: key: message) on stderr, default path ./policies, no traceback;
- render: YAML multi-document and JSON List output, initial weights, nothing on stdout
  and exit 1 when any policy is invalid, --templates before or after the command name,
  a broken override template is a one-line error with the policy's file and line;
- --help of both commands shows an example;
- the installed console script renders the repository's policies from an unrelated directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from failsync.cli import main
from tests.helpers import MINIMAL_POLICY

REPOSITORY = Path(__file__).resolve().parent.parent.parent
EXAMPLE_POLICIES = REPOSITORY / "policies"
GOOD = MINIMAL_POLICY


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def test_validate_valid_policies_exits_0_with_summary() -> None:
    result = invoke("validate", str(EXAMPLE_POLICIES))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "1 policy valid, 0 errors in 0 files"
    assert result.stderr == ""


def test_validate_reports_every_error_and_a_summary(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", GOOD.format(name="good"))
    bad = _write(tmp_path / "b.yaml", GOOD.format(name="Bad_Name") + "  whenAllDown: never\n")
    result = invoke("validate", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{bad}:4: metadata.name: 'Bad_Name' is not a DNS-1123 label (lowercase letters, digits and '-', "
        "at most 63 characters)",
        f"{bad}:10: spec.whenAllDown: 'never' is not valid; expected one of keep, primary, zero",
    ]
    assert result.stdout.strip() == "1 policy valid, 2 errors in 1 file"


def test_validate_defaults_to_policies_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "policies" / "x" / "p.yaml", GOOD.format(name="p"))
    monkeypatch.chdir(tmp_path)
    result = invoke("validate")
    assert result.exit_code == 0 and "1 policy valid" in result.stdout


def test_validate_without_policies_directory_is_a_one_line_error_and_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing path is a usage error (2), not an invalid policy (1)."""
    monkeypatch.chdir(tmp_path)
    result = invoke("validate")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "./policies: no such file or directory; expected a policy file or a directory of them"]


def test_render_prints_yaml_documents_with_initial_weights() -> None:
    result = invoke("render", str(EXAMPLE_POLICIES))
    assert result.exit_code == 0, result.output
    (obj,) = list(yaml.safe_load_all(result.stdout))
    assert obj["kind"] == "TrafficSplit"
    assert obj["spec"]["backends"] == [{"service": "web-svc", "weight": 1}, {"service": "web-svc-east", "weight": 0}]


def test_render_json_prints_a_v1_list(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", GOOD.format(name="one") + "---\n" + GOOD.format(name="two"))
    result = invoke("render", str(tmp_path), "-o", "json")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    assert [item["metadata"]["name"] for item in listing["items"]] == ["one", "two"]


def test_render_prints_nothing_when_any_policy_is_invalid(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", GOOD.format(name="good"))
    bad = _write(tmp_path / "b.yaml", GOOD.format(name="good2").replace("web-svc-east", "web-svc"))
    result = invoke("render", str(tmp_path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == (
        f"{bad}:9: spec.fallbacks[0].service: 'web-svc' is the primary; expected only fallback services here")
    assert result.stderr.splitlines()[-1] == "nothing rendered: 1 error"


@pytest.mark.parametrize("order", ["before", "after"])
def test_render_uses_override_templates_given_before_or_after_the_command(tmp_path: Path, order: str) -> None:
    templates = tmp_path / "templates"
    builtin = (REPOSITORY / "templates" / "trafficsplit-v1alpha2.yaml.j2").read_text()
    _write(templates / "trafficsplit-v1alpha2.yaml.j2",
           builtin.replace('"annotations": {{ annotations }}', '"annotations": {"custom": {{ primary }}}'))
    args = ["--templates", str(templates)]
    full = [*args, "render", str(EXAMPLE_POLICIES)] if order == "before" else ["render", str(EXAMPLE_POLICIES), *args]
    result = CliRunner().invoke(main, full)
    assert result.exit_code == 0, result.output
    # failsync adds its ownership mark where a template leaves it out.
    assert yaml.safe_load(result.stdout)["metadata"]["annotations"] == {
        "custom": "web-svc", "failsync.io/policy": "emojivoto/web-svc-failover"}


def test_broken_override_template_is_a_one_line_error_at_the_policy(tmp_path: Path) -> None:
    _write(tmp_path / "t" / "trafficsplit-v1alpha2.yaml.j2", "{{ nope }}")
    policy = _write(tmp_path / "p.yaml", GOOD.format(name="p"))
    result = invoke("--templates", str(tmp_path / "t"), "render", str(policy))
    assert result.exit_code == 1
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{policy}:4: template trafficsplit-v1alpha2.yaml.j2 failed for policy emojivoto/p")
    assert "'nope' is undefined" in first and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["validate", "render"])
def test_help_shows_an_example(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout and f"failsync {command} policies/" in result.stdout


def test_console_script_renders_from_an_unrelated_directory(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "failsync"
    assert script.exists(), f"console script missing at {script}"
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run([str(script), "render", str(EXAMPLE_POLICIES), "-o", "json"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=60, env=environment)
    assert completed.returncode == 0, completed.stderr
    (item,) = json.loads(completed.stdout)["items"]
    assert item["metadata"]["annotations"]["failsync.io/policy"] == "emojivoto/web-svc-failover"
