"""`failsync simulate` through click's CliRunner (and the library call behind it).

Covers:
- the examples CI runs: the guide's policy with its timeline, and the gradual/delay/hold
  policy with its timeline, both exit 0 with every expect held;
- a failing expect exits 1 and names the step, its line and the weights found;
- bad input exits 2 with file:line: key errors (timeline and policy), never a traceback;
- ``policy:`` picks one policy; naming an unknown one, or a service no policy has, is an error;
- rows the loop takes on the clock alone (a delay ends between two steps) appear as "timer";
- ``-o json`` carries every row with weights, rule, reason and ok;
- pins in a timeline: a pin holds over health, expires on a timer row, ``pin: null`` removes it;
- the replay uses the same decide() as the loop: the rows equal decide() called by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from failsync.cli import main
from failsync.core.policies import parse_policies
from failsync.core.timeline import parse_timeline, replay
from failsync.core.weights import decide
from tests.helpers import MINIMAL_POLICY

REPOSITORY = Path(__file__).resolve().parent.parent.parent
GUIDE_POLICY = REPOSITORY / "policies" / "emojivoto"
GUIDE_TIMELINE = REPOSITORY / "examples" / "timelines" / "web-svc-failover.yaml"
GRADUAL_POLICY = REPOSITORY / "examples" / "policies" / "web-svc-gradual.yaml"
GRADUAL_TIMELINE = REPOSITORY / "examples" / "timelines" / "web-svc-gradual.yaml"

POLICY = MINIMAL_POLICY.format(name="web-svc-failover") + """\
  failover:
    delaySeconds: 30
"""


def _run(*args: str):
    return CliRunner().invoke(main, ["simulate", *args])


def _files(tmp_path: Path, timeline: str, policy: str = POLICY) -> tuple[str, str]:
    (tmp_path / "policy.yaml").write_text(policy)
    (tmp_path / "timeline.yaml").write_text(timeline)
    return str(tmp_path / "policy.yaml"), str(tmp_path / "timeline.yaml")


def test_the_guides_example_timeline_passes() -> None:
    result = _run(str(GUIDE_POLICY), "--timeline", str(GUIDE_TIMELINE))
    assert result.exit_code == 0, result.output
    assert "failed-over" in result.stdout and "all-down-keep" in result.stdout
    assert "5 expectation(s) held" in result.stderr


def test_the_gradual_example_timeline_passes() -> None:
    result = _run(str(GRADUAL_POLICY), "--timeline", str(GRADUAL_TIMELINE))
    assert result.exit_code == 0, result.output
    assert "web-svc=84,web-svc-east=16" in result.stdout
    assert "timer" in result.stdout and "failback-held" in result.stdout


def test_a_failing_expect_exits_1_naming_the_step(tmp_path: Path) -> None:
    policy, timeline = _files(tmp_path, """\
steps:
  - at: 0
    ready: {web-svc: 1, web-svc-east: 1}
    expect: {web-svc: 1}
  - at: 10
    ready: {web-svc: 0}
    expect: {web-svc: 0, web-svc-east: 1}   # wrong: delaySeconds keeps the traffic for 30 s
""")
    result = _run(policy, "--timeline", timeline)
    assert result.exit_code == 1, result.output
    assert "FAIL step 2 (at 10s, line 5): emojivoto/web-svc-failover expected web-svc=0, web-svc-east=1, " \
           "got web-svc=1, web-svc-east=0 (failover-delayed" in result.stderr
    assert "2 FAIL" in result.stdout


def test_a_delay_ending_between_steps_is_a_timer_row(tmp_path: Path) -> None:
    policy, timeline = _files(tmp_path, """\
steps:
  - {at: 0, ready: {web-svc: 1, web-svc-east: 1}}
  - {at: 10, ready: {web-svc: 0}}
  - {at: 100, expect: {web-svc: 0, web-svc-east: 1}}
""")
    result = _run(policy, "--timeline", timeline, "-o", "json")
    assert result.exit_code == 0, result.output
    (only,) = json.loads(result.stdout)["policies"]
    rows = only["rows"]
    assert [(r["at"], r["step"], r["rule"]) for r in rows] == [
        (0, 1, "primary-healthy"), (10, 2, "failover-delayed"), (40, None, "failed-over"), (100, 3, "failed-over")]
    assert rows[2]["weights"] == {"web-svc": 0, "web-svc-east": 1} and all(r["ok"] for r in rows)


def test_bad_timeline_exits_2_with_file_line_and_key(tmp_path: Path) -> None:
    policy, timeline = _files(tmp_path, """\
steps:
  - at: 0
    ready: {web-svc: -1}
  - at: soon
    endpoints: {web-svc-east: [3, 2]}
    colour: red
""")
    result = _run(policy, "--timeline", timeline)
    assert result.exit_code == 2, result.output
    assert f"error: {timeline}:3: steps[0].ready.web-svc: expected a whole number >= 0, found -1" in result.stderr
    assert f"error: {timeline}:4: steps[1].at: expected the seconds since the start" in result.stderr
    assert f"error: {timeline}:5: steps[1].endpoints.web-svc-east: expected [ready, total]" in result.stderr
    assert f"error: {timeline}:6: steps[1].colour: unknown key" in result.stderr
    assert "Traceback" not in result.output


def test_steps_out_of_order_and_unknown_services_are_bad_input(tmp_path: Path) -> None:
    policy, timeline = _files(tmp_path, "steps:\n  - {at: 5, ready: {web-svc: 1}}\n  - {at: 1, ready: {web-svc: 0}}\n")
    result = _run(policy, "--timeline", timeline)
    assert result.exit_code == 2 and "steps[1].at: 1 comes before the previous step's 5" in result.stderr
    policy, timeline = _files(tmp_path, "steps:\n  - {at: 0, ready: {web-svc-west: 1}}\n")
    result = _run(policy, "--timeline", timeline)
    assert result.exit_code == 2 and f"{timeline}:2: steps[0]: 'web-svc-west' is not a backend" in result.stderr


def test_policy_picks_one_and_an_unknown_name_is_bad_input(tmp_path: Path) -> None:
    two = POLICY + "---\n" + POLICY.replace("name: web-svc-failover", "name: other")
    policy, timeline = _files(tmp_path, "policy: other\nsteps:\n  - {at: 0, ready: {web-svc: 1}}\n", two)
    result = _run(policy, "--timeline", timeline)
    assert result.exit_code == 0 and "emojivoto/other:" in result.stdout and "web-svc-failover" not in result.stdout
    policy, timeline = _files(tmp_path, "policy: nope\nsteps:\n  - {at: 0, ready: {web-svc: 1}}\n", two)
    result = _run(policy, "--timeline", timeline)
    assert result.exit_code == 2 and "policy 'nope' is not among the policies given" in result.stderr


def test_an_invalid_policy_or_missing_timeline_exits_2(tmp_path: Path) -> None:
    policy, timeline = _files(tmp_path, "steps:\n  - {at: 0, ready: {web-svc: 1}}\n",
                              POLICY.replace("delaySeconds: 30", "delaySeconds: -1"))
    result = _run(policy, "--timeline", timeline)
    assert result.exit_code == 2 and f"{policy}:11: spec.failover.delaySeconds" in result.stderr
    policy, _ = _files(tmp_path, "", POLICY)
    result = _run(policy, "--timeline", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2 and "cannot read the timeline" in result.stderr


def test_replay_is_decide_step_by_step() -> None:
    (policy,) = parse_policies(GRADUAL_POLICY.read_text(), str(GRADUAL_POLICY)).policies
    timeline = parse_timeline(GRADUAL_TIMELINE.read_text(), str(GRADUAL_TIMELINE))
    previous, healthy_since, unhealthy_since = None, None, None
    for row in replay(policy, timeline):
        again = decide(policy, row.ready, total=row.total, previous=previous, primary_healthy_since=healthy_since,
                       primary_unhealthy_since=unhealthy_since, now=row.at)
        assert again == row.decision
        previous, healthy_since, unhealthy_since = (again.weights, again.primary_healthy_since,
                                                    again.primary_unhealthy_since)


def test_a_pin_in_the_timeline_holds_then_expires_on_a_timer_row(tmp_path: Path) -> None:
    policy, timeline = _files(tmp_path, """\
steps:
  - {at: 0, ready: {web-svc: 1, web-svc-east: 1}}
  - {at: 90, ready: {web-svc: 0}, pin: {backend: web-svc, for: 300}, expect: {web-svc: 1}}
  - {at: 500, expect: {web-svc-east: 1}}
  - {at: 600, pin: web-svc-east, ready: {web-svc: 1}, expect: {web-svc-east: 1}}
  - {at: 700, pin: null, expect: {web-svc: 1}}
""")
    result = _run(policy, "--timeline", timeline, "-o", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["policies"][0]["rows"]
    assert [(r["at"], r["step"], r["rule"]) for r in rows] == [
        (0, 1, "primary-healthy"), (90, 2, "pinned"), (390, None, "failed-over"), (500, 3, "failed-over"),
        (600, 4, "pinned"), (700, 5, "primary-healthy")]
    assert "the pin to web-svc expired" in rows[2]["reason"]
    bad = _files(tmp_path, "steps:\n  - {at: 0, pin: [web-svc]}\n")
    result = _run(*bad[:1], "--timeline", bad[1])
    assert result.exit_code == 2 and "steps[0].pin: expected a backend name" in result.stderr
