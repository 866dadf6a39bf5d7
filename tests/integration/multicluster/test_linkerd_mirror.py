"""The loop (``failsync run --cluster east=east``) against the sandbox's own Linkerd service mirror
(SPEC §11): mirrors made by exporting east's web-svc, a gateway stopped by scaling it to 0.

Covers: gateway mode, east's pods gone while the gateway is up (the mirror stays ready) -> the
loop moves traffic to the next tier, and back to east once east's pods return; east's pods up
but the gateway stopped (the mirror's endpoint unready) -> not healthy; remote-discovery mode
(no local endpoints at all) -> the loop fails over into east; the drop-in mode (--adopt of the
guide's TrafficSplit) reads the mirror in east too: it keeps traffic off a dead east the mirror
says is ready, and fails over once east has pods.
"""
from __future__ import annotations

from typing import Iterator

import pytest

from failsync.sandbox import Sandbox
from failsync.sandbox.service_mirror import GATEWAY_NAME, GATEWAY_NAMESPACE
from tests.helpers import guide_traffic_split, wait_for
from tests.integration.multicluster.support import (decided_with, export, policy_file, ready_mirror, running, scale,
                                                    scene)
from tests.integration.sync.support import deployment, weights

CENTRAL_TIERS = [{"service": "web-svc-east"}, {"service": "web-svc-central", "priority": 2}]
ON_EAST = {"web-svc": 0, "web-svc-east": 1, "web-svc-central": 0}
ON_CENTRAL = {"web-svc": 0, "web-svc-east": 0, "web-svc-central": 1}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(clusters=("west", "east"), mirror_mode="gateway") as running_sandbox:
        yield running_sandbox


def set_gateway(sandbox, replicas: int) -> None:
    """``kubectl --context east -n linkerd-multicluster scale deploy/linkerd-gateway --replicas=N``."""
    gateway = sandbox["east"].get("apps/v1", "Deployment", GATEWAY_NAMESPACE, GATEWAY_NAME)
    gateway["spec"]["replicas"] = replicas
    sandbox["east"].apply(gateway)


def test_gateway_mode_east_pods_gone_and_gateway_stopped_are_both_unhealthy(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=1, central=True)
    export(sandbox, ns)
    path = policy_file(tmp_path, ns, fallbacks=CENTRAL_TIERS)
    with running(sandbox, [path]):
        wait_for(lambda: weights(sandbox["west"], ns) == ON_EAST, timeout=10, message="traffic in east")
        scale(sandbox["east"], ns, "web", 0, "web-svc")
        wait_for(lambda: weights(sandbox["west"], ns) == ON_CENTRAL, timeout=10, message="traffic off a dead east")
        assert ready_mirror(sandbox, ns) == 1  # the mirror looked ready all along: linkerd-failover#175
        scale(sandbox["east"], ns, "web", 1, "web-svc")
        wait_for(lambda: weights(sandbox["west"], ns) == ON_EAST, timeout=10, message="back to east")
        set_gateway(sandbox, 0)
        try:
            wait_for(lambda: ready_mirror(sandbox, ns) == 0, message="the mirror's endpoint unready")
            wait_for(lambda: weights(sandbox["west"], ns) == ON_CENTRAL, timeout=10,
                     message="traffic off east while its gateway is down")
        finally:
            set_gateway(sandbox, 1)
        wait_for(lambda: ready_mirror(sandbox, ns) == 1, message="the gateway back")
        wait_for(lambda: weights(sandbox["west"], ns) == ON_EAST, timeout=10, message="east again")


def test_drop_in_adopt_reads_the_mirror_in_east(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=0)
    export(sandbox, ns)
    sandbox["west"].apply(guide_traffic_split(namespace=ns))
    with running(sandbox, [], adopt=True) as controller:
        # Both webs down; the mirror's endpoint is ready, yet east counts 0: the split stays on web-svc (keep).
        wait_for(lambda: decided_with(controller, f"{ns}/web-svc-failover", {"web-svc": 0, "web-svc-east": 0}),
                 timeout=10, message="the adopted split decided with east read")
        assert weights(sandbox["west"], ns) == {"web-svc": 1, "web-svc-east": 0}
        sandbox["east"].apply(deployment(ns, "web", "web", 1))
        wait_for(lambda: weights(sandbox["west"], ns) == {"web-svc": 0, "web-svc-east": 1}, timeout=10,
                 message="failover once east has a ready web pod")
        assert ready_mirror(sandbox, ns) == 1


def test_remote_discovery_fails_over_with_no_local_endpoints(tmp_path) -> None:
    with Sandbox(clusters=("west", "east"), mirror_mode="remote-discovery") as box:
        ns = scene(box, west_web=1, east_web=1)
        export(box, ns, ready=0)
        assert not [s for s in box["west"].list("discovery.k8s.io/v1", "EndpointSlice", ns)
                    if (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == "web-svc-east"]
        path = policy_file(tmp_path, ns)
        with running(box, [path]):
            wait_for(lambda: weights(box["west"], ns) == {"web-svc": 1, "web-svc-east": 0}, message="on web-svc")
            scale(box["west"], ns, "web", 0, "web-svc")
            wait_for(lambda: weights(box["west"], ns) == {"web-svc": 0, "web-svc-east": 1}, timeout=10,
                     message="failover into east through remote discovery")
            scale(box["east"], ns, "web", 0, "web-svc")
            scale(box["west"], ns, "web", 1, "web-svc")
            wait_for(lambda: weights(box["west"], ns) == {"web-svc": 1, "web-svc-east": 0}, timeout=10,
                     message="failback")
