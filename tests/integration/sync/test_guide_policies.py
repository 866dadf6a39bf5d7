"""The Linkerd failover guide, end to end, with one-shot commands and the repository's policy file.

Covers: `diff` exits 1 before the first sync and shows the object to create; `sync` creates it
(primary web-svc 1, web-svc-east 0) and `diff` then exits 0 with no output; `kubectl scale
deploy/web --replicas=0` (the real kubectl) makes `diff` show web-svc 1->0 and web-svc-east 0->1
(text, json-patch and json outputs); `sync` applies exactly that; `status` says failed-over;
scaling back and `sync` restore the primary; the real console script gives the same answers.
On a terminal (a real pseudo-terminal) the diff is coloured, and plain with NO_COLOR set.
"""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.helpers import wait_for
from tests.integration.sync.conftest import ready_count
from tests.integration.sync.support import GUIDE_POLICIES, failsync, policy_document, weights

CONSOLE_SCRIPT = Path(sys.executable).parent / "failsync"


def scale(kubectl, replicas: int) -> None:
    code, out, err = kubectl("--context", "west", "-n", "emojivoto", "scale", "deploy/web", f"--replicas={replicas}")
    assert code == 0, err
    assert "deployment.apps/web scaled" in out


def console(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([str(CONSOLE_SCRIPT), "--kubeconfig", str(kubeconfig), "--context", "west", *args],
                          capture_output=True, text=True, timeout=60, env=env)


def test_guide_failover_and_failback_with_policy_files(guide, kubectl) -> None:
    west, config, policies = guide["west"], guide.kubeconfig, str(GUIDE_POLICIES)

    before = failsync(config, "diff", policies)
    assert before.exit_code == 1, before.output
    assert "+++ desired/emojivoto/web-svc-failover" in before.stdout
    assert weights(west) is None

    created = failsync(config, "sync", policies)
    assert created.exit_code == 0, created.output
    assert "emojivoto/web-svc-failover: created" in created.stdout
    assert weights(west) == {"web-svc": 1, "web-svc-east": 0}
    stored = west.get("split.smi-spec.io/v1alpha2", "TrafficSplit", "emojivoto", "web-svc-failover")
    assert stored["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "failsync"
    assert stored["metadata"]["annotations"]["failover.linkerd.io/primary-service"] == "web-svc"

    in_sync = failsync(config, "diff", policies)
    assert (in_sync.exit_code, in_sync.stdout) == (0, ""), in_sync.output

    scale(kubectl, 0)
    wait_for(lambda: ready_count(west, "emojivoto", "web-svc") == 0, message="web-svc emptied")

    text = failsync(config, "diff", policies)
    assert text.exit_code == 1, text.output
    assert "-  - {service: web-svc, weight: 1}" in text.stdout
    assert "+  - {service: web-svc, weight: 0}" in text.stdout
    assert "-  - {service: web-svc-east, weight: 0}" in text.stdout
    assert "+  - {service: web-svc-east, weight: 1}" in text.stdout
    assert "\x1b[" not in text.stdout  # not a terminal: no colour

    report = json.loads(failsync(config, "diff", policies, "-o", "json").stdout)
    [item] = report["objects"]
    assert (item["liveWeights"], item["desiredWeights"]) == ({"web-svc": 1, "web-svc-east": 0},
                                                             {"web-svc": 0, "web-svc-east": 1})
    assert item["ready"] == {"web-svc": 0, "web-svc-east": 1}
    [write] = json.loads(failsync(config, "diff", policies, "-o", "json-patch").stdout)
    ops = write["patch"]
    assert ops[0]["op"] == "test" and ops[0]["path"] == "/metadata/resourceVersion"
    assert {(op["path"], op.get("value")) for op in ops if op["path"].startswith("/spec")} == {
        ("/spec/backends/0/weight", 0), ("/spec/backends/1/weight", 1)}

    failed_over = failsync(config, "sync", policies)
    assert failed_over.exit_code == 0, failed_over.output
    assert "emojivoto/web-svc-failover: patched (web-svc 1->0, web-svc-east 0->1)" in failed_over.stdout
    assert weights(west) == {"web-svc": 0, "web-svc-east": 1}

    status = failsync(config, "status", policies)
    header, row = status.stdout.splitlines()
    assert header.split() == ["NAMESPACE", "NAME", "TARGET", "STATE", "ACTIVE", "READY", "LAST-CHANGE"]
    assert row.split()[:6] == ["emojivoto", "web-svc-failover", "TrafficSplit/v1alpha2", "failed-over",
                               "web-svc-east", "web-svc=0,web-svc-east=1"]

    scale(kubectl, 1)
    wait_for(lambda: ready_count(west, "emojivoto", "web-svc") == 1, message="web-svc refilled")

    restored = console(config, "sync", policies)
    assert restored.returncode == 0, restored.stderr
    assert "emojivoto/web-svc-failover: patched (web-svc 0->1, web-svc-east 1->0)" in restored.stdout
    assert weights(west) == {"web-svc": 1, "web-svc-east": 0}

    final = console(config, "diff", policies)
    assert (final.returncode, final.stdout) == (0, ""), final.stderr
    state = json.loads(console(config, "status", policies, "-o", "json").stdout)
    assert state["objects"][0]["state"] == "primary"


def diff_on_a_terminal(kubeconfig: Path, policies: Path, env: dict) -> str:
    controller, terminal = pty.openpty()
    with subprocess.Popen([str(CONSOLE_SCRIPT), "--kubeconfig", str(kubeconfig), "--context", "west", "diff",
                           str(policies)], stdout=terminal, stderr=subprocess.DEVNULL, env=env) as process:
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closes when the process exits
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 1
    os.close(controller)
    return b"".join(chunks).decode()


def test_diff_is_coloured_on_a_terminal_unless_no_color(guide, tmp_path) -> None:
    policies = tmp_path / "pending.yaml"
    policies.write_text(policy_document("emojivoto", "colour-check"))
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = diff_on_a_terminal(guide.kubeconfig, policies, env)
    assert "\x1b[32m+" in coloured and "colour-check" in coloured
    plain = diff_on_a_terminal(guide.kubeconfig, policies, {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in plain and "+++ desired/emojivoto/colour-check" in plain
