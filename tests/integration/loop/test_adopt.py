"""Drop-in mode: ``failsync run --adopt`` manages the guide's hand-written TrafficSplit by itself.

Covers:
- the guide's TrafficSplit applied with kubectl, no policy files at all: scaling web to zero
  moves the weight to web-svc-east and back, writing only the weights (labels and annotations
  stay as the user wrote them);
- a TrafficSplit without the controlled-by label is left alone.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.helpers import guide_traffic_split, wait_for
from tests.integration.loop.conftest import app, running, traffic_split, weights, writes_to_traffic_splits


def test_adopt_fails_the_guides_traffic_split_over_and_back(sandbox, kubectl, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    for name, labels in (("web-svc-failover", {"failover.linkerd.io/controlled-by": "linkerd-failover"}),
                         ("not-mine", {"team": "web"})):
        split = guide_traffic_split(name=name, namespace=namespace, labels=labels)
        applied = kubectl("apply", "-f", "-", input=yaml.safe_dump(split))
        assert applied.returncode == 0, applied.stderr
    with running(sandbox.kubeconfig, [tmp_path / "no-policies"], adopt=True):
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=0").returncode == 0
        wait_for(lambda: weights(west, namespace) == {"web-svc": 0, "web-svc-east": 1}, timeout=10)
        assert kubectl("-n", namespace, "scale", "deploy/web", "--replicas=1").returncode == 0
        wait_for(lambda: weights(west, namespace) == {"web-svc": 1, "web-svc-east": 0}, timeout=10)
    metadata = traffic_split(west, namespace)["metadata"]
    assert metadata["labels"] == {"failover.linkerd.io/controlled-by": "linkerd-failover"}
    assert set(metadata.get("annotations") or {}) <= {"failover.linkerd.io/primary-service",
                                                       "kubectl.kubernetes.io/last-applied-configuration"}
    assert weights(west, namespace, "not-mine") == {"web-svc": 1, "web-svc-east": 0}
    assert not [r for r in writes_to_traffic_splits(west) if r.path.endswith("/not-mine")]
