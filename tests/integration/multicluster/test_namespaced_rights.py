"""``failsync run`` with read rights in east granted per namespace only (exactly the Role and
RoleBinding of deploy/remote/namespaced-rbac.example.yaml, no ClusterRole): the loop finds its
cluster-wide watch refused, reads east in the backends' namespace, fails over when east's pods
go; a policy added later in another namespace gets a watch there, and without rights there
that namespace alone is reported (log, metric, Event) while the first keeps working; rights
granted later are picked up, a namespace no policy reads any more is no longer watched (at
once: its watches and their threads end within seconds of the policy's removal), and
no refused request repeats without backoff. The one-shot commands with the same rights read the
namespaces they may and name the one they may not, the cluster still reachable."""
from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from failsync.controller import Controller
from failsync.sandbox import Sandbox
from tests.helpers import wait_for
from tests.integration.multicluster.support import mirror, policy_file, running, scale, scene
from tests.integration.sync.support import failsync, weights, writes

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "remote" / "namespaced-rbac.example.yaml"
TIERS = [{"service": "web-svc-east"}, {"service": "web-svc-central", "priority": 2}]
ON_EAST = {"web-svc": 0, "web-svc-east": 1, "web-svc-central": 0}
ON_CENTRAL = {"web-svc": 0, "web-svc-east": 0, "web-svc-central": 1}
TOKEN = "namespaced-token"


def example_rules() -> list[dict]:
    """Each Role of the example, bound by its RoleBinding, in the sandbox's token-rights format."""
    docs = [doc for doc in yaml.safe_load_all(EXAMPLE.read_text()) if doc]
    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in docs if d["kind"] == "Role"}
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    rules = []
    for binding in (d for d in docs if d["kind"] == "RoleBinding"):
        namespace = binding["metadata"]["namespace"]
        role = roles[(namespace, binding["roleRef"]["name"])]
        for subject in binding["subjects"]:
            user = f"system:serviceaccount:{subject['namespace']}:{subject['name']}"
            rules += [{"verbs": list(rule["verbs"]), "user": user, "namespaces": [namespace],
                       "resources": [f"{r}.{g}" if g else r for g in rule["apiGroups"] for r in rule["resources"]]}
                      for rule in role["rules"]]
    return rules


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(clusters=("west", "east"), tokens={"admin-token": "*", TOKEN: example_rules()}) as running:
        yield running


def metric(controller: Controller, namespace: str) -> str | None:
    prefix = f'failsync_remote_namespace_readable{{cluster="east",namespace="{namespace}"}}'
    return next((line[len(prefix):].strip() for line in controller.metrics.registry.expose().splitlines()
                 if line.startswith(prefix)), None)


def watch_threads(controller: Controller) -> int:
    """How many of the loop's watcher threads are alive."""
    return sum(t.is_alive() and t.name.startswith("watch-") for t in list(controller.supervisor.threads))


def refused(sandbox, since: int) -> list:
    return [r for r in list(sandbox["east"].requests)[since:] if r.status == 403]


def events(sandbox, ns: str, reason: str) -> list[dict]:
    return [e for e in sandbox["west"].list("v1", "Event", ns) if e.get("reason") == reason]


def test_the_loop_reads_east_with_only_the_example_roles(sandbox, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="failsync")
    (ns,) = {rule["namespaces"][0] for rule in example_rules()}
    scene(sandbox, west_web=0, east_web=1, central=True, ns=ns)
    mirror(sandbox["west"], ns)
    policies = tmp_path / "policies"
    policies.mkdir()
    policy_file(policies, ns, fallbacks=TIERS)
    first = len(sandbox["east"].requests)
    config = sandbox.kubeconfig_for(TOKEN)
    sandbox["east"].faults.latency = 0.5  # east slow to answer: the namespace's LIST lands well after west's
    with running(sandbox, [policies], cluster=f"east={config}:east", metrics_port=None) as controller:
        wait_for(lambda: weights(sandbox["west"], ns) == ON_EAST, timeout=10, message="east read in " + ns)
        sandbox["east"].faults.reset()
        # The start-up waited for the namespace's cache: the first write was already the right one.
        assert len([w for w in writes(sandbox["west"]) if f"/namespaces/{ns}/trafficsplits" in w.path]) == 1
        assert "refuses to list or watch endpointslices cluster-wide" in caplog.text
        assert metric(controller, ns) == "1"
        scale(sandbox["east"], ns, "web", 0, "web-svc")  # west's mirror still looks ready
        wait_for(lambda: weights(sandbox["west"], ns) == ON_CENTRAL, timeout=10, message="failover off dead east")

        # A policy in a namespace the example grants nothing in: a watch starts there, refused.
        other = scene(sandbox, west_web=0, east_web=1, central=True, ns=f"{ns}-b")
        mirror(sandbox["west"], other)
        since = len(sandbox["east"].requests)
        policy_file(policies, other, fallbacks=TIERS)
        wait_for(lambda: metric(controller, other) == "0", timeout=10, message=f"{other} reported unreadable")
        assert f"refuses reads in namespace {other}" in caplog.text
        wait_for(lambda: weights(sandbox["west"], other) == ON_CENTRAL, timeout=10,
                 message="east unread in the refused namespace counts as unhealthy")
        wait_for(lambda: events(sandbox, other, "RemoteNamespaceForbidden"), timeout=10, message="the Event")
        # What the loop's decisions for that policy say of east.
        judged = controller.caches.notes(controller.index.get(f"{other}/web-svc-failover"))
        assert f"web-svc-east: {other}/web-svc not read in east: unhealthy" in judged, judged
        # Local reactions go on in the refused namespace; the readable one is not held up by it.
        scale(sandbox["west"], other, "web", 1, "web-svc")
        wait_for(lambda: weights(sandbox["west"], other) == {"web-svc": 1, "web-svc-east": 0, "web-svc-central": 0},
                 timeout=10, message="west's own web back in the refused namespace")
        scale(sandbox["west"], other, "web", 0, "web-svc")
        scale(sandbox["east"], ns, "web", 1, "web-svc")
        wait_for(lambda: weights(sandbox["west"], ns) == ON_EAST, timeout=10, message=f"{ns} still read live")
        assert metric(controller, ns) == "1" and not events(sandbox, ns, "RemoteNamespaceForbidden")

        # Backoff: the refused requests in the new namespace, over a few seconds, are few.
        wait_for(lambda: (lambda r: len(r) > 1 and r[-1].started - r[0].started >= 3)(
            [r for r in refused(sandbox, since) if f"/namespaces/{other}/" in r.path]),
            timeout=15, message="refused requests in the new namespace over 3 s")
        per_request = Counter((r.method, r.path) for r in refused(sandbox, first))
        assert per_request and max(per_request.values()) <= 12, per_request
        # Cluster-wide, each kind was refused once; then everything went per namespace.
        wide = Counter(r.path for r in refused(sandbox, first) if "/namespaces/" not in r.path)
        assert wide == {"/apis/discovery.k8s.io/v1/endpointslices": 1, "/api/v1/services": 1}, wide

        # Rights granted later are picked up; a namespace no policy reads any more is not watched.
        sandbox["east"].auth.tokens[TOKEN] += [{**rule, "namespaces": [other]} for rule in example_rules()]
        wait_for(lambda: weights(sandbox["west"], other) == ON_EAST, timeout=15, message=f"{other} read at last")
        assert metric(controller, other) == "1" and "namespace %s is readable again" % other in caplog.text
        # Removing the policy stops its namespace's two watches (EndpointSlices, Services) at once:
        # the caches are told, and each stopped watcher's thread ends, its stream closed.
        watching = watch_threads(controller)
        (policies / f"{other}.yaml").unlink()
        wait_for(lambda: metric(controller, other) is None, timeout=3, message=f"{other}'s watches stopped")
        assert f"no policy reads namespace {other} any more" in caplog.text
        wait_for(lambda: watch_threads(controller) == watching - 2, timeout=1.5,
                 message=f"the threads of {other}'s watches to end")
        assert metric(controller, ns) == "1"
        # No thread polls the scopes: the one that recomputed them ended with its work.
        wait_for(lambda: not any(t.is_alive() for t in list(controller.supervisor.threads) if t.name == "remote-scopes"),
                 timeout=1.5, message="the scopes thread to end")


def test_one_shot_commands_read_the_namespaces_they_may_and_name_the_one_they_may_not(sandbox, tmp_path) -> None:
    (ns,) = {rule["namespaces"][0] for rule in example_rules()}
    readable, unreadable = scene(sandbox, west_web=0, east_web=1, central=True, ns=ns), f"{ns}-c"
    scene(sandbox, west_web=0, east_web=1, central=True, ns=unreadable)
    for namespace in (readable, unreadable):
        mirror(sandbox["west"], namespace)
    paths = [str(policy_file(tmp_path, namespace, fallbacks=TIERS)) for namespace in (readable, unreadable)]
    config = sandbox.kubeconfig_for(TOKEN)
    result = failsync(sandbox.kubeconfig, "sync", "--cluster", f"east={config}:east", *paths)
    assert result.exit_code == 0, result.output
    assert weights(sandbox["west"], readable) == ON_EAST
    assert weights(sandbox["west"], unreadable) == ON_CENTRAL
    assert f"refuses reads in namespace {unreadable}" in result.output
    status = failsync(sandbox.kubeconfig, "status", "--cluster", f"east={config}:east", *paths)
    assert next(line for line in status.output.splitlines() if line.startswith("east ")).endswith("yes"), status.output
    reported = json.loads(failsync(sandbox.kubeconfig, "status", "-o", "json", "--cluster", f"east={config}:east",
                                   paths[1]).stdout)
    assert f"web-svc-east: {unreadable}/web-svc not read in east: unhealthy" in reported["objects"][0]["reason"]
