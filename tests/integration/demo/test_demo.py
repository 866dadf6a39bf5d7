"""`failsync demo` replays the Linkerd failover guide on the sandbox, no cluster needed.

Covers:
- through CliRunner with --step: every step of the guide runs and passes (exit 0): the
  initial TrafficSplit, vote-bot traffic on the primary, the failover on `scale --replicas=0`
  with its measured reaction time, the failback on `--replicas=1`; a pause before each step;
  plain output (no ANSI escapes) when stdout is not a terminal;
- when the loop cannot fail over (the fallback looks unhealthy to it) the demo exits 1 and
  names the step that did not behave as the guide says;
- the installed console script, piped, from a directory without policies/: uses the built-in
  copy of the example policy, passes, prints no escape sequences; the built-in copy is the
  shipped policies/emojivoto/web-svc-failover.yaml, byte for byte;
- --keep-running: the sandboxes and the loop stay up (kubectl reads the TrafficSplit through
  the printed kubeconfig) until SIGTERM, then exit 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import failsync.sync
from failsync.cli import main
from failsync.demo.emojivoto import POLICY_PATH, built_in_policy
from tests.helpers import LineStream, exit_code_after_sigterm, reaped

REPOSITORY = Path(__file__).resolve().parents[3]
SCRIPT = Path(sys.executable).parent / "failsync"
KUBECTL = "/usr/bin/kubectl"
STEPS = ("[1/6] Install emojivoto in west and east",
         "[2/6] Export web-svc from east",
         "[3/6] Create the failover TrafficSplit",
         "[4/6] vote-bot traffic goes to the primary",
         "[5/6] Scale web to 0 in west",
         "[6/6] Scale web back to 1 in west")


def test_every_step_of_the_guide_passes_with_a_pause_before_each(monkeypatch) -> None:
    monkeypatch.chdir(REPOSITORY)
    result = CliRunner().invoke(main, ["demo", "--step"], input="\n" * 5)
    assert result.exit_code == 0, result.output
    output = result.output
    positions = [output.index(step) for step in STEPS]
    assert positions == sorted(positions)
    assert output.count("press Enter for:") == 5
    assert "policy: policies/emojivoto/web-svc-failover.yaml" in output
    assert "failed over in" in output and "failed back in" in output
    assert "NAME           SUCCESS   RPS" in output
    failover = output[output.index(STEPS[4]):output.index(STEPS[5])]
    assert "weight: 1" in failover.split("- service: web-svc-east")[1].split("service:")[0]
    assert "web-svc-east   100.00%" in failover and "web-svc        -         -" in failover
    assert "All 6 steps behaved as the guide says" in output
    assert "\x1b[" not in output


def test_a_failover_that_cannot_happen_fails_step_5_and_exits_1(monkeypatch) -> None:
    real_decide = failsync.sync.decide

    def fallbacks_look_down(policy, ready, **kwargs):
        return real_decide(policy, {**ready, **{b.service: 0 for b in policy.fallbacks}}, **kwargs)

    monkeypatch.setattr(failsync.sync, "decide", fallbacks_look_down)
    monkeypatch.chdir(REPOSITORY)
    result = CliRunner().invoke(main, ["demo", "--timeout", "1.5"])
    assert result.exit_code == 1, result.output
    assert "FAILED  the TrafficSplit did not fail over; weights now: web-svc=1, web-svc-east=0" in result.output
    assert "error: step 5/6 (Scale web to 0 in west: the TrafficSplit fails over to web-svc-east) did not " \
           "behave as the guide says" in result.stderr
    assert STEPS[5] not in result.output
    assert "Traceback" not in result.output + result.stderr


def test_console_script_piped_from_elsewhere_uses_the_built_in_policy(tmp_path: Path) -> None:
    done = subprocess.run([str(SCRIPT), "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(built-in copy: the working directory has none)" in done.stdout
    assert all(step in done.stdout for step in STEPS)
    assert "\x1b" not in done.stdout and "\r" not in done.stdout


def test_built_in_policy_is_the_example_policy_shipped_as_package_data() -> None:
    assert built_in_policy() == (REPOSITORY / POLICY_PATH).read_text()


def test_keep_running_serves_the_sandboxes_until_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen([str(SCRIPT), "demo", "--keep-running"], cwd=REPOSITORY, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    with reaped(process):
        lines = LineStream(process.stdout)
        kubeconfig = lines.until(lambda line: line.startswith("kubeconfig: "), timeout=60).split(": ", 1)[1].strip()
        got = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "--cache-dir", str(tmp_path), "--context", "west",
                              "-n", "emojivoto", "get", "ts/web-svc-failover", "-o", "json"],
                             capture_output=True, text=True, timeout=30)
        assert got.returncode == 0, got.stderr
        backends = {b["service"]: b["weight"] for b in json.loads(got.stdout)["spec"]["backends"]}
        assert backends == {"web-svc": 1, "web-svc-east": 0}
        assert exit_code_after_sigterm(process, timeout=30) == 0
        assert not Path(kubeconfig).exists()


def test_demo_with_an_httproute_target_passes_the_same_six_steps(monkeypatch) -> None:
    monkeypatch.chdir(REPOSITORY)
    result = CliRunner().invoke(main, ["demo", "--target", "httproute"])
    assert result.exit_code == 0, result.output
    output = result.output
    for step in ("[3/6] Create the failover HTTPRoute", "[5/6] Scale web to 0 in west: the HTTPRoute fails over",
                 "[6/6] Scale web back to 1 in west: the HTTPRoute fails back"):
        assert step in output
    assert "with spec.target {kind: HTTPRoute, port: 80}" in output
    assert "get httproute/web-svc-failover -o yaml" in output
    assert "All 6 steps behaved as the guide says" in output
