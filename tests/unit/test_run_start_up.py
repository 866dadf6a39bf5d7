"""``failsync run`` failing to start says why in one line; the loop's policies are cheap to ask.

Covers:
- a busy ``--metrics-port`` is one error line naming the port and ``--metrics-port 0``, exit 2, no
  traceback (the console script, as a user runs it);
- without ``--metrics-address`` outside a pod the loop serves its probes on 127.0.0.1 only;
- ``validate`` of a directory with an unreadable subdirectory is exit 1 naming it (never "0 errors");
- ``Policy.backends`` and ``Policy.services`` are built once per policy, not per call (the loop asks
  for them at every change of every policy).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from failsync.core.model import Backend, Policy
from tests.helpers import MINIMAL_POLICY, deny_to_the_loader, unreachable_kubeconfig

FAILSYNC = Path(sys.executable).parent / "failsync"


def test_a_busy_metrics_port_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(MINIMAL_POLICY.format(name="p"))
    kubeconfig = unreachable_kubeconfig(tmp_path)
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


def test_the_loop_serves_its_probes_on_the_loopback_outside_a_pod(tmp_path: Path, monkeypatch) -> None:
    """No --metrics-address outside a pod: the loop itself listens on 127.0.0.1, not on every address."""
    import threading

    from failsync import observability
    from failsync.controller import Controller, LoopOptions
    from failsync.kube import KubeClient
    from tests.helpers import wait_for

    monkeypatch.setattr(observability, "SERVICE_ACCOUNT_TOKEN", tmp_path / "no-token")
    kubeconfig = unreachable_kubeconfig(tmp_path)
    loop = Controller(KubeClient.from_kubeconfig(kubeconfig, "x"), LoopOptions(paths=[tmp_path], metrics_port=0))
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: loop.probes is not None, timeout=10, message="the probe server")
        assert loop.probes is not None and loop.probes._server.server_address[0] == "127.0.0.1"
    finally:
        loop.stop()
        thread.join(20)
    assert not thread.is_alive()


def test_validate_of_an_unreadable_policy_directory_is_exit_1_naming_it(tmp_path: Path, monkeypatch) -> None:
    """As root every directory is readable, so the failure is made where the loader lists it."""
    from click.testing import CliRunner

    from failsync.cli import main

    (tmp_path / "good.yaml").write_text(MINIMAL_POLICY.format(name="good"))
    hidden = tmp_path / "team-b"
    hidden.mkdir()
    (hidden / "theirs.yaml").write_text(MINIMAL_POLICY.format(name="theirs"))
    deny_to_the_loader(monkeypatch, hidden, "scandir")
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert f"{hidden}: cannot read this directory: Permission denied" in result.stderr
    assert "1 policy valid, 1 error" in result.stdout
