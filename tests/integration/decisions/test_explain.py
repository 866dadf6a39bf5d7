"""`failsync explain POLICY` against the sandbox: inputs, state annotations, every rule in order.

Covers: ready and total endpoints per backend with healthy yes/no, live and desired weights;
the annotations carrying state (primary-unhealthy-since during a delay) and the pin; each rule
listed in order with whether it fired; "pending" when sync would write; -o json; an unknown
policy exits 2; explain writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from failsync.core.pins import PIN_ANNOTATION, UNHEALTHY_SINCE_ANNOTATION
from tests.integration.decisions.conftest import annotations, backends, failsync, set_endpoints, write_policy


def test_explain_shows_inputs_state_and_each_rule(sandbox, namespace: str, tmp_path: Path) -> None:
    west = sandbox["west"]
    backends(west, namespace)
    set_endpoints(west, namespace, "web-svc", 10)
    set_endpoints(west, namespace, "web-svc-east", 3, 4)
    set_endpoints(west, namespace, "web-svc-central", 1)
    policy = write_policy(tmp_path / "p.yaml", namespace,
                          "  health:\n    minReadyPercent: 50\n  failover:\n    delaySeconds: 600\n")
    assert failsync(sandbox.kubeconfig, "sync", str(policy)).exit_code == 0
    set_endpoints(west, namespace, "web-svc", 4, 10)
    assert failsync(sandbox.kubeconfig, "sync", str(policy)).exit_code == 0
    assert UNHEALTHY_SINCE_ANNOTATION in annotations(west, namespace)
    before = len(west.requests)

    result = failsync(sandbox.kubeconfig, "explain", f"{namespace}/web-svc-failover", "-f", str(policy))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert f"policy {namespace}/web-svc-failover ({policy}:4) on cluster west" in text
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.startswith("  web-svc")}
    assert rows["web-svc"][1:] == ["0", "4", "10", "no", "1", "1"]
    assert rows["web-svc-east"][1:] == ["1", "3", "4", "yes", "0", "0"]
    assert f"{UNHEALTHY_SINCE_ANNOTATION}=" in text
    assert "  1. health: FIRED" in text and "  2. pin: no - no pin" in text
    assert "  3. failover.delaySeconds: FIRED" in text
    assert "decision: failover-delayed" in text and "in sync" in text
    assert all(r.method == "GET" for r in list(west.requests)[before:]), "explain only reads"

    as_json = json.loads(failsync(sandbox.kubeconfig, "explain", "web-svc-failover", "-f", str(policy),
                                  "-o", "json").stdout)
    assert [r["rule"] for r in as_json["rules"]][:3] == ["health", "pin", "failover.delaySeconds"]
    assert as_json["backends"][0] == {"service": "web-svc", "priority": 0, "ready": 4, "total": 10, "healthy": False,
                                      "liveWeight": 1, "desiredWeight": 1}

    obj = west.get("split.smi-spec.io/v1alpha2", "TrafficSplit", namespace, "web-svc-failover")
    obj["metadata"]["annotations"][PIN_ANNOTATION] = "web-svc-central"
    west.apply(obj)
    pinned = failsync(sandbox.kubeconfig, "explain", "web-svc-failover", "-f", str(policy)).stdout
    assert f"{PIN_ANNOTATION}=web-svc-central" in pinned and "  2. pin: FIRED" in pinned
    assert "pending: sync would patch it (web-svc 1->0, web-svc-central 0->1)" in pinned

    unknown = failsync(sandbox.kubeconfig, "explain", "nope", "-f", str(policy))
    assert unknown.exit_code == 2 and "no policy 'nope'" in unknown.stderr
