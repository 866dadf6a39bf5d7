"""A leader that was frozen (SIGSTOP) past its lease never writes once it resumes (SIGCONT).

Covers, with two real ``failsync run`` processes and the sandbox's request log:
- replica A leads; it is frozen longer than the lease; replica B takes the Lease over and writes;
- A resumes with a stale cache and, before any write, finds its last renewal older than
  ``--renew-deadline``: it re-reads the Lease, sees B, and steps down; from the moment A resumes
  no TrafficSplit is written at all (B is converged; any write would be A's, as a non-holder).

The two replicas run policies that want different weights for the same TrafficSplits, so that a
write by A after resuming could not go unnoticed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.helpers import LineStream, reaped, wait_for
from tests.integration.loop.conftest import app, fetch, policy_text, weights, writes_to_traffic_splits

FAILSYNC = Path(sys.executable).parent / "failsync"
POLICIES = 20
A_WANTS = {"web-svc": 1, "web-svc-east": 0}   # A's policies: primary web-svc
B_WANTS = {"web-svc": 0, "web-svc-east": 1}   # B's policies: primary web-svc-east


def _policies(path: Path, namespace: str, primary: str, fallback: str) -> Path:
    path.write_text("---\n".join(policy_text(namespace, f"p{n}", primary=primary, fallbacks=(fallback,))
                                 for n in range(POLICIES)))
    return path


def _replica(sandbox, policies: Path, namespace: str, identity: str) -> tuple[subprocess.Popen, LineStream, int]:
    process = subprocess.Popen(
        [str(FAILSYNC), "--kubeconfig", str(sandbox.kubeconfig), "--context", "west", "run", str(policies),
         "--metrics-port", "0", "--metrics-address", "127.0.0.1", "--leader-elect", "--lease-name", "frozen",
         "--lease-namespace", namespace, "--lease-duration", "2", "--renew-deadline", "1.5",
         "--retry-period", "0.2", "--identity", identity],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    logs = LineStream(process.stderr)
    served = logs.until(lambda line: "serving /metrics" in line, timeout=15)
    return process, logs, int(served.rsplit(":", 1)[1])


def _holder(west, namespace: str) -> str | None:
    lease = west.get("coordination.k8s.io/v1", "Lease", namespace, "frozen") or {}
    return (lease.get("spec") or {}).get("holderIdentity")


def _all(west, namespace: str, wanted: dict[str, int]) -> bool:
    return all(weights(west, namespace, f"p{n}") == wanted for n in range(POLICIES))


def test_a_leader_frozen_past_its_lease_never_writes_after_it_resumes(sandbox, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    a_policies = _policies(tmp_path / "a.yaml", namespace, "web-svc", "web-svc-east")
    b_policies = _policies(tmp_path / "b.yaml", namespace, "web-svc-east", "web-svc")
    a, a_logs, a_port = _replica(sandbox, a_policies, namespace, "replica-a")
    with reaped(a):
        wait_for(lambda: _holder(west, namespace) == "replica-a", timeout=15, message="A to lead")
        wait_for(lambda: _all(west, namespace, A_WANTS), timeout=15, message="A's weights")
        b, b_logs, b_port = _replica(sandbox, b_policies, namespace, "replica-b")
        with reaped(b):
            wait_for(lambda: fetch(f"http://127.0.0.1:{b_port}/readyz") == (200, "ok: standby\n"), timeout=15)
            a.send_signal(signal.SIGSTOP)
            try:
                wait_for(lambda: _holder(west, namespace) == "replica-b", timeout=15, message="B to take over")
                wait_for(lambda: _all(west, namespace, B_WANTS), timeout=15, message="B's weights")
                # Every write so far is logged: A's creates and B's patches (the log follows the store).
                wait_for(lambda: len(writes_to_traffic_splits(west)) >= 2 * POLICIES, timeout=10)
                before = len(writes_to_traffic_splits(west))
            finally:
                a.send_signal(signal.SIGCONT)
            a_logs.until(lambda line: "stopped leading" in line, timeout=15)
            wait_for(lambda: fetch(f"http://127.0.0.1:{a_port}/readyz") == (200, "ok: standby\n"), timeout=15)
            written = [r for r in writes_to_traffic_splits(west)[before:]]
            assert written == [], f"{len(written)} TrafficSplit write(s) after A resumed: {written[:3]}"
            assert _all(west, namespace, B_WANTS)
            assert _holder(west, namespace) == "replica-b"
            assert not any("Traceback" in line for line in a_logs.seen + b_logs.seen)
