"""No silent thread death, and signals that always end the loop in time.

Covers:
- a policy aimed at a TrafficSplit apiVersion the server does not serve is reported once (log,
  ``failsync_unserved_policies``, /readyz 503 saying why) and skipped; every thread lives on: resyncs keep running, a policy
  file added later still takes effect, /healthz stays 200;
- two signals in a row (SIGTERM then SIGINT) shut ``failsync run`` down cleanly (exit 0, no
  traceback); a third signal exits at once (exit 1);
- SIGTERM while every write is slow and conflicting: the write in flight finishes, the queue is
  abandoned, and the process exits within ``--shutdown-timeout``;
- /readyz is 503 while every write is forbidden (403), and ok again once a write succeeds;
- workers that keep failing turn /healthz and /readyz to 503 (and are counted);
- a missing TrafficSplit CRD is one clear line, then quiet retries, with /readyz 503 saying why.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from failsync.backoff import RetryPolicy
from failsync.kube import KubeClient
from failsync.kube.resources import SMI_GROUP
from tests.helpers import LineStream, reaped, wait_for
from tests.integration.loop.conftest import app, fetch, policy_text, running, scale, weights, write_policy

FAILSYNC = Path(sys.executable).parent / "failsync"
PRIMARY = {"web-svc": 1, "web-svc-east": 0}
FAILED_OVER = {"web-svc": 0, "web-svc-east": 1}


class _WithoutV1alpha4(KubeClient):
    """A client whose server does not serve TrafficSplit v1alpha4 (discovery says so)."""

    def discovery(self):
        found = super().discovery()
        found.groups[SMI_GROUP] = tuple(v for v in found.groups.get(SMI_GROUP, ()) if v != "v1alpha4")
        return found


def test_a_policy_on_an_unserved_version_is_reported_and_kills_no_thread(sandbox, namespace, tmp_path: Path,
                                                                         caplog) -> None:
    west = sandbox["west"]
    app(west, namespace)
    (tmp_path / "unserved.yaml").write_text(
        policy_text(namespace, "on-v4").replace("holdSeconds: 0", "holdSeconds: 0\n  target:\n"
                                                "    apiVersion: split.smi-spec.io/v1alpha4"))
    write_policy(tmp_path / "good.yaml", namespace, name="good")
    client = _WithoutV1alpha4.from_kubeconfig(sandbox.kubeconfig, "west")
    with caplog.at_level(logging.INFO, logger="failsync"), \
            running(sandbox.kubeconfig, [tmp_path], client=client, resync=0.2, policy_poll=0.05) as loop:
        wait_for(lambda: weights(west, namespace, "good") == PRIMARY, timeout=10)
        resyncs = loop.metrics.reconciles.value(result="unchanged")
        wait_for(lambda: loop.metrics.reconciles.value(result="unchanged") >= resyncs + 3, timeout=10,
                 message="several resyncs after the unserved policy was seen")
        write_policy(tmp_path / "later.yaml", namespace, name="later")
        wait_for(lambda: weights(west, namespace, "later") == PRIMARY, timeout=10,
                 message="a policy file added later to take effect")
        assert loop.metrics.unserved_policies.value() == 1
        assert loop.metrics.thread_errors._values == {}
        assert fetch(f"http://127.0.0.1:{loop.probes.port}/healthz") == (200, "ok\n")
        status, body = fetch(f"http://127.0.0.1:{loop.probes.port}/readyz")
        assert status == 503 and "1 policy aims at a kind the server does not serve" in body and "v1alpha4" in body
    reports = [r for r in caplog.records if f"{namespace}/on-v4" in r.getMessage() and r.levelno >= logging.ERROR]
    assert len(reports) == 1 and "v1alpha4" in reports[0].getMessage()
    assert west.get("split.smi-spec.io/v1alpha2", "TrafficSplit", namespace, "on-v4") is None


def _start(sandbox, policy: Path, *extra: str) -> tuple[subprocess.Popen, LineStream]:
    process = subprocess.Popen(
        [str(FAILSYNC), "--kubeconfig", str(sandbox.kubeconfig), "--context", "west", "run", str(policy),
         "--metrics-port", "0", "--metrics-address", "127.0.0.1", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    return process, LineStream(process.stderr)


def _ready(logs: LineStream) -> None:
    served = logs.until(lambda line: "serving /metrics" in line, timeout=15)
    port = int(served.rsplit(":", 1)[1])
    wait_for(lambda: fetch(f"http://127.0.0.1:{port}/readyz")[0] == 200, timeout=15)


def test_a_second_signal_is_harmless_and_a_third_exits_at_once(sandbox, namespace, tmp_path: Path) -> None:
    app(sandbox["west"], namespace)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    for _ in range(3):  # a deadlock in the handler showed only now and then: try it several times
        process, logs = _start(sandbox, policy)
        with reaped(process):
            _ready(logs)
            process.send_signal(signal.SIGTERM)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=20) == 0
        assert not any("Traceback" in line for line in logs.seen + logs.wait_end(timeout=5))
    process, logs = _start(sandbox, policy, "-vv")
    with reaped(process):
        _ready(logs)
        wait_for(lambda: weights(sandbox["west"], namespace) == PRIMARY, timeout=10)
        sandbox["west"].faults.latency = 3.0  # a write in flight keeps shutdown busy: the third signal cuts it short
        try:
            scale(sandbox["west"], namespace, 0)
            logs.until(lambda line: "PATCH /apis/split.smi-spec.io" in line, timeout=15)
            process.send_signal(signal.SIGTERM)
            logs.until(lambda line: "received SIGTERM" in line, timeout=10)
            process.send_signal(signal.SIGINT)  # two different signals: the kernel never merges them
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 1
        finally:
            sandbox["west"].faults.reset()
    assert any("third signal: exiting now" in line for line in logs.seen + logs.wait_end(timeout=5))


def test_sigterm_while_writes_are_slow_and_conflicting_exits_within_the_shutdown_timeout(
        sandbox, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    process, logs = _start(sandbox, policy, "-vv", "--shutdown-timeout", "4")
    with reaped(process):
        _ready(logs)
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10)
        west.faults.latency = 1.5
        west.faults.error_rate("patch", 1.0, status=409)
        try:
            scale(west, namespace, 0)
            logs.until(lambda line: "PATCH /apis/split.smi-spec.io" in line, timeout=15)
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
            took = time.monotonic() - signalled
        finally:
            west.faults.reset()
    assert code == 0
    assert took < 4 + 1.5, f"took {took:.1f}s to exit"  # --shutdown-timeout 4 below, plus the process exit
    rest = logs.wait_end(timeout=5)
    assert not any("Traceback" in line for line in logs.seen + rest)


def test_readyz_says_not_ready_while_every_write_is_forbidden(sandbox, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    with running(sandbox.kubeconfig, [policy], resync=0.3) as loop:
        readyz = f"http://127.0.0.1:{loop.probes.port}/readyz"
        wait_for(lambda: weights(west, namespace) == PRIMARY, timeout=10)
        assert fetch(readyz) == (200, "ok: leader\n")
        west.faults.error_rate("patch", 1.0, status=403)
        try:
            scale(west, namespace, 0)
            status, body = wait_for(lambda: (lambda answer: answer if answer[0] == 503 else None)(fetch(readyz)),
                                    timeout=10, message="/readyz to turn 503")
            assert "writes are forbidden" in body and "patch" in body
        finally:
            west.faults.reset()
        wait_for(lambda: weights(west, namespace) == FAILED_OVER, timeout=10, message="the write once allowed")
        wait_for(lambda: fetch(readyz) == (200, "ok: leader\n"), timeout=10)


def test_dead_workers_turn_healthz_and_readyz_to_503(sandbox, namespace, tmp_path: Path) -> None:
    app(sandbox["west"], namespace)
    policy = write_policy(tmp_path / "p.yaml", namespace)
    with running(sandbox.kubeconfig, [policy]) as loop:
        base = f"http://127.0.0.1:{loop.probes.port}"
        assert fetch(f"{base}/healthz") == (200, "ok\n")

        def broken(timeout=None):
            raise RuntimeError("the queue is broken")

        loop.queue.get = broken  # every worker now fails at once, again and again
        loop.queue.add("any/key")  # wake the workers waiting in the real get()
        wait_for(lambda: fetch(f"{base}/healthz")[0] == 503, timeout=20, message="/healthz to turn 503")
        status, body = fetch(f"{base}/readyz")
        assert status == 503 and "reconcile threads keep failing" in body
        assert max(loop.metrics.thread_errors.value(thread=f"reconcile-{n}") for n in range(4)) >= 5
        del loop.queue.get


def test_a_missing_trafficsplit_crd_is_one_clear_line_then_quiet_retries(sandbox, tmp_path: Path, caplog) -> None:
    import threading

    from failsync.controller import Controller, LoopOptions
    from tests.integration.sync.support import FilteringProxy

    with FilteringProxy(sandbox["west"].url, hide_groups=["split.smi-spec.io"]) as proxy:
        client = KubeClient.from_kubeconfig(proxy.kubeconfig(tmp_path), "west")
        loop = Controller(client, LoopOptions(paths=[tmp_path], adopt=True, metrics_port=0, metrics_host="127.0.0.1",
                                              retry=RetryPolicy(0.01, 0.05)))
        thread = threading.Thread(target=loop.run, daemon=True)
        with caplog.at_level(logging.DEBUG, logger="failsync"):
            thread.start()
            try:
                wait_for(lambda: loop.metrics.api_requests.value(verb="get", code=200) >= 5, timeout=15,
                         message="several retries of discovery")
                status, body = fetch(f"http://127.0.0.1:{loop.probes.port}/readyz")
            finally:
                loop.stop()
                thread.join(20)
    assert not thread.is_alive()
    assert status == 503 and "the TrafficSplit CRD is missing" in body and "install linkerd-smi" in body
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("failsync")]
    assert len(loud) == 1 and "the TrafficSplit CRD is missing" in loud[0].getMessage()
