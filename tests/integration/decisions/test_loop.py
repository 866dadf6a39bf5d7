"""`failsync run` with the fields of SPEC §12, against the sandbox, with a clock the test moves.

Covers (no test sleeps through a delay or a hold: the loop's wall clock is injected):
- failover.delaySeconds: the primary going down is recorded (primary-unhealthy-since) and the
  weights stay; a restarted loop (a second replica) reads the state from the object and still
  waits; once the clock passes the delay traffic fails over;
- a pin set on the object with an expiry moves the traffic at once (never announced as a
  FailedOver of an unhealthy primary); once the clock passes its expiry the loop removes it
  (a PinExpired Event) and health decides again;
- minReadyPercent, gradual spillover and distribute each react to endpoint changes in the loop.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from failsync.core.pins import PIN_ANNOTATION, UNHEALTHY_SINCE_ANNOTATION, format_time
from tests.helpers import wait_for
from tests.integration.decisions.conftest import (FakeClock, annotations, backends, events, running,
                                                  set_endpoints, weights, write_policy)

SPLIT = "split.smi-spec.io/v1alpha2"
PRIMARY = {"web-svc": 1, "web-svc-east": 0, "web-svc-central": 0}
EAST = {"web-svc": 0, "web-svc-east": 1, "web-svc-central": 0}
CENTRAL = {"web-svc": 0, "web-svc-east": 0, "web-svc-central": 1}


@pytest.fixture
def ns(sandbox, namespace: str) -> str:
    west = sandbox["west"]
    backends(west, namespace)
    for service in ("web-svc", "web-svc-east", "web-svc-central"):
        set_endpoints(west, namespace, service, 10)
    return namespace


def test_delay_seconds_in_the_loop_survives_a_restart(sandbox, ns: str, tmp_path: Path) -> None:
    west = sandbox["west"]
    clock = FakeClock()
    policy = write_policy(tmp_path / "p.yaml", ns, "  failover:\n    delaySeconds: 3600\n")
    key = f"{ns}/web-svc-failover"
    with running(sandbox.kubeconfig, [policy], clock=clock):
        wait_for(lambda: weights(west, ns) == PRIMARY, timeout=10, message="the TrafficSplit created")
        set_endpoints(west, ns, "web-svc", 0)
        wait_for(lambda: UNHEALTHY_SINCE_ANNOTATION in annotations(west, ns), timeout=10,
                 message="the primary-unhealthy-since annotation")
        assert weights(west, ns) == PRIMARY
    clock.advance(1800)
    with running(sandbox.kubeconfig, [policy], clock=clock) as controller:  # a restart, half-way through
        wait_for(lambda: controller.metrics.reconciles.value(result="unchanged") >= 1, timeout=10,
                 message="the restarted loop's first reconcile")
        assert weights(west, ns) == PRIMARY, "the restarted loop read the delay's start from the object"
        clock.advance(1800)
        controller.queue.add(key)
        wait_for(lambda: weights(west, ns) == EAST, timeout=10, message="failover once the delay passed")


def test_a_pin_in_the_loop_moves_traffic_and_expires(sandbox, ns: str, tmp_path: Path) -> None:
    west = sandbox["west"]
    clock = FakeClock()
    policy = write_policy(tmp_path / "p.yaml", ns)
    with running(sandbox.kubeconfig, [policy], clock=clock) as controller:
        wait_for(lambda: weights(west, ns) == PRIMARY, timeout=10, message="the TrafficSplit created")
        obj = copy.deepcopy(west.get(SPLIT, "TrafficSplit", ns, "web-svc-failover"))
        obj["metadata"]["annotations"][PIN_ANNOTATION] = f"web-svc-central,until={format_time(clock.now + 600)}"
        west.apply(obj)  # as `kubectl annotate` would
        wait_for(lambda: weights(west, ns) == CENTRAL, timeout=10, message="the pin honoured")
        assert PIN_ANNOTATION in annotations(west, ns)
        clock.advance(601)
        controller.queue.add(f"{ns}/web-svc-failover")
        wait_for(lambda: weights(west, ns) == PRIMARY, timeout=10, message="health decides after the expiry")
        assert PIN_ANNOTATION not in annotations(west, ns)
        wait_for(lambda: events(west, ns, "PinExpired"), timeout=10, message="the PinExpired Event")
        # Events go out in order: one for applying the pin would have been posted before PinExpired.
        assert not events(west, ns, "FailedOver"), "a pin is not announced as a failover of an unhealthy primary"


@pytest.mark.parametrize("spec_extra, fallbacks, change, expected", [
    pytest.param("  health:\n    minReadyPercent: 50\n", "", ("web-svc", 4, 10), EAST, id="min-ready-percent"),
    pytest.param("  failover:\n    mode: gradual\n", "", ("web-svc", 6, 10),
                 {"web-svc": 84, "web-svc-east": 16, "web-svc-central": 0}, id="gradual"),
    pytest.param("  mode: distribute\n  primaryWeight: 2\n",
                 "    - service: web-svc-east\n    - service: web-svc-central\n      priority: 2\n",
                 ("web-svc", 0, 0), {"web-svc": 0, "web-svc-east": 3, "web-svc-central": 1}, id="distribute"),
])
def test_each_field_reacts_in_the_loop(sandbox, ns: str, tmp_path: Path, spec_extra: str, fallbacks: str,
                                       change: tuple, expected: dict) -> None:
    west = sandbox["west"]
    policy = write_policy(tmp_path / "p.yaml", ns, spec_extra, fallbacks=fallbacks)
    with running(sandbox.kubeconfig, [policy]):
        wait_for(lambda: weights(west, ns) is not None, timeout=10, message="the TrafficSplit created")
        set_endpoints(west, ns, *change)
        wait_for(lambda: weights(west, ns) == expected, timeout=10, message=f"weights {expected}")
