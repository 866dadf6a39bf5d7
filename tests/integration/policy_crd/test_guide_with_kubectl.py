"""The Linkerd failover guide with a FailoverPolicy applied by kubectl and `failsync run --source cluster`.

Covers (the real console script and the real kubectl against the sandbox, west and east with
emojivoto and east/web-svc exported, so west has web-svc-east): `kubectl apply -f` of the repository's
policies/emojivoto/web-svc-failover.yaml creates the guide's TrafficSplit (web-svc 1,
web-svc-east 0) owned by the FailoverPolicy; `kubectl wait --for=condition=Ready` returns;
`kubectl get fop` shows PRIMARY/ACTIVE/STATE; `failsync get` and `failsync status --source
cluster` list the live object with its state; `kubectl scale deploy/web --replicas=0` moves the
weights to web-svc-east with FailedOver=True (STATE FailedOver), `--replicas=1` brings them back
with FailedOver=False; `kubectl delete fop` has the API server's garbage collector delete the
TrafficSplit through its ownerReference; SIGTERM ends the loop with exit code 0.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import exit_code_after_sigterm, reaped, wait_for
from tests.integration.sync.conftest import ready_count
from tests.integration.sync.support import GUIDE_POLICIES, failsync, install_emojivoto, weights

SCRIPT = Path(sys.executable).parent / "failsync"
FOP = "failsync.io/v1alpha1"
TS = "split.smi-spec.io/v1alpha2"


@pytest.fixture(scope="module")
def guide(installed, sandbox):
    """The guide's two clusters: emojivoto in both, east/web-svc exported (the service mirror makes west/web-svc-east)."""
    install_emojivoto(sandbox["west"])
    install_emojivoto(sandbox["east"])
    sandbox.export("east", "emojivoto", "web-svc")
    wait_for(lambda: ready_count(sandbox["west"], "emojivoto", "web-svc-east") == 1, message="the mirror ready")
    return sandbox


def _conditions(west) -> dict[str, str]:
    obj = west.get(FOP, "FailoverPolicy", "emojivoto", "web-svc-failover") or {}
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or ()}


def _fop_row(kubectl) -> list[str]:
    listed = kubectl("--context", "west", "-n", "emojivoto", "get", "fop")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "PRIMARY", "ACTIVE", "STATE", "AGE"]
    return row.split()[:4]


def _scale(kubectl, replicas: int) -> None:
    done = kubectl("--context", "west", "-n", "emojivoto", "scale", "deploy/web", f"--replicas={replicas}")
    assert done.returncode == 0, done.stderr


def test_the_guide_with_a_failover_policy_applied_by_kubectl(guide, kubectl, tmp_path: Path) -> None:
    west, config = guide["west"], guide.kubeconfig
    log = (tmp_path / "run.log").open("w+")
    process = subprocess.Popen([str(SCRIPT), "--kubeconfig", str(config), "--context", "west", "run",
                                "--source", "cluster", "--metrics-port", "0"],
                               stdout=log, stderr=subprocess.STDOUT)
    with reaped(process):
        wait_for(lambda: "caches synced" in (tmp_path / "run.log").read_text(), timeout=20,
                 message="the loop's caches to sync")
        applied = kubectl("--context", "west", "apply", "-f", str(GUIDE_POLICIES / "web-svc-failover.yaml"))
        assert applied.returncode == 0, applied.stderr
        assert "failoverpolicy.failsync.io/web-svc-failover created" in applied.stdout

        # The guide's TrafficSplit, owned by the object.
        wait_for(lambda: weights(west) == {"web-svc": 1, "web-svc-east": 0}, timeout=10, message="the TrafficSplit")
        owner = west.get(FOP, "FailoverPolicy", "emojivoto", "web-svc-failover")
        split = west.get(TS, "TrafficSplit", "emojivoto", "web-svc-failover")
        assert [(o["kind"], o["uid"]) for o in split["metadata"]["ownerReferences"]] == \
            [("FailoverPolicy", owner["metadata"]["uid"])]
        waited = kubectl("--context", "west", "-n", "emojivoto", "wait", "--for=condition=Ready",
                         "fop/web-svc-failover", "--timeout=10s")
        assert waited.returncode == 0, waited.stderr
        assert _conditions(west) == {"Ready": "True", "FailedOver": "False", "Stalled": "False"}
        assert _fop_row(kubectl) == ["web-svc-failover", "web-svc", '["web-svc"]', "Primary"]
        got = failsync(config, "get")
        assert got.exit_code == 0, got.output
        assert got.output.splitlines()[1].split()[:5] == ["emojivoto", "web-svc-failover", "web-svc", "web-svc",
                                                         "Primary"]
        status = failsync(config, "status", "--source", "cluster")
        assert status.exit_code == 0, status.output
        header, row = status.stdout.splitlines()[:2]
        assert header.split()[:5] == ["NAMESPACE", "NAME", "TARGET", "STATE", "ACTIVE"]
        assert row.split()[:5] == ["emojivoto", "web-svc-failover", "TrafficSplit/v1alpha2", "primary", "web-svc"]

        # Scale web to 0 in west: traffic moves to east.
        _scale(kubectl, 0)
        wait_for(lambda: weights(west) == {"web-svc": 0, "web-svc-east": 1}, timeout=10, message="the failover")
        wait_for(lambda: _conditions(west).get("FailedOver") == "True", timeout=10, message="FailedOver=True")
        assert _conditions(west)["Ready"] == "True"
        assert _fop_row(kubectl) == ["web-svc-failover", "web-svc", '["web-svc-east"]', "FailedOver"]
        status = failsync(config, "status", "--source", "cluster", "-n", "emojivoto")
        assert status.stdout.splitlines()[1].split()[3:5] == ["failed-over", "web-svc-east"], status.output

        # And back.
        _scale(kubectl, 1)
        wait_for(lambda: weights(west) == {"web-svc": 1, "web-svc-east": 0}, timeout=10, message="the failback")
        wait_for(lambda: _conditions(west).get("FailedOver") == "False", timeout=10, message="FailedOver=False")
        assert _fop_row(kubectl) == ["web-svc-failover", "web-svc", '["web-svc"]', "Primary"]

        # Deleting the object deletes its TrafficSplit (garbage collection through the ownerReference).
        deleted = kubectl("--context", "west", "-n", "emojivoto", "delete", "fop", "web-svc-failover")
        assert deleted.returncode == 0, deleted.stderr
        wait_for(lambda: west.get(TS, "TrafficSplit", "emojivoto", "web-svc-failover") is None, timeout=10,
                 message="the TrafficSplit garbage-collected")
        assert exit_code_after_sigterm(process, timeout=30) == 0
    log.seek(0)
    output = log.read()
    assert "Traceback" not in output, output
