"""``failsync run --cluster`` (SPEC §11): the loop watches east too, reacts to east's changes in west,
rides out a short east outage on last known health and stops trusting east after the grace.

Covers: east's pods gone while the gateway is up -> the loop moves traffic to the next tier;
a change in east queues only the policies it touches; an outage shorter than
remoteGraceSeconds changes nothing, a longer one makes east's backends unhealthy; the metric
failsync_cluster_reachable and the RemoteClusterUnreachable Event; local reactions go on
while east is down; the CLI's run --cluster validates like the one-shot commands.
"""
from __future__ import annotations

from typing import Iterable

from failsync.controller import Controller
from tests.helpers import guide_traffic_split, wait_for
from tests.integration.multicluster.support import mirror, policy_file, running, scale, scene
from tests.integration.sync.support import failsync, weights

CENTRAL_TIERS = [{"service": "web-svc-east"}, {"service": "web-svc-central", "priority": 2}]


def reachable_metric(controller: Controller) -> str:
    return next(line for line in controller.metrics.registry.expose().splitlines()
                if line.startswith('failsync_cluster_reachable{cluster="east"}'))


def reconciles_of(controller: Controller, key: str) -> list[str]:
    """From now on, each finished reconcile of ``key`` (appended once it has written, or not)."""
    finished: list[str] = []
    original = controller.reconciler.reconcile

    def counting(reconciled: str, since: float) -> None:
        original(reconciled, since)
        if reconciled == key:
            finished.append(reconciled)

    controller.reconciler.reconcile = counting  # type: ignore[method-assign]
    return finished


def queued(controller: Controller) -> list[str]:
    """From now on, every key the loop queues, one at a time or in a batch (a resync's)."""
    keys: list[str] = []
    add, add_all = controller.queue.add, controller.queue.add_all

    def adding(key: str, *, resync: bool = False) -> None:
        keys.append(key)
        add(key, resync=resync)

    def adding_all(batch: Iterable[str], *, resync: bool = False) -> None:
        batch = list(batch)
        keys.extend(batch)
        add_all(batch, resync=resync)

    controller.queue.add = adding  # type: ignore[method-assign]
    controller.queue.add_all = adding_all  # type: ignore[method-assign]
    return keys


def caught_up(sandbox, controller: Controller, ns: str, policy: str) -> None:
    """Wait until the loop's TrafficSplit watch has handled every event up to now, the echoes of the
    loop's own writes included (each queues its policy when it comes back before the writer cached its
    answer): one watch stream delivers in order, so once a TrafficSplit written now is in the cache,
    the events before it have been handled."""
    sandbox["west"].apply(guide_traffic_split(name="caught-up", namespace=ns))
    store = controller.caches.target_store(controller.policies[f"{ns}/{policy}"])
    wait_for(lambda: store is not None and f"{ns}/caught-up" in store, timeout=10,
             message="the loop's TrafficSplit watch caught up")


def events(sandbox, ns: str, reason: str) -> list[dict]:
    return [e for e in sandbox["west"].list("v1", "Event", ns) if e.get("reason") == reason]


def test_east_pods_gone_behind_a_live_gateway_moves_traffic_to_the_next_tier(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=1, central=True)
    mirror(sandbox["west"], ns)
    path = policy_file(tmp_path, ns, fallbacks=CENTRAL_TIERS)
    with running(sandbox, [path]):
        wait_for(lambda: weights(sandbox["west"], ns) == {"web-svc": 0, "web-svc-east": 1, "web-svc-central": 0},
                 timeout=10, message="traffic in east")
        scale(sandbox["east"], ns, "web", 0, "web-svc")  # west's mirror still looks ready
        wait_for(lambda: weights(sandbox["west"], ns) == {"web-svc": 0, "web-svc-east": 0, "web-svc-central": 1},
                 timeout=10, message="traffic moved off the dead east")


def test_a_change_in_east_queues_only_the_policies_it_touches(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=1, east_web=1)
    mirror(sandbox["west"], ns)
    mirrored = policy_file(tmp_path, ns)
    local = tmp_path / "local.yaml"
    local.write_text(mirrored.read_text().replace("web-svc-failover", "local-failover")
                     .replace("web-svc-east", "web-svc-standby"))
    with running(sandbox, [mirrored, local]) as controller:
        wait_for(lambda: weights(sandbox["west"], ns) and weights(sandbox["west"], ns, name="local-failover"),
                 timeout=10, message="both policies synced")
        caught_up(sandbox, controller, ns, "local-failover")  # the late echo of its write is no change in east
        added = queued(controller)
        scale(sandbox["east"], ns, "web", 2, "web-svc")
        wait_for(lambda: f"{ns}/web-svc-failover" in added, timeout=10, message="the mirrored policy queued")
        assert f"{ns}/local-failover" not in added


def test_an_outage_shorter_than_the_grace_changes_nothing(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=1, central=True)
    mirror(sandbox["west"], ns)
    path = policy_file(tmp_path, ns, fallbacks=CENTRAL_TIERS, grace=60)
    on_east = {"web-svc": 0, "web-svc-east": 1, "web-svc-central": 0}
    with running(sandbox, [path]) as controller:
        wait_for(lambda: weights(sandbox["west"], ns) == on_east, timeout=10, message="traffic in east")
        sandbox["east"].faults.error_rate("*", 1.0, 503)
        try:
            wait_for(lambda: reachable_metric(controller).endswith(" 0"), timeout=10, message="east unreachable")
            wait_for(lambda: events(sandbox, ns, "RemoteClusterUnreachable"), timeout=10, message="the Event")
            # While east is down the prober re-judges its policies: wait for reconciles that finished with
            # east known unreachable, so that a loop ignoring the grace would have written by now.
            finished = reconciles_of(controller, f"{ns}/web-svc-failover")
            wait_for(lambda: len(finished) >= 2, timeout=10, message="reconciles while east is unreachable")
            assert weights(sandbox["west"], ns) == on_east
        finally:
            sandbox["east"].faults.reset()
        wait_for(lambda: reachable_metric(controller).endswith(" 1"), timeout=10, message="east back")
        assert weights(sandbox["west"], ns) == on_east


def test_an_outage_longer_than_the_grace_makes_east_unhealthy_and_local_reactions_go_on(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=1, central=True)
    mirror(sandbox["west"], ns)
    path = policy_file(tmp_path, ns, fallbacks=CENTRAL_TIERS, grace=1)
    with running(sandbox, [path]):
        wait_for(lambda: weights(sandbox["west"], ns) == {"web-svc": 0, "web-svc-east": 1, "web-svc-central": 0},
                 timeout=10, message="traffic in east")
        sandbox["east"].faults.error_rate("*", 1.0, 503)
        try:
            wait_for(lambda: weights(sandbox["west"], ns) == {"web-svc": 0, "web-svc-east": 0, "web-svc-central": 1},
                     timeout=15, message="east unhealthy after the grace")
            scale(sandbox["west"], ns, "web", 1, "web-svc")  # a local reaction while east is down
            wait_for(lambda: weights(sandbox["west"], ns) == {"web-svc": 1, "web-svc-east": 0, "web-svc-central": 0},
                     timeout=10, message="failback to the local primary")
        finally:
            sandbox["east"].faults.reset()


def test_run_rejects_an_unknown_context_before_starting(sandbox, tmp_path) -> None:
    path = policy_file(tmp_path, "default")
    result = failsync(sandbox.kubeconfig, "run", "--cluster", "east=nope", str(path))
    assert result.exit_code == 2 and "--cluster east: context 'nope' not found" in result.output
