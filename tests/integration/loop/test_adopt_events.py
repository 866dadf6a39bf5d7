"""Drop-in mode: which changes of a hand-written TrafficSplit make ``run --adopt`` adopt it again.

Covers:
- a change of the weights only (someone's edit, or the echo of failsync's own patch putting them
  back) is not adopted again: the policy stands, the weights are put back;
- an edit of the primary annotation, or of the backends, is adopted at once and acted on;
- a hand-written object under a policy file of the same name is left alone while the file
  exists, and managed by adoption as soon as the file is removed (no edit of the object needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from failsync.core.model import LINKERD_PRIMARY_ANNOTATION, Origin
from tests.helpers import guide_traffic_split, wait_for
from tests.integration.loop.conftest import app, running, set_ready, traffic_split, weights, write_policy

KEY_NAME = "web-svc-failover"
LABELS = {"failover.linkerd.io/controlled-by": "linkerd-failover"}


def _edit(cluster: Any, namespace: str, change: Callable[[dict], None]) -> None:
    """Apply the live TrafficSplit with ``change`` made to it (as a user's kubectl edit would)."""
    obj = traffic_split(cluster, namespace)
    assert obj is not None
    change(obj)
    cluster.apply(obj)


def _caught_up(controller: Any, cluster: Any, namespace: str) -> bool:
    """Whether the loop's cache holds the TrafficSplit's current version (its watch event was handled)."""
    store = controller.store(controller.client.traffic_split_resource())
    live = traffic_split(cluster, namespace)
    return bool(store is not None and live is not None
                and store.version(f"{namespace}/{KEY_NAME}") == live["metadata"]["resourceVersion"])


def test_weight_changes_are_not_adopted_again_but_primary_and_backend_edits_are(
        sandbox, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    west.apply(guide_traffic_split(name=KEY_NAME, namespace=namespace, labels=LABELS))
    key = f"{namespace}/{KEY_NAME}"
    with running(sandbox.kubeconfig, [tmp_path / "no-policies"], adopt=True) as controller:
        wait_for(lambda: key in controller.policies, timeout=10)
        adoptions: list[str] = []
        adopt = controller.engine.adopted_policies

        def counted(snapshot: Any, *args: Any) -> Any:
            adoptions.extend(f"{ns}/{name}" for objects in snapshot.objects.values() for ns, name in objects)
            return adopt(snapshot, *args)

        controller.engine.adopted_policies = counted  # type: ignore[method-assign]

        def set_weights(obj: dict) -> None:
            for backend in obj["spec"]["backends"]:
                backend["weight"] = int(backend["service"] == "web-svc-east")

        _edit(west, namespace, set_weights)  # someone moves the traffic by hand: failsync puts it back
        wait_for(lambda: weights(west, namespace) == {"web-svc": 1, "web-svc-east": 0}, timeout=10)
        wait_for(lambda: _caught_up(controller, west, namespace), timeout=10)
        assert adoptions == [] and controller.policies[key].primary == "web-svc"

        def east_primary(obj: dict) -> None:
            obj["metadata"]["annotations"][LINKERD_PRIMARY_ANNOTATION] = "web-svc-east"

        _edit(west, namespace, east_primary)
        wait_for(lambda: weights(west, namespace) == {"web-svc": 0, "web-svc-east": 1}, timeout=10)
        assert controller.policies[key].primary == "web-svc-east" and key in adoptions

        west.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc-central", "namespace": namespace},
                    "spec": {"ports": [{"port": 80}]}})
        set_ready(west, namespace, "web-svc-central", 1)
        _edit(west, namespace, lambda obj: obj["spec"]["backends"].append({"service": "web-svc-central", "weight": 0}))
        wait_for(lambda: "web-svc-central" in controller.policies[key].services, timeout=10)
        app(west, namespace, replicas=0, east_ready=0)  # only the new backend is up: it takes the traffic
        wait_for(lambda: weights(west, namespace) == {"web-svc": 0, "web-svc-east": 0, "web-svc-central": 1},
                 timeout=10)


def test_an_object_under_a_policy_file_is_adopted_once_the_file_is_gone(sandbox, namespace, tmp_path: Path) -> None:
    west = sandbox["west"]
    app(west, namespace)
    west.apply(guide_traffic_split(name=KEY_NAME, namespace=namespace, labels=LABELS))
    policies = tmp_path / "policies"
    policies.mkdir()
    policy = write_policy(policies / "web.yaml", namespace, name=KEY_NAME)
    key = f"{namespace}/{KEY_NAME}"
    with running(sandbox.kubeconfig, [policies], adopt=True) as controller:
        wait_for(lambda: key in controller.policies, timeout=10)
        assert controller.policies[key].origin is Origin.FILE
        policy.unlink()
        wait_for(lambda: controller.policies.get(key) is not None
                 and controller.policies[key].origin is Origin.ADOPTED, timeout=10)
        app(west, namespace, replicas=0)  # web is down: the adopted policy fails it over
        wait_for(lambda: weights(west, namespace) == {"web-svc": 0, "web-svc-east": 1}, timeout=10)
    assert traffic_split(west, namespace)["metadata"]["labels"] == LABELS  # still the user's, not failsync's
