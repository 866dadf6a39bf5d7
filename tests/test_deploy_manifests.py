"""The manifests under deploy/ are valid and grant exactly what failsync uses.

Covers:
- every file parses; the kustomization lists every manifest; the bindings tie the
  ClusterRole and the leader-election Role to the Deployment's ServiceAccount;
- the Deployment runs `failsync run --adopt --leader-elect` with 2 replicas, the Lease in
  its own namespace (the Role's), the policies from the ConfigMap mounted where the
  command reads them, /healthz and /readyz probes on the metrics port;
- the ConfigMap's policies load cleanly from a kubelet-style volume (`..data` symlinks);
- the strong form: a sandbox whose only token has exactly the rules of the ClusterRole and
  Role (namespaces and resourceNames included) serves `failsync sync --adopt` (with a
  conflict, so the re-read happens) and the Deployment's own `failsync run` command through
  a failover and a failback and a SIGTERM (with deploy/crd.yaml installed, a FailoverPolicy
  object fails over too and gets its status): no request is refused (401/403), and every
  (verb, resource) the roles grant was used at least once.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from failsync.cli import main
from failsync.demo import emojivoto
from failsync.loading import load_policies
from failsync.sandbox import Sandbox
from failsync.sandbox import routing
from tests.helpers import exit_code_after_sigterm, guide_traffic_split, reaped, wait_for

REPOSITORY = Path(__file__).resolve().parent.parent
DEPLOY = REPOSITORY / "deploy"
SCRIPT = Path(sys.executable).parent / "failsync"
TS_VERSION = "split.smi-spec.io/v1alpha2"
ENDPOINTS_POLICY = """\
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: web-svc-failover-by-endpoints
  namespace: emojivoto
spec:
  service: web-svc
  fallbacks:
    - service: web-svc-east
  health:
    source: endpoints
"""


def documents() -> dict[str, list[dict[str, Any]]]:
    """Every YAML document under deploy/, by file name."""
    return {path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
            for path in sorted(DEPLOY.glob("*.yaml"))}


def manifests() -> list[dict[str, Any]]:
    return [doc for name, docs in documents().items() if name != "kustomization.yaml" for doc in docs]


def one(kind: str) -> dict[str, Any]:
    found = [doc for doc in manifests() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container() -> dict[str, Any]:
    return one("Deployment")["spec"]["template"]["spec"]["containers"][0]


def token_rules() -> list[dict[str, Any]]:
    """The ClusterRole's and Role's rules in the sandbox's token-rights format."""
    rules = []
    for role in (one("ClusterRole"), one("Role")):
        namespace = role["metadata"].get("namespace") if role["kind"] == "Role" else None
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule
            entry: dict[str, Any] = {"verbs": list(rule["verbs"]), "user": "system:serviceaccount:failsync:failsync",
                                     # The sandbox names a subresource plural/subresource, without its group.
                                     "resources": [f"{r}.{g}" if g and "/" not in r else r
                                                   for g in rule["apiGroups"] for r in rule["resources"]]}
            if namespace:
                entry["namespaces"] = [namespace]
            if rule.get("resourceNames"):
                entry["names"] = list(rule["resourceNames"])
            rules.append(entry)
    return rules


def granted() -> set[tuple[str, str, str]]:
    """(verb, apiGroup, resource) for every verb the roles grant."""
    return {(verb, group, resource) for role in (one("ClusterRole"), one("Role")) for rule in role["rules"]
            for verb in rule["verbs"] for group in rule["apiGroups"] for resource in rule["resources"]}


def test_every_manifest_parses_and_the_kustomization_lists_them() -> None:
    docs = documents()
    kustomization = docs.pop("kustomization.yaml")[0]
    assert sorted(kustomization["resources"]) == sorted(docs)
    kinds = sorted(doc["kind"] for doc in manifests())
    assert kinds == sorted(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                            "RoleBinding", "ConfigMap", "Deployment", "CustomResourceDefinition"])
    account = one("ServiceAccount")["metadata"]
    for binding, role in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        bound = one(binding)
        assert bound["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role,
                                    "name": one(role)["metadata"]["name"]}
        assert bound["subjects"] == [{"kind": "ServiceAccount", "name": account["name"],
                                      "namespace": account["namespace"]}]
    assert one("RoleBinding")["metadata"]["namespace"] == one("Role")["metadata"]["namespace"]


def test_the_deployment_runs_the_loop_with_leader_election_policies_and_probes() -> None:
    deployment = one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    args = container()["args"]
    assert args[:3] == ["run", "--adopt", "--leader-elect"]
    assert "--source=all" in args  # the CRD is installed with it: FailoverPolicy objects are policies too
    assert deployment["spec"]["replicas"] == 2
    assert pod["serviceAccountName"] == one("ServiceAccount")["metadata"]["name"]
    assert deployment["metadata"]["namespace"] == one("Role")["metadata"]["namespace"] \
        == one("Namespace")["metadata"]["name"]
    env = {item["name"]: item["valueFrom"]["fieldRef"]["fieldPath"] for item in container()["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    assert "--lease-namespace=$(POD_NAMESPACE)" in args
    mount = container()["volumeMounts"][0]
    assert args[-1] == mount["mountPath"]
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == one("ConfigMap")["metadata"]["name"]
    port = next(p for p in container()["ports"] if p["name"] == "metrics")["containerPort"]
    assert f"--metrics-port={port}" in args
    assert "--metrics-address=0.0.0.0" in args  # explicit: without it failsync would pick by itself
    assert container()["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container()["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}


def mounted_configmap(directory: Path) -> Path:
    """Lay the ConfigMap out as the kubelet does: files are symlinks into a hidden ``..data``."""
    stamp = directory / "..2024_01_01_00_00_00.000000001"
    stamp.mkdir(parents=True)
    for name, text in one("ConfigMap")["data"].items():
        (stamp / name).write_text(text)
    (directory / "..data").symlink_to(stamp.name)
    for name in one("ConfigMap")["data"]:
        (directory / name).symlink_to(Path("..data") / name)
    return directory


def test_the_configmap_policies_load_once_from_a_mounted_volume(tmp_path: Path) -> None:
    loaded = load_policies([mounted_configmap(tmp_path / "policies")])
    assert loaded.errors == ()
    assert [p.key for p in loaded.policies] == ["emojivoto/web-svc-failover"]


def install(cluster: Any, namespace: str) -> None:
    """emojivoto in ``namespace`` plus a ready, selector-less web-svc-east (the mirror)."""
    for obj in emojivoto.objects():
        obj = copy.deepcopy(obj)
        if obj["kind"] == "Namespace":
            obj["metadata"]["name"] = namespace
        else:
            obj["metadata"]["namespace"] = namespace
        cluster.apply(obj)
    metadata = {"name": "web-svc-east", "namespace": namespace}
    cluster.apply({"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": {"ports": [{"port": 80}]}})
    cluster.apply({"apiVersion": "v1", "kind": "Endpoints", "metadata": metadata,
                   "subsets": [{"addresses": [{"ip": "172.16.0.1"}], "ports": [{"port": 80}]}]})


def scale(cluster: Any, namespace: str, replicas: int) -> None:
    web = cluster.get("apps/v1", "Deployment", namespace, "web")
    web["spec"]["replicas"] = replicas
    cluster.apply(web)


def weights(cluster: Any, namespace: str, name: str) -> dict[str, int] | None:
    split = cluster.get(TS_VERSION, "TrafficSplit", namespace, name)
    return {b["service"]: b["weight"] for b in split["spec"]["backends"]} if split else None


def refused(cluster: Any) -> list[tuple[str, str, int]]:
    """Requests the roles did not allow (401/403)."""
    return [(r.method, r.path, r.status) for r in list(cluster.requests) if r.status in (401, 403)]


def unless_refused(cluster: Any, predicate: Any) -> Any:
    """``predicate``, failing at once (instead of at the deadline) when a request was refused."""
    def check() -> Any:
        assert not refused(cluster), f"refused by the roles: {refused(cluster)}"
        return predicate()
    return check


def used(cluster: Any) -> set[tuple[str, str, str]]:
    """(verb, apiGroup, resource) of every logged request on a resource."""
    found = set()
    for record in list(cluster.requests):
        route = routing.parse(record.path.split("?")[0], cluster.registry)
        if route is not None:
            plural = route.resource.plural + (f"/{route.subresource}" if route.subresource else "")
            found.add((record.verb, route.resource.group, plural))
    return found


def test_the_roles_grant_exactly_what_sync_and_the_deployed_loop_use(tmp_path: Path) -> None:
    role_namespace = one("Role")["metadata"]["namespace"]
    policies = mounted_configmap(tmp_path / "policies")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "by-endpoints.yaml").write_text(ENDPOINTS_POLICY)
    token = "failsync-token"
    with Sandbox(clusters=("west",), tokens={token: token_rules()}) as sandbox:
        west = sandbox["west"]
        west.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": role_namespace}})
        for namespace in ("emojivoto", "guide", "objects"):
            install(west, namespace)
        west.apply(guide_traffic_split(namespace="guide"))
        west.apply(one("CustomResourceDefinition"))
        wait_for(lambda: west.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None,
                                  one("CustomResourceDefinition")["metadata"]["name"]) is not None)
        west.apply(yaml.safe_load(ENDPOINTS_POLICY.replace("namespace: emojivoto", "namespace: objects")))
        kubeconfig = str(sandbox.kubeconfig_for(token))
        cli = ["--kubeconfig", kubeconfig, "--context", "west"]

        synced = CliRunner().invoke(main, [*cli, "sync", "--adopt", str(policies), str(tmp_path / "extra")])
        assert synced.exit_code == 0, synced.output + synced.stderr
        assert weights(west, "emojivoto", "web-svc-failover") == {"web-svc": 1, "web-svc-east": 0}

        # A 409 on the patch: sync re-reads the object (get), sees the version it patched, gives up on it.
        scale(west, "emojivoto", 0)
        west.faults.error_rate("patch", 1.0, status=409)
        conflicted = CliRunner().invoke(main, [*cli, "sync", str(policies)])
        west.faults.reset()
        assert conflicted.exit_code == 2, conflicted.output
        assert "the server rejected the patch" in conflicted.stderr
        scale(west, "emojivoto", 1)

        # The Deployment's own command line, with the test's paths and a free metrics port.
        mount = container()["volumeMounts"][0]["mountPath"]
        args = [str(policies) if arg == mount else "--metrics-port=0" if arg.startswith("--metrics-port")
                else arg.replace("$(POD_NAMESPACE)", role_namespace) for arg in container()["args"]]
        log = (tmp_path / "run.log").open("w+")
        env = {**os.environ, "POD_NAME": "failsync-0", "POD_NAMESPACE": role_namespace}
        process = subprocess.Popen([str(SCRIPT), *cli, *args, str(tmp_path / "extra"), "--metrics-address",
                                    "127.0.0.1"], stdout=log, stderr=subprocess.STDOUT, env=env)
        with reaped(process):
            def lease_holder() -> str | None:
                lease = west.get("coordination.k8s.io/v1", "Lease", role_namespace, "failsync")
                return ((lease or {}).get("spec") or {}).get("holderIdentity")

            wait_for(unless_refused(west, lambda: lease_holder() == "failsync-0"), timeout=20,
                     message="the lease to be acquired")
            # Watches are logged when they end; the loop says when its caches are filled.
            wait_for(unless_refused(west, lambda: "caches synced" in (tmp_path / "run.log").read_text()), timeout=20,
                     message="the loop's caches to sync")
            for namespace in ("emojivoto", "guide", "objects"):
                scale(west, namespace, 0)
            for namespace, name in (("emojivoto", "web-svc-failover"), ("emojivoto", "web-svc-failover-by-endpoints"),
                                    ("guide", "web-svc-failover"), ("objects", "web-svc-failover-by-endpoints")):
                wait_for(lambda: weights(west, namespace, name) == {"web-svc": 0, "web-svc-east": 1}, timeout=20,
                         message=f"{namespace}/{name} to fail over")
            wait_for(unless_refused(west, lambda: (west.get("failsync.io/v1alpha1", "FailoverPolicy", "objects",
                                       "web-svc-failover-by-endpoints").get("status") or {}).get("state")
                     == "FailedOver"), timeout=20, message="the FailoverPolicy's status")
            for namespace in ("emojivoto", "guide", "objects"):
                scale(west, namespace, 1)
            wait_for(lambda: weights(west, "guide", "web-svc-failover") == {"web-svc": 1, "web-svc-east": 0},
                     timeout=20, message="the adopted split to fail back")
            wait_for(lambda: any(e.get("reason") == "FailedBack" for e in west.list("v1", "Event", "guide")),
                     timeout=20, message="a FailedBack event")
            assert exit_code_after_sigterm(process, timeout=30) == 0
        log.seek(0)
        output = log.read()
        assert lease_holder() == "", output  # released on SIGTERM

        west.faults.drop_watches()  # a watch is logged when its stream ends; the client has gone
        watches = {grant for grant in granted() if grant[0] == "watch"}
        wait_for(lambda: watches <= used(west), timeout=10, message=f"the watches {sorted(watches)} logged")
        assert refused(west) == [], output
        unused = granted() - used(west)
        assert unused == set(), f"granted but never used (remove from deploy/rbac.yaml): {sorted(unused)}"
