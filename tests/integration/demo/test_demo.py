"""`failsync demo` replays the Linkerd failover guide on the sandbox, no cluster needed.

Covers:
- through CliRunner with --step: every step of the guide runs and passes (exit 0): the
  initial TrafficSplit, vote-bot traffic on the primary, the failover on `scale --replicas=0`
  with its measured reaction time, the failback on `--replicas=1`, then web at 0 in east and
  west: the gateway mirror still has a ready endpoint, yet the weights stay on web-svc
  (whenAllDown: keep) and the reason says "0 ready in east, gateway up"; east's gateway
  stopped: the mirror's endpoint goes unready, "gateway down"; a pause before each step;
  plain output (no ANSI escapes) when stdout is not a terminal;
- when the loop cannot fail over (the fallback looks unhealthy to it) the demo exits 1 and
  names the step that did not behave as the guide says; a loop not given east (the mirror's
  local endpoints alone, as linkerd-failover reads) fails step 7;
- --target httproute: the same seven steps on an HTTPRoute;
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

import failsync.demo.scenario
import failsync.sync
from failsync.cli import main
from failsync.demo.emojivoto import POLICY_PATH, built_in_policy
from tests.helpers import LineStream, exit_code_after_sigterm, reaped

REPOSITORY = Path(__file__).resolve().parents[3]
SCRIPT = Path(sys.executable).parent / "failsync"
KUBECTL = "/usr/bin/kubectl"
STEPS = ("[1/7] Install emojivoto in west and east",
         "[2/7] Export web-svc from east",
         "[3/7] Create the failover TrafficSplit",
         "[4/7] vote-bot traffic goes to the primary",
         "[5/7] Scale web to 0 in west",
         "[6/7] Scale web back to 1 in west",
         "[7/7] Scale web to 0 in east and west: web-svc-east still looks ready, failsync does not fail over "
         "into a dead east")
GATEWAY_UP = "web-svc-east: 0 ready in east, gateway up"
GATEWAY_DOWN = "web-svc-east: 0 ready in east, gateway down (0 of 1 local endpoints ready)"
STOP_GATEWAY = "$ kubectl --context=east -n linkerd-multicluster scale deploy/linkerd-gateway --replicas=0"


def weights_shown(text: str) -> list[dict[str, int]]:
    """Each backend list printed by `get ts|httproute -o yaml` in ``text``, as service -> weight."""
    found, current = [], None
    for line in text.splitlines():
        stripped = line.strip().lstrip("- ")
        if stripped.startswith("spec:"):
            current = {}
            found.append(current)
        elif current is not None and stripped.startswith(("service: ", "name: ")):
            name = stripped.split(": ", 1)[1]
        elif current is not None and stripped.startswith("weight: "):
            current[name] = int(stripped.split(": ", 1)[1])
    return found


def assert_step_7_keeps_traffic_off_the_dead_east(output: str) -> None:
    """After both webs are down the mirror still has a ready endpoint, yet the weights stay on the primary
    (whenAllDown: keep) because east was read; the gateway's stop makes the mirror's endpoint unready."""
    step = output[output.index("[7/7]"):]
    before_gateway, after_gateway = step.split(STOP_GATEWAY)
    assert "$ kubectl --context=east -n emojivoto scale deploy/web --replicas=0" in before_gateway
    assert "$ kubectl --context=west -n emojivoto scale deploy/web --replicas=0" in before_gateway
    mirror_rows = [line.split() for line in step.splitlines() if line.strip().startswith("web-svc-east ")
                   and "ClusterIP" in line]
    assert [row[-1] for row in mirror_rows] == ["1", "0"]  # ready through the gateway, then unready
    assert GATEWAY_UP in before_gateway and '"state": "all-down"' in before_gateway
    assert GATEWAY_DOWN in after_gateway
    assert weights_shown(step) == [{"web-svc": 1, "web-svc-east": 0}] * 2
    assert "ok  failsync keeps traffic on web-svc (whenAllDown: keep)" in before_gateway
    assert "ok  east's gateway stopped: web-svc-east's own endpoint went unready; traffic stays on web-svc" \
           in after_gateway


def test_every_step_of_the_guide_passes_with_a_pause_before_each(monkeypatch) -> None:
    monkeypatch.chdir(REPOSITORY)
    result = CliRunner().invoke(main, ["demo", "--step"], input="\n" * 6)
    assert result.exit_code == 0, result.output
    output = result.output
    positions = [output.index(step) for step in STEPS]
    assert positions == sorted(positions)
    assert output.count("press Enter for:") == 6
    assert "policy: policies/emojivoto/web-svc-failover.yaml" in output
    assert "failed over in" in output and "failed back in" in output
    assert "NAME           SUCCESS   RPS" in output
    failover = output[output.index(STEPS[4]):output.index(STEPS[5])]
    assert "weight: 1" in failover.split("- service: web-svc-east")[1].split("service:")[0]
    assert "web-svc-east   100.00%" in failover and "web-svc        -         -" in failover
    assert_step_7_keeps_traffic_off_the_dead_east(output)
    assert "All 7 steps behaved as the guide says" in output
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
    assert "error: step 5/7 (Scale web to 0 in west: the TrafficSplit fails over to web-svc-east) did not " \
           "behave as the guide says" in result.stderr
    assert STEPS[5] not in result.output
    assert "Traceback" not in result.output + result.stderr


def test_a_loop_that_does_not_read_east_fails_step_7_and_exits_1(monkeypatch) -> None:
    real_controller = failsync.demo.scenario.Controller

    def without_east(*args, **kwargs):
        kwargs.pop("clusters", None)  # linkerd-failover's view: the mirror's local endpoints alone
        return real_controller(*args, **kwargs)

    monkeypatch.setattr(failsync.demo.scenario, "Controller", without_east)
    monkeypatch.chdir(REPOSITORY)
    result = CliRunner().invoke(main, ["demo", "--timeout", "1.5"])
    assert result.exit_code == 1, result.output
    assert "FAILED  the loop still counts web-svc-east as 1 ready: it does not read east" in result.output
    assert "error: step 7/7 (Scale web to 0 in east and west" in result.stderr


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


def test_demo_with_an_httproute_target_passes_the_same_seven_steps(monkeypatch) -> None:
    monkeypatch.chdir(REPOSITORY)
    result = CliRunner().invoke(main, ["demo", "--target", "httproute"])
    assert result.exit_code == 0, result.output
    output = result.output
    for step in ("[3/7] Create the failover HTTPRoute", "[5/7] Scale web to 0 in west: the HTTPRoute fails over",
                 "[6/7] Scale web back to 1 in west: the HTTPRoute fails back", STEPS[6]):
        assert step in output
    assert "with spec.target {kind: HTTPRoute, port: 80}" in output
    assert "get httproute/web-svc-failover -o yaml" in output
    assert_step_7_keeps_traffic_off_the_dead_east(output)
    assert "All 7 steps behaved as the guide says" in output
