"""``failsync run`` failing to start says why in one line; the loop's policies are cheap to ask.

Covers:
- a busy ``--metrics-port`` is one error line naming the port and ``--metrics-port 0``, exit 2, no
  traceback (the console script, as a user runs it);
- ``Policy.backends`` and ``Policy.services`` are built once per policy, not per call (the loop asks
  for them at every change of every policy).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from failsync.core.model import Backend, Policy
from tests.helpers import MINIMAL_POLICY

FAILSYNC = Path(sys.executable).parent / "failsync"


def test_a_busy_metrics_port_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(MINIMAL_POLICY.format(name="p"))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: x\n"
                          "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
                          "users: [{name: u, user: {token: t}}]\n"
                          "contexts: [{name: x, context: {cluster: c, user: u}}]\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([str(FAILSYNC), "--kubeconfig", str(kubeconfig), "run", str(tmp_path),
                               "--metrics-port", str(port), "--metrics-address", "127.0.0.1"],
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"port {port}" in errors[0] and "--metrics-port 0" in errors[0], done.stderr


def test_backends_and_services_are_built_once_per_policy() -> None:
    policy = Policy(name="p", namespace="ns", service="web", primary="web", fallbacks=(Backend("east"),))
    assert policy.backends is policy.backends
    assert policy.services is policy.services == ("web", "east")
