"""One-shot diff/sync/status with --cluster (SPEC §11) on the two-cluster sandbox: failsync reads a
mirrored backend's health in the cluster it mirrors, and never fails over into a dead cluster.

Covers: remote pods gone while the gateway is up -> not healthy (next tier, or whenAllDown);
without --cluster the mirror looks ready (the behaviour of linkerd-failover#175); gateway
stopped -> not healthy; remote-discovery mode with no local endpoints; a mirror of a cluster
failsync does not read falls back to local endpoints and says so; health.cluster in the policy;
an unknown cluster name, an unknown context, an unreadable file; one LIST per kind per cluster
whatever the number of policies (per namespace in east, cluster-wide above NAMESPACE_LIST_LIMIT); drop-in (--adopt) gets mirror awareness; status shows each cluster and whether it answers.
"""
from __future__ import annotations

import json

import pytest

from failsync.clusters import NAMESPACE_LIST_LIMIT
from tests.helpers import guide_traffic_split
from tests.integration.multicluster.support import mirror, policy_file, scale, scene
from tests.integration.sync.support import failsync, weights


def test_remote_pods_gone_with_the_gateway_up_fails_over_to_the_next_tier(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=0, central=True)
    mirror(sandbox["west"], ns)
    path = policy_file(tmp_path, ns, fallbacks=[{"service": "web-svc-east"},
                                                {"service": "web-svc-central", "priority": 2}])
    # Without the east cluster, the mirror's gateway address looks ready: the trap of linkerd-failover#175.
    blind = failsync(sandbox.kubeconfig, "diff", "-o", "json", str(path))
    assert json.loads(blind.output)["objects"][0]["desiredWeights"]["web-svc-east"] == 1
    result = failsync(sandbox.kubeconfig, "sync", "--cluster", "east=east", str(path))
    assert result.exit_code == 0, result.output
    assert weights(sandbox["west"], ns) == {"web-svc": 0, "web-svc-east": 0, "web-svc-central": 1}
    status = failsync(sandbox.kubeconfig, "status", "-o", "json", "--cluster", "east=east", str(path))
    (obj,) = json.loads(status.output)["objects"]
    assert "web-svc-east: 0 ready in east, gateway up" in obj["reason"]


def test_remote_pods_gone_with_nothing_else_keeps_traffic_where_when_all_down_says(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=1, east_web=0)
    mirror(sandbox["west"], ns)
    path = policy_file(tmp_path, ns)
    assert failsync(sandbox.kubeconfig, "sync", "--cluster", "east=east", str(path)).exit_code == 0
    scale(sandbox["west"], ns, "web", 0, "web-svc")
    result = failsync(sandbox.kubeconfig, "sync", "--cluster", "east=east", str(path))
    assert result.exit_code == 0, result.output
    assert weights(sandbox["west"], ns) == {"web-svc": 1, "web-svc-east": 0}  # keep: never into a dead east
    zero = policy_file(tmp_path, ns, when_all_down="zero")
    assert failsync(sandbox.kubeconfig, "sync", "--cluster", "east=east", str(zero)).exit_code == 0
    assert weights(sandbox["west"], ns) == {"web-svc": 0, "web-svc-east": 0}


def test_remote_pods_ready_fail_over_into_east(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=2)
    mirror(sandbox["west"], ns)
    path = policy_file(tmp_path, ns)
    result = failsync(sandbox.kubeconfig, "diff", "-o", "json", "--cluster", "east=east", str(path))
    (obj,) = json.loads(result.output)["objects"]
    assert obj["desiredWeights"] == {"web-svc": 0, "web-svc-east": 1}
    assert "web-svc-east: 2 ready in east, gateway up" in obj["reason"]


def test_gateway_stopped_is_not_healthy_even_with_remote_pods_ready(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=1)
    mirror(sandbox["west"], ns, gateway_up=False)
    path = policy_file(tmp_path, ns, when_all_down="zero")
    result = failsync(sandbox.kubeconfig, "diff", "-o", "json", "--cluster", "east=east", str(path))
    (obj,) = json.loads(result.output)["objects"]
    assert obj["desiredWeights"] == {"web-svc": 0, "web-svc-east": 0}
    assert "web-svc-east: 1 ready in east, gateway down (0 of 1 local endpoints ready)" in obj["reason"]


def test_remote_discovery_fails_over_with_no_local_endpoints(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=1)
    mirror(sandbox["west"], ns, mode="remote-discovery")
    path = policy_file(tmp_path, ns)
    # Without east, a remote-discovery mirror has no endpoints and never looks ready.
    blind = json.loads(failsync(sandbox.kubeconfig, "diff", "-o", "json", str(path)).output)
    assert blind["objects"][0]["rule"] == "all-down-keep"
    result = failsync(sandbox.kubeconfig, "sync", "--cluster", "east=east", str(path))
    assert result.exit_code == 0, result.output
    assert weights(sandbox["west"], ns) == {"web-svc": 0, "web-svc-east": 1}
    status = json.loads(failsync(sandbox.kubeconfig, "status", "-o", "json", "--cluster", "east=east",
                                 str(path)).output)
    assert "web-svc-east: 1 ready in east, remote discovery" in status["objects"][0]["reason"]


def test_a_mirror_of_a_cluster_failsync_does_not_read_uses_local_endpoints_and_says_so(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=0)
    mirror(sandbox["west"], ns, source_cluster="central")
    path = policy_file(tmp_path, ns)
    result = failsync(sandbox.kubeconfig, "diff", "-o", "json", "--cluster", "east=east", str(path))
    (obj,) = json.loads(result.output)["objects"]
    assert obj["desiredWeights"] == {"web-svc": 0, "web-svc-east": 1}
    assert ("web-svc-east: a mirror of cluster central, which failsync does not read (add --cluster "
            "central=CONTEXT); using its local endpoints (1 ready)") in obj["reason"]


def test_policy_health_cluster_reads_the_named_service_without_mirror_labels(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=0)
    sandbox["west"].apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc-east", "namespace": ns},
                           "spec": {"ports": [{"name": "http", "port": 80}]}})
    path = policy_file(tmp_path, ns, fallbacks=[{"service": "web-svc-east",
                                                 "health": {"cluster": "east", "service": "web-svc"}}])
    result = failsync(sandbox.kubeconfig, "diff", "-o", "json", "--cluster", "east=east", str(path))
    (obj,) = json.loads(result.output)["objects"]
    assert obj["rule"] == "all-down-keep" and "web-svc-east: 0 ready in east, no local endpoints" in obj["reason"]
    scale(sandbox["east"], ns, "web", 1, "web-svc")
    result = failsync(sandbox.kubeconfig, "diff", "-o", "json", "--cluster", "east=east", str(path))
    assert json.loads(result.output)["objects"][0]["desiredWeights"] == {"web-svc": 0, "web-svc-east": 1}


def test_an_unknown_cluster_name_fails_that_policy_naming_the_known_ones(sandbox, tmp_path) -> None:
    ns = scene(sandbox)
    path = policy_file(tmp_path, ns, fallbacks=[{"service": "web-svc-east", "health": {"cluster": "esat"}}])
    result = failsync(sandbox.kubeconfig, "sync", "--cluster", "east=east", str(path))
    assert result.exit_code == 2
    assert (f"{ns}/web-svc-failover: backend web-svc-east: health.cluster 'esat' is not a cluster failsync reads; "
            f"known clusters: east") in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("value", "says"), [
    ("east=nope", "--cluster east: context 'nope' not found in kubeconfig"),
    ("east=/no/such/kubeconfig.yaml:east", "cannot read kubeconfig file /no/such/kubeconfig.yaml: no such file"),
    ("East=east", "the name 'East' is not a DNS-1123 label"),
    ("east", "expected --cluster NAME=CONTEXT or NAME=KUBECONFIG_FILE:CONTEXT"),
])
def test_bad_cluster_options_are_clear_errors(sandbox, tmp_path, value: str, says: str) -> None:
    path = policy_file(tmp_path, "default")
    for command in ("diff", "sync", "status"):
        result = failsync(sandbox.kubeconfig, command, "--cluster", value, str(path))
        assert result.exit_code == 2, (command, result.output)
        assert says in result.output and "Traceback" not in result.output


def test_a_kubeconfig_file_per_cluster(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=1)
    mirror(sandbox["west"], ns, mode="remote-discovery")
    east_only = tmp_path / "east-kubeconfig.yaml"
    east_only.write_text(sandbox.kubeconfig.read_text())
    path = policy_file(tmp_path, ns)
    result = failsync(sandbox.kubeconfig, "diff", "-o", "json", "--cluster", f"east={east_only}:east", str(path))
    assert json.loads(result.output)["objects"][0]["desiredWeights"] == {"web-svc": 0, "web-svc-east": 1}


def lists_during(sandbox, command: list[str]) -> dict[str, list[str]]:
    """The LIST paths each cluster served while ``failsync COMMAND`` ran."""
    before = {name: len(sandbox[name].requests) for name in ("west", "east")}
    failsync(sandbox.kubeconfig, *command)
    return {name: [r.path for r in sandbox[name].requests[before[name]:] if r.verb == "list"]
            for name in ("west", "east")}


def test_one_list_per_kind_per_cluster_whatever_the_number_of_policies(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=1)
    mirror(sandbox["west"], ns)
    first = policy_file(tmp_path, ns)
    paths = [str(first)]
    for number in range(1, 5):
        other = tmp_path / f"{ns}-{number}.yaml"
        other.write_text(first.read_text().replace("web-svc-failover", f"web-svc-failover-{number}"))
        paths.append(str(other))
    for command in ("diff", "sync", "status"):
        lists = lists_during(sandbox, [command, "--cluster", "east=east", *paths])
        assert lists["east"] == [f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"], command
        assert len(lists["west"]) == len(set(lists["west"])) == 3, (command, lists["west"])  # splits, slices, services


def test_backends_in_several_namespaces_one_list_per_namespace_then_one_cluster_wide(sandbox, tmp_path) -> None:
    namespaces = [scene(sandbox, west_web=0, east_web=1) for _ in range(NAMESPACE_LIST_LIMIT + 1)]
    for ns in namespaces:
        mirror(sandbox["west"], ns)
    paths = [str(policy_file(tmp_path, ns)) for ns in namespaces]
    few = lists_during(sandbox, ["diff", "--cluster", "east=east", *paths[:3]])["east"]
    assert sorted(few) == sorted(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices" for ns in namespaces[:3])
    many = lists_during(sandbox, ["diff", "--cluster", "east=east", *paths])["east"]
    assert many == ["/apis/discovery.k8s.io/v1/endpointslices"]
    result = failsync(sandbox.kubeconfig, "diff", "-o", "json", "--cluster", "east=east", *paths)
    assert all(o["desiredWeights"] == {"web-svc": 0, "web-svc-east": 1} for o in json.loads(result.output)["objects"])


def test_drop_in_adopt_gets_mirror_awareness(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=0, east_web=0)
    mirror(sandbox["west"], ns)
    sandbox["west"].apply(guide_traffic_split(namespace=ns))
    result = failsync(sandbox.kubeconfig, "diff", "--adopt", "-o", "json", "--cluster", "east=east")
    (obj,) = [o for o in json.loads(result.output)["objects"] if o["namespace"] == ns]
    assert obj["desiredWeights"]["web-svc-east"] == 0
    assert "web-svc-east: 0 ready in east, gateway up" in obj["reason"]


def test_status_shows_each_cluster_and_whether_it_answers(sandbox, tmp_path) -> None:
    ns = scene(sandbox, west_web=1, east_web=1)
    mirror(sandbox["west"], ns)
    path = policy_file(tmp_path, ns)
    table = failsync(sandbox.kubeconfig, "status", "--cluster", "east=east", str(path))
    assert table.exit_code == 0, table.output
    line = next(line for line in table.output.splitlines() if line.startswith("east "))
    assert line.split()[1:2] == ["east"] and line.endswith("yes")
    sandbox["east"].faults.error_rate("*", 1.0, 503)
    try:
        down = failsync(sandbox.kubeconfig, "status", "-o", "json", "--cluster", "east=east", str(path))
    finally:
        sandbox["east"].faults.reset()
    body = json.loads(down.stdout)
    (cluster,) = body["clusters"]
    assert cluster["name"] == "east" and cluster["reachable"] is False and "503" in cluster["problem"]
