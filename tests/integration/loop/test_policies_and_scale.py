"""Policy files edited while the loop runs, and 1,000 policies.

Covers:
- an edited policy file takes effect (a new fallback appears in the TrafficSplit), an added file's
  policy is created;
- an invalid edit keeps the last good version in force (it still fails over as before) and the
  error is reported (logged, and exposed by the controller and the policy-errors metric);
- 1,000 policies converge after start, and the steady state makes zero writes over a resync period.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tests.helpers import wait_for
from tests.integration.loop.conftest import app, policy_text, running, set_ready, weights

FAILED_OVER = {"web-svc": 0, "web-svc-east": 1}


def _edit(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()  # a visible mtime change even within one file-system tick
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_policy_edits_take_effect_and_an_invalid_edit_keeps_the_last_good_version(
        sandbox, kubectl, namespace, tmp_path: Path, caplog) -> None:
    west = sandbox["west"]
    app(west, namespace)
    west.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc-central", "namespace": namespace},
                "spec": {"ports": [{"port": 80}]}})
    set_ready(west, namespace, "web-svc-central", 1)
    policy = tmp_path / "policies" / "web.yaml"
    policy.parent.mkdir()
    _edit(policy, policy_text(namespace))
    with running(sandbox.kubeconfig, [policy.parent]) as loop:
        wait_for(lambda: weights(west, namespace) == {"web-svc": 1, "web-svc-east": 0}, timeout=10)

        _edit(policy, policy_text(namespace, fallbacks=("web-svc-central", "web-svc-east")))
        wait_for(lambda: weights(west, namespace) == {"web-svc": 1, "web-svc-central": 0, "web-svc-east": 0},
                 timeout=10, message="the edit to take effect")
        (policy.parent / "api.yaml").write_text(policy_text(namespace, name="second"))
        wait_for(lambda: weights(west, namespace, "second") is not None, timeout=10, message="the added file")

        caplog.set_level(logging.ERROR, logger="failsync")
        _edit(policy, policy_text(namespace, fallbacks=("web-svc-east",)).replace("primary:", "primray:"))
        wait_for(lambda: loop.policy_errors, timeout=10, message="the invalid edit reported")
        assert "primray" in str(loop.policy_errors[0]) and str(policy) in str(loop.policy_errors[0])
        wait_for(lambda: any("primray" in r.getMessage() for r in caplog.records), timeout=5)
        assert loop.metrics.policy_errors.value() == 1
        # The last good version (with web-svc-central) still rules: losing the primary spreads the
        # traffic over both fallbacks of tier 1.
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=0").returncode == 0
        wait_for(lambda: weights(west, namespace) == {"web-svc": 0, "web-svc-central": 1, "web-svc-east": 1},
                 timeout=10, message="failover by the last good version")

        _edit(policy, policy_text(namespace))
        wait_for(lambda: weights(west, namespace) == FAILED_OVER, timeout=10, message="the fixed policy")
        assert loop.policy_errors == ()


def test_a_thousand_policies_converge_and_the_steady_state_writes_nothing(sandbox, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    count = 1000
    policy = tmp_path / "many.yaml"
    policy.write_text("---\n".join(policy_text(namespace, name=f"p{n}") for n in range(count)))
    with running(sandbox.kubeconfig, [policy], resync=1.0) as loop:
        def created() -> int:
            return int(loop.metrics.reconciles.value(result="created"))

        wait_for(lambda: created() == count, timeout=120, interval=0.2, message="1,000 TrafficSplits created")
        assert all(weights(west, namespace, f"p{n}") == {"web-svc": 1, "web-svc-east": 0} for n in range(count))
        wait_for(lambda: len(loop.queue) == 0 and loop.queue.in_flight == 0, timeout=60, interval=0.1)

        west.requests.clear()
        before = loop.metrics.reconciles.value(result="unchanged")
        # Two full resyncs pass (every policy reconciled twice more) ...
        wait_for(lambda: loop.metrics.reconciles.value(result="unchanged") >= before + 2 * count,
                 timeout=60, interval=0.1, message="two resync periods")
        # ... without a single write.
        writes = [r for r in list(west.requests) if r.method in ("POST", "PUT", "PATCH", "DELETE")]
        assert writes == []
