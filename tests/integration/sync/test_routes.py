"""The guide's failover with Gateway API routes as the target, from one-shot commands.

Covers:
- an HTTPRoute policy (policy file): `sync` creates the GAMMA route (parent: the apex Service
  at the port; one rule, primary first) with failsync's marks; `diff` is then empty; `kubectl
  scale deploy/web --replicas=0` moves the weight to web-svc-east, scaling back returns it;
  a converged `sync` writes nothing;
- `inactiveBackends: omit` leaves idle backends out of the rule and brings them back;
- drop-in for routes (`--adopt-routes`) on a hand-written multi-rule HTTPRoute with matches,
  filters and timeouts: only the weights of the rules naming the policy's backends change;
  everything else, other labels and annotations included, stays exactly as written;
- a policy moving from a TrafficSplit to an HTTPRoute: the route is created and the old
  TrafficSplit is reported as left in place; `sync --prune` deletes it;
- a cluster without the Gateway API CRDs (hidden by a proxy, or the GRPCRoute CRD deleted
  through the API): the route policy fails with the install hint while a TrafficSplit policy
  beside it still syncs (exit 2);
- a GRPCRoute policy fails over and back; its rule carries no match and the server adds none;
- `status` shows whether the mesh accepted each route (ACCEPTED column, JSON) and warns when no
  parent did (the sandbox's mesh simulator sets the conditions).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

from tests.helpers import wait_for
from tests.integration.sync.conftest import ready_count
from tests.integration.sync.support import FilteringProxy, failsync, policy_document, weights, writes

ROUTE_VERSION = "gateway.networking.k8s.io/v1"
HAND_WRITTEN = Path(__file__).resolve().parents[2] / "fixtures" / "hand-written-httproute.yaml"


def route_policy(name: str, *, inactive: str | None = None, kind: str = "HTTPRoute") -> str:
    target = {"kind": kind, "apiVersion": ROUTE_VERSION, "port": 80}
    if inactive:
        target["inactiveBackends"] = inactive
    return yaml.safe_dump({
        "apiVersion": "failsync.io/v1alpha1", "kind": "FailoverPolicy",
        "metadata": {"name": name, "namespace": "emojivoto"},
        "spec": {"service": "web-svc", "fallbacks": [{"service": "web-svc-east"}], "target": target},
    })


def route_weights(cluster, name: str, rule: int = 0) -> dict[str, int] | None:
    route = cluster.get(ROUTE_VERSION, "HTTPRoute", "emojivoto", name)
    if route is None:
        return None
    return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][rule]["backendRefs"]}


def scale(kubectl, replicas: int) -> None:
    code, _, err = kubectl("--context", "west", "-n", "emojivoto", "scale", "deploy/web", f"--replicas={replicas}")
    assert code == 0, err


def web_down(guide, kubectl) -> None:
    scale(kubectl, 0)
    wait_for(lambda: ready_count(guide["west"], "emojivoto", "web-svc") == 0, message="web-svc emptied")


def web_up(guide, kubectl) -> None:
    scale(kubectl, 1)
    wait_for(lambda: ready_count(guide["west"], "emojivoto", "web-svc") == 1, message="web-svc ready")


def test_httproute_policy_fails_over_and_back(guide, kubectl, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    policy = tmp_path / "route.yaml"
    policy.write_text(route_policy("web-route-failover"))

    created = failsync(config, "sync", str(policy))
    assert created.exit_code == 0, created.output
    assert "HTTPRoute emojivoto/web-route-failover: created" in created.stdout
    route = west.get(ROUTE_VERSION, "HTTPRoute", "emojivoto", "web-route-failover")
    assert route["spec"]["parentRefs"] == [{"group": "", "kind": "Service", "name": "web-svc", "port": 80}]
    assert route["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "failsync"
    assert route["metadata"]["annotations"]["failsync.io/policy"] == "emojivoto/web-route-failover"
    assert route_weights(west, "web-route-failover") == {"web-svc": 1, "web-svc-east": 0}
    assert failsync(config, "diff", str(policy)).exit_code == 0

    west.requests.clear()
    converged = failsync(config, "sync", str(policy))
    assert converged.exit_code == 0 and not writes(west), converged.output

    try:
        web_down(guide, kubectl)
        pending = failsync(config, "diff", str(policy))
        assert pending.exit_code == 1 and "weight: 0" in pending.stdout, pending.output
        assert failsync(config, "sync", str(policy)).exit_code == 0
        assert route_weights(west, "web-route-failover") == {"web-svc": 0, "web-svc-east": 1}
        status = failsync(config, "status", str(policy))
        assert "failed-over" in status.stdout and "HTTPRoute/v1" in status.stdout, status.output
    finally:
        web_up(guide, kubectl)
    assert failsync(config, "sync", str(policy)).exit_code == 0
    assert route_weights(west, "web-route-failover") == {"web-svc": 1, "web-svc-east": 0}


def test_omit_leaves_idle_backends_out_and_brings_them_back(guide, kubectl, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    policy = tmp_path / "omit.yaml"
    policy.write_text(route_policy("web-omit", inactive="omit"))
    assert failsync(config, "sync", str(policy)).exit_code == 0
    assert route_weights(west, "web-omit") == {"web-svc": 1}
    try:
        web_down(guide, kubectl)
        assert failsync(config, "sync", str(policy)).exit_code == 0
        assert route_weights(west, "web-omit") == {"web-svc-east": 1}
    finally:
        web_up(guide, kubectl)
    assert failsync(config, "sync", str(policy)).exit_code == 0
    assert route_weights(west, "web-omit") == {"web-svc": 1}


def _without_weights(route: dict) -> dict:
    route = copy.deepcopy(route)
    for rule in route["spec"]["rules"]:
        for ref in rule["backendRefs"]:
            ref.pop("weight", None)
    for key in ("resourceVersion", "generation", "managedFields"):
        route["metadata"].pop(key, None)
    route.pop("status", None)  # the mesh's (observedGeneration follows the weight change)
    return route


def test_adopt_routes_changes_only_the_weights_of_a_hand_written_route(guide, kubectl, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    west.apply(yaml.safe_load(HAND_WRITTEN.read_text()))
    before = west.get(ROUTE_VERSION, "HTTPRoute", "emojivoto", "web-route")
    empty = tmp_path / "none"
    empty.mkdir()
    try:
        in_sync = failsync(config, "diff", "--adopt-routes", str(empty))
        assert in_sync.exit_code == 0, in_sync.output
        web_down(guide, kubectl)
        synced = failsync(config, "sync", "--adopt-routes", str(empty))
        assert synced.exit_code == 0, synced.output
        assert "HTTPRoute emojivoto/web-route: patched" in synced.stdout
        after = west.get(ROUTE_VERSION, "HTTPRoute", "emojivoto", "web-route")
        assert route_weights(west, "web-route", 0) == {"web-svc": 0, "web-svc-east": 1}
        assert route_weights(west, "web-route", 2) == {"web-svc": 0, "web-svc-east": 1}
        assert route_weights(west, "web-route", 1) == route_weights(west, "web-route", 1) == {"emoji-svc": 1}
        assert _without_weights(after) == _without_weights(before)
        assert after["metadata"]["labels"] == before["metadata"]["labels"]  # no failsync marks added
    finally:
        web_up(guide, kubectl)
    assert failsync(config, "sync", "--adopt-routes", str(empty)).exit_code == 0
    assert route_weights(west, "web-route", 0) == {"web-svc": 1, "web-svc-east": 0}
    west.delete(ROUTE_VERSION, "HTTPRoute", "emojivoto", "web-route")


def test_policy_moving_to_a_route_leaves_the_old_split_until_prune(guide, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    policy = tmp_path / "moving.yaml"
    policy.write_text(policy_document("emojivoto", "web-moving"))
    assert failsync(config, "sync", str(policy)).exit_code == 0
    assert weights(west, name="web-moving") == {"web-svc": 1, "web-svc-east": 0}

    policy.write_text(route_policy("web-moving"))
    moved = failsync(config, "sync", str(policy))
    assert moved.exit_code == 0, moved.output
    assert "HTTPRoute emojivoto/web-moving: created" in moved.stdout
    assert "left in place (sync --prune deletes it)" in moved.stdout
    assert weights(west, name="web-moving") is not None

    pruned = failsync(config, "sync", "--prune", str(policy))
    assert pruned.exit_code == 0, pruned.output
    assert "emojivoto/web-moving: pruned" in pruned.stdout and "now renders an HTTPRoute" in pruned.stdout
    assert weights(west, name="web-moving") is None
    assert route_weights(west, "web-moving") == {"web-svc": 1, "web-svc-east": 0}


def test_route_policy_without_gateway_api_crds_fails_alone(guide, tmp_path) -> None:
    policies = tmp_path / "mixed"
    policies.mkdir()
    (policies / "route.yaml").write_text(route_policy("web-no-crd"))
    (policies / "split.yaml").write_text(policy_document("emojivoto", "web-split-beside"))
    with FilteringProxy(guide["west"].url, hide_groups=["gateway.networking.k8s.io"]) as proxy:
        result = failsync(proxy.kubeconfig(tmp_path), "sync", str(policies))
    assert result.exit_code == 2, result.output
    assert "the HTTPRoute CRD is missing; install the Gateway API CRDs" in result.output
    assert weights(guide["west"], name="web-split-beside") == {"web-svc": 1, "web-svc-east": 0}


def test_status_says_whether_the_mesh_accepted_each_route(guide, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    accepted = tmp_path / "accepted.yaml"
    accepted.write_text(route_policy("web-accepted"))
    assert failsync(config, "sync", str(accepted)).exit_code == 0
    route = wait_for(lambda: (west.get(ROUTE_VERSION, "HTTPRoute", "emojivoto", "web-accepted") or {}).get("status"),
                     message="the mesh simulator wrote the route's status")
    (parent,) = route["parents"]
    assert parent["controllerName"] == "linkerd.io/policy-controller"
    assert {c["type"]: c["status"] for c in parent["conditions"]} == {"Accepted": "True", "ResolvedRefs": "True"}

    shown = failsync(config, "status", str(accepted))
    assert shown.exit_code == 0, shown.output
    header, row = shown.stdout.splitlines()[:2]
    assert header.split()[-1] == "ACCEPTED" and row.split()[-1] == "yes", shown.stdout
    assert "the mesh ignores this route" not in shown.output
    as_json = json.loads(failsync(config, "status", "-o", "json", str(accepted)).stdout)
    assert as_json["objects"][0]["routeAccepted"] is True

    # A parent Service the mesh cannot find: the route is not accepted, and status warns.
    orphan = tmp_path / "orphan.yaml"
    orphan.write_text(route_policy("web-orphan").replace("service: web-svc\n", "service: no-such-svc\n", 1))
    assert failsync(config, "sync", str(orphan)).exit_code == 0
    wait_for(lambda: (west.get(ROUTE_VERSION, "HTTPRoute", "emojivoto", "web-orphan") or {}).get("status"),
             message="the mesh simulator wrote the orphan route's status")
    warned = failsync(config, "status", str(orphan))
    assert warned.stdout.splitlines()[1].split()[-1] == "no", warned.stdout
    assert ("warning: HTTPRoute emojivoto/web-orphan: no parent has Accepted=True and ResolvedRefs=True: "
            "Service no-such-svc: Accepted=False (NoMatchingParent)") in warned.stderr
    assert "the mesh ignores this route, so failover changes nothing" in warned.stderr


def test_grpcroute_policy_fails_over_and_back(guide, kubectl, tmp_path) -> None:
    west, config = guide["west"], guide.kubeconfig
    policy = tmp_path / "grpc.yaml"
    policy.write_text(route_policy("web-grpc", kind="GRPCRoute"))

    def grpc_weights() -> dict[str, int]:
        route = west.get(ROUTE_VERSION, "GRPCRoute", "emojivoto", "web-grpc")
        return {ref["name"]: ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]}

    created = failsync(config, "sync", str(policy))
    assert created.exit_code == 0 and "GRPCRoute emojivoto/web-grpc: created" in created.stdout, created.output
    assert grpc_weights() == {"web-svc": 1, "web-svc-east": 0}
    assert "matches" not in west.get(ROUTE_VERSION, "GRPCRoute", "emojivoto", "web-grpc")["spec"]["rules"][0]
    assert failsync(config, "diff", str(policy)).exit_code == 0  # the server added no default: no drift
    try:
        web_down(guide, kubectl)
        assert failsync(config, "sync", str(policy)).exit_code == 0
        assert grpc_weights() == {"web-svc": 0, "web-svc-east": 1}
    finally:
        web_up(guide, kubectl)
    assert failsync(config, "sync", str(policy)).exit_code == 0
    assert grpc_weights() == {"web-svc": 1, "web-svc-east": 0}


def test_deleting_the_route_crd_fails_route_policies_alone(guide, kubectl, tmp_path) -> None:
    """The real "CRD missing" case: the GRPCRoute CRD deleted through the API, then restored."""
    policies = tmp_path / "mixed"
    policies.mkdir()
    (policies / "grpc.yaml").write_text(route_policy("web-grpc-gone", kind="GRPCRoute"))
    (policies / "split.yaml").write_text(policy_document("emojivoto", "web-split-stays"))
    crd_name = "grpcroutes.gateway.networking.k8s.io"
    code, saved, err = kubectl("--context", "west", "get", "crd", crd_name, "-o", "json")
    assert code == 0, err
    assert kubectl("--context", "west", "delete", "crd", crd_name)[0] == 0
    try:
        wait_for(lambda: kubectl("--context", "west", "get", "grpcroutes", "-A")[0] != 0,
                 message="GRPCRoute no longer served")
        result = failsync(guide.kubeconfig, "sync", str(policies))
        assert result.exit_code == 2, result.output
        assert "the GRPCRoute CRD is missing; install the Gateway API CRDs" in result.output
        assert weights(guide["west"], name="web-split-stays") == {"web-svc": 1, "web-svc-east": 0}
    finally:
        restored = json.loads(saved)
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            restored["metadata"].pop(key, None)
        restored.pop("status", None)
        assert kubectl("--context", "west", "create", "-f", "-", input=json.dumps(restored))[0] == 0
        wait_for(lambda: kubectl("--context", "west", "get", "grpcroutes", "-A")[0] == 0,
                 message="GRPCRoute served again")
