"""The read access docs/multicluster.md asks for in a remote cluster is enough (SPEC §11):
one-shot commands with get/list on EndpointSlices in the backends' namespaces only (also above
the cluster-wide LIST limit); the loop with exactly the ClusterRole of deploy/remote/rbac.yaml
(get/list/watch on EndpointSlices and Services): no request in east is refused, nothing is
ever written there, and each kind is watched cluster-wide (one watch, not one per namespace).
The manifest renders with kubectl's kustomize."""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from failsync.clusters import NAMESPACE_LIST_LIMIT
from failsync.sandbox import Sandbox
from tests.helpers import wait_for
from tests.integration.multicluster.support import mirror, policy_file, running, scene
from tests.integration.sync.support import deployment, failsync, weights

ONE_SHOT_RULE = {"verbs": ["get", "list"], "resources": ["endpointslices.discovery.k8s.io"],
                 "namespaces": ["rbac-one-shot"], "user": "failsync-reader"}
#: Rights in many backend namespaces, still per namespace (a Role in each): above NAMESPACE_LIST_LIMIT.
MANY_NAMESPACES = [f"rbac-many-{number}" for number in range(NAMESPACE_LIST_LIMIT + 1)]
MANY_RULE = {**ONE_SHOT_RULE, "namespaces": MANY_NAMESPACES, "user": "failsync-many"}
REMOTE_RBAC = Path(__file__).resolve().parents[3] / "deploy" / "remote"
KUBECTL = "/usr/bin/kubectl"


def manifest(kind: str) -> dict:
    (found,) = [doc for doc in yaml.safe_load_all((REMOTE_RBAC / "rbac.yaml").read_text()) if doc and doc["kind"] == kind]
    return found


def loop_rules() -> list[dict]:
    """deploy/remote/rbac.yaml's ClusterRole, in the sandbox's token-rights format, for its ServiceAccount."""
    account = manifest("ServiceAccount")["metadata"]
    return [{"verbs": list(rule["verbs"]), "user": f"system:serviceaccount:{account['namespace']}:{account['name']}",
             "resources": [f"{r}.{g}" if g else r for g in rule["apiGroups"] for r in rule["resources"]]}
            for rule in manifest("ClusterRole")["rules"]]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    tokens = {"admin-token": "*", "reader-token": [ONE_SHOT_RULE], "watcher-token": loop_rules(),
              "many-token": [MANY_RULE]}
    with Sandbox(clusters=("west", "east"), tokens=tokens) as running:
        yield running


def test_one_shot_needs_only_get_and_list_of_endpointslices_in_the_namespace(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=1, ns="rbac-one-shot")
    mirror(sandbox["west"], ns)
    reader = sandbox.kubeconfig_for("reader-token")
    path = policy_file(tmp_path, ns)
    result = failsync(sandbox.kubeconfig, "sync", "--cluster", f"east={reader}:east", str(path))
    assert result.exit_code == 0, result.output
    assert weights(sandbox["west"], ns) == {"web-svc": 0, "web-svc-east": 1}
    status = failsync(sandbox.kubeconfig, "status", "--cluster", f"east={reader}:east", str(path))
    assert next(line for line in status.output.splitlines() if line.startswith("east ")).endswith("yes")


def test_rights_per_namespace_are_enough_above_the_cluster_wide_list_limit(sandbox, tmp_path) -> None:
    namespaces = [scene(sandbox, west_web=0, east_web=1, ns=ns) for ns in MANY_NAMESPACES]
    for ns in namespaces:
        mirror(sandbox["west"], ns)
    many = sandbox.kubeconfig_for("many-token")
    paths = [str(policy_file(tmp_path, ns)) for ns in namespaces]
    result = failsync(sandbox.kubeconfig, "sync", "--cluster", f"east={many}:east", *paths)
    assert result.exit_code == 0, result.output
    assert all(weights(sandbox["west"], ns) == {"web-svc": 0, "web-svc-east": 1} for ns in namespaces)


def test_the_remote_manifest_binds_read_only_rights_and_renders_with_kustomize() -> None:
    role, binding, account = manifest("ClusterRole"), manifest("ClusterRoleBinding"), manifest("ServiceAccount")
    assert {verb for rule in role["rules"] for verb in rule["verbs"]} == {"get", "list", "watch"}
    assert {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]} == {
        ("discovery.k8s.io", "endpointslices"), ("", "services")}
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": account["metadata"]["namespace"]}]
    rendered = subprocess.run([KUBECTL, "kustomize", str(REMOTE_RBAC)], capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    assert sorted(doc["kind"] for doc in yaml.safe_load_all(rendered.stdout)) == sorted(
        ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"])


def test_the_loop_needs_get_list_watch_of_endpointslices_and_services(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=0)
    mirror(sandbox["west"], ns)
    first_request = len(sandbox["east"].requests)
    watcher = sandbox.kubeconfig_for("watcher-token")
    path = policy_file(tmp_path, ns)
    with running(sandbox, [path], cluster=f"east={watcher}:east", metrics_port=None) as controller:
        wait_for(lambda: weights(sandbox["west"], ns) == {"web-svc": 1, "web-svc-east": 0}, timeout=10,
                 message="the policy synced, east read")
        sandbox["east"].apply(deployment(ns, "web", "web", 1))
        wait_for(lambda: weights(sandbox["west"], ns) == {"web-svc": 0, "web-svc-east": 1}, timeout=10,
                 message="east's change seen through the watcher's rights")
        assert 'failsync_cluster_reachable{cluster="east"} 1' in controller.metrics.registry.expose()
        # Every HTTP request east served since the loop started is the loop's (the test writes in-process).
        made = [(r.verb, r.path, r.status) for r in list(sandbox["east"].requests)[first_request:]]
        assert made and not [m for m in made if m[2] in (401, 403)], made
        assert {verb for verb, _, _ in made} <= {"get", "list", "watch"}, made
        # Allowed cluster-wide, the loop lists and watches each kind once cluster-wide, not per namespace.
        assert not [m for m in made if m[0] in ("list", "watch") and "/namespaces/" in m[1]], made
