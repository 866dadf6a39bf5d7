"""Policy parsing and validation (failsync.core.policies) and `failsync validate` on bad input.

Covers:
- a full policy parses with every field; a minimal one gets every default of SPEC §2;
- several documents per file, empty documents skipped;
- the table of invalid policies (one fixture per case under fixtures/invalid/, its first
  line says ``# expect: LINE: KEY: MESSAGE``): the exact file:line: key: message from the
  library AND from `failsync validate`, which exits 1;
- one bad document never hides the good ones (same file and across files);
- two files rendering the same object: an error naming both places, the first kept;
- a policy rendering the same object in another TrafficSplit apiVersion is still a duplicate.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from failsync.cli import main
from failsync.core.model import Backend, HealthSource, Target, WhenAllDown
from failsync.core.policies import merge_policy_sets, parse_policies
from tests.helpers import MINIMAL_POLICY

INVALID = Path(__file__).parent / "fixtures" / "invalid"
INVALID_CASES = sorted(INVALID.glob("*.yaml"))

MINIMAL = MINIMAL_POLICY.format(name="web-svc-failover")

FULL = """\
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: web-svc-failover
  namespace: emojivoto
  labels:
    team: web
    example.com/tier: "1"
spec:
  service: web-svc
  primary: web-svc-west
  fallbacks:
    - service: web-svc-east
    - service: web-svc-central
      priority: 2
  health:
    minReady: 2
    source: endpoints
  failback:
    holdSeconds: 30
  whenAllDown: zero
  target:
    kind: TrafficSplit
    apiVersion: split.smi-spec.io/v1alpha4
"""


def _expectation(path: Path) -> tuple[int, str | None, str]:
    header = path.read_text().splitlines()[0]
    assert header.startswith("# expect: "), f"{path.name} lacks its '# expect:' header"
    line, key, message = header[len("# expect: "):].split(": ", 2)
    return int(line), None if key == "-" else key, message


def _expected_prefix(path: Path) -> tuple[str, str]:
    line, key, message = _expectation(path)
    prefix = f"{path}:{line}: {key}: " if key else f"{path}:{line}: "
    return prefix, message


def test_invalid_table_has_at_least_twenty_distinct_cases() -> None:
    assert len(INVALID_CASES) >= 20
    assert len({_expectation(p) for p in INVALID_CASES}) == len(INVALID_CASES)


def test_minimal_policy_gets_every_default() -> None:
    result = parse_policies(MINIMAL, "p.yaml")
    assert result.errors == ()
    (policy,) = result.policies
    assert (policy.name, policy.namespace, policy.service, policy.primary) == (
        "web-svc-failover", "emojivoto", "web-svc", "web-svc")
    assert policy.fallbacks == (Backend("web-svc-east", 1),)
    assert policy.labels == {}
    assert policy.min_ready == 1
    assert policy.health_source is HealthSource.AUTO
    assert policy.hold_seconds == 0
    assert policy.when_all_down is WhenAllDown.KEEP
    assert policy.target == Target("TrafficSplit", "split.smi-spec.io/v1alpha2")
    assert (policy.location.file, policy.location.line) == ("p.yaml", 4)


def test_full_policy_keeps_every_field() -> None:
    (policy,) = parse_policies(FULL, "p.yaml").policies
    assert policy.primary == "web-svc-west"
    assert policy.services == ("web-svc-west", "web-svc-east", "web-svc-central")
    assert policy.fallbacks == (Backend("web-svc-east", 1), Backend("web-svc-central", 2))
    assert policy.labels == {"team": "web", "example.com/tier": "1"}
    assert (policy.min_ready, policy.health_source, policy.hold_seconds) == (2, HealthSource.ENDPOINTS, 30)
    assert policy.when_all_down is WhenAllDown.ZERO
    assert policy.target.api_version == "split.smi-spec.io/v1alpha4"


def test_namespace_defaults_to_default() -> None:
    (policy,) = parse_policies(MINIMAL.replace("  namespace: emojivoto\n", ""), "p.yaml").policies
    assert policy.namespace == "default"


def test_several_documents_per_file_and_empty_documents_are_skipped() -> None:
    text = "---\n" + MINIMAL + "---\n---\n" + MINIMAL.replace("web-svc-failover", "other")
    result = parse_policies(text, "p.yaml")
    assert result.errors == ()
    assert [p.name for p in result.policies] == ["web-svc-failover", "other"]
    assert [p.location.line for p in result.policies] == [5, 16]


@pytest.mark.parametrize("path", INVALID_CASES, ids=lambda p: p.stem)
def test_invalid_policy_is_reported_with_file_line_and_key(path: Path) -> None:
    prefix, message = _expected_prefix(path)
    result = parse_policies(path.read_text(), str(path))
    rendered = [str(error) for error in result.errors]
    assert any(line.startswith(prefix) and message in line for line in rendered), rendered


@pytest.mark.parametrize("path", INVALID_CASES, ids=lambda p: p.stem)
def test_validate_command_exits_1_and_prints_the_error_line(path: Path) -> None:
    prefix, message = _expected_prefix(path)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert any(line.startswith(prefix) and message in line for line in lines), result.stderr
    assert "Traceback" not in result.output


def test_one_bad_document_does_not_hide_the_good_ones() -> None:
    bad = MINIMAL.replace("web-svc-failover", "Bad_Name")
    good = MINIMAL.replace("web-svc-failover", "good")
    result = parse_policies(f"{bad}---\n{good}", "p.yaml")
    assert [p.name for p in result.policies] == ["good"]
    assert len(result.errors) == 1 and str(result.errors[0]).startswith("p.yaml:4: metadata.name: ")


def test_documents_before_a_syntax_error_still_load() -> None:
    result = parse_policies(MINIMAL + "---\nspec: [unclosed\n", "p.yaml")
    assert [p.name for p in result.policies] == ["web-svc-failover"]
    assert "YAML syntax error at line" in str(result.errors[0])


def test_two_files_rendering_the_same_object_keep_the_first_and_name_both() -> None:
    first = parse_policies(MINIMAL, "a.yaml")
    second = parse_policies(MINIMAL.replace("web-svc-east", "web-svc-central"), "b.yaml")
    merged = merge_policy_sets([first, second])
    assert [p.location.file for p in merged.policies] == ["a.yaml"]
    (error,) = merged.errors
    assert str(error).startswith("b.yaml:4: metadata.name: policy emojivoto/web-svc-failover renders "
                                 "the same object as the policy at a.yaml:4")


def test_same_name_in_another_trafficsplit_version_is_still_the_same_object() -> None:
    other_version = MINIMAL + "  target:\n    apiVersion: split.smi-spec.io/v1alpha1\n"
    merged = merge_policy_sets([parse_policies(MINIMAL, "a.yaml"), parse_policies(other_version, "b.yaml")])
    assert len(merged.policies) == 1 and len(merged.errors) == 1


def test_same_name_in_another_namespace_is_a_different_object() -> None:
    other = MINIMAL.replace("namespace: emojivoto", "namespace: other")
    merged = merge_policy_sets([parse_policies(MINIMAL, "a.yaml"), parse_policies(other, "b.yaml")])
    assert merged.errors == () and len(merged.policies) == 2


def test_every_error_of_a_document_is_reported_not_just_the_first() -> None:
    text = MINIMAL.replace("web-svc-failover", "Bad_Name") + "  whenAllDown: never\n  extra: 1\n"
    keys = [error.location.key for error in parse_policies(text, "p.yaml").errors]
    assert sorted(keys) == ["metadata.name", "spec.extra", "spec.whenAllDown"]
