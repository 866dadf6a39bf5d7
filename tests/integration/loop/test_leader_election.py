"""High availability with ``--leader-elect``: only the lease holder writes; a standby takes over.

Covers:
- two replicas: exactly one becomes leader; a failover is written once (one TrafficSplit write in
  the sandbox's request log) and the standby sends no write at all; /readyz says leader or standby;
- stopping the leader releases the lease (holderIdentity cleared) and the standby takes over and
  writes the failback;
- the real ``failsync run`` console script: it leads, fails over, and on SIGTERM finishes, releases
  the lease and exits 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import LineStream, exit_code_after_sigterm, reaped, wait_for
from tests.integration.loop.conftest import (app, fetch, running, weights, write_policy,
                                             writes_to_traffic_splits)

PRIMARY = {"web-svc": 1, "web-svc-east": 0}
FAILED_OVER = {"web-svc": 0, "web-svc-east": 1}
LEASE = dict(leader_elect=True, lease_duration=3.0, renew_deadline=2.0, retry_period=0.2)
FAILSYNC = Path(sys.executable).parent / "failsync"


def _lease(west, namespace: str, name: str) -> dict:
    return west.get("coordination.k8s.io/v1", "Lease", namespace, name) or {}


def _write_requests(loop) -> float:
    requests = loop.metrics.api_requests
    return sum(value for (verb, _code), value in list(requests._values.items())
               if verb in ("create", "patch", "update", "delete"))


def test_only_the_leader_writes_and_a_standby_takes_over(sandbox, kubectl, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    lease = dict(LEASE, lease_name=f"lease-{namespace}", lease_namespace=namespace)
    with running(sandbox.kubeconfig, [policy], identity="replica-a", **lease) as first:
        wait_for(lambda: first.is_leader, timeout=10, message="replica-a to lead")
        with running(sandbox.kubeconfig, [policy], identity="replica-b", **lease) as second:
            wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10)
            wait_for(lambda: second.elector.holder == "replica-a", timeout=10)
            assert not second.is_leader
            assert fetch(f"http://127.0.0.1:{second.probes.port}/readyz") == (200, "ok: standby\n")
            assert fetch(f"http://127.0.0.1:{first.probes.port}/readyz") == (200, "ok: leader\n")

            west.requests.clear()
            assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=0").returncode == 0
            wait_for(lambda: weights(west, namespace) == FAILED_OVER, timeout=10)
            wait_for(lambda: first.queue.in_flight == 0 and second.queue.in_flight == 0, timeout=5)
            assert len(writes_to_traffic_splits(west)) == 1, writes_to_traffic_splits(west)
            # The standby sent no write at all: no TrafficSplit patch, no Event, no lease write.
            assert _write_requests(second) == 0

            first.stop()  # graceful: the lease is released, so the standby need not wait for expiry
            wait_for(lambda: second.is_leader, timeout=LEASE["lease_duration"] + 5, message="the standby to lead")
            assert fetch(f"http://127.0.0.1:{second.probes.port}/readyz") == (200, "ok: leader\n")
            assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=1").returncode == 0
            wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10, message="the new leader's failback")
            # The store changes before the answer reaches the client: wait for the write's bookkeeping.
            wait_for(lambda: second.metrics.reconciles.value(result="patched") >= 1, timeout=10,
                     message="the new leader's patch counted")
        assert _lease(west, namespace, f"lease-{namespace}")["spec"]["holderIdentity"] == ""


def test_console_script_leads_fails_over_and_exits_0_on_sigterm(sandbox, kubectl, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    process = subprocess.Popen(
        [str(FAILSYNC), "--kubeconfig", str(sandbox.kubeconfig), "--context", "west", "run", str(policy),
         "--metrics-port", "0", "--metrics-address", "127.0.0.1", "--resync", "5", "--leader-elect",
         "--lease-name", "cli", "--lease-namespace", namespace, "--lease-duration", "3", "--renew-deadline", "2",
         "--retry-period", "0.2", "--identity", "cli-replica"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    logs = LineStream(process.stderr)
    with reaped(process):
        served = logs.until(lambda line: "serving /metrics" in line, timeout=15)
        port = int(served.rsplit(":", 1)[1])
        wait_for(lambda: fetch(f"http://127.0.0.1:{port}/readyz") == (200, "ok: leader\n"), timeout=15)
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10)
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=0").returncode == 0
        wait_for(lambda: weights(west, namespace) == FAILED_OVER, timeout=10)
        logs.until(lambda line: "failed over in" in line and "ms" in line, timeout=10)
        assert _lease(west, namespace, "cli")["spec"]["holderIdentity"] == "cli-replica"
        assert exit_code_after_sigterm(process, timeout=20) == 0
    assert _lease(west, namespace, "cli")["spec"]["holderIdentity"] == ""
    assert not any("Traceback" in line for line in logs.seen + logs.wait_end(timeout=5))
