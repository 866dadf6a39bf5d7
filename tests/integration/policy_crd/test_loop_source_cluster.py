"""`failsync run --source cluster|all`: FailoverPolicy objects applied with kubectl drive the loop.

Covers: create an object -> the TrafficSplit is created with an ownerReference to it, and the
object's status says Ready=True at its generation (so `kubectl wait --for=condition=Ready` and
`kubectl get fop` show it); an edit (new generation) changes the route and observedGeneration;
the primary dies -> FailedOver=True, active web-svc-east; back -> FailedOver=False; an invalid
spec the schema accepts -> Stalled=True/Ready=False naming the field, while another object is
still reconciled; a converged object made invalid -> exactly the Stalled status (nothing of the
converged one left), its route untouched, then Ready again once fixed; converged (and
stalled), a resync writes nothing (routes and status); with --source all a file and an object
rendering the same TrafficSplit is a conflict reported on both (Stalled=True, reason Conflict,
naming the file, on the object; a log line naming the object and the file); every write
carries fieldManager=failsync; a stopped loop stops watching FailoverPolicies.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from failsync.controller.loop import LoopOptions
from failsync.controller.policy_objects import ClusterController
from failsync.kube import KubeClient
from tests.helpers import running_loop, wait_for
from tests.integration.loop.conftest import app, policy_text, set_ready, weights, write_policy

FOP = "failsync.io/v1alpha1"


def _condition(obj: dict | None, kind: str) -> dict:
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or () if c["type"] == kind), {})


def _fop(cluster: Any, namespace: str, name: str = "web-svc-failover") -> dict | None:
    return cluster.get(FOP, "FailoverPolicy", namespace, name)


def _apply(kubectl, text: str) -> None:
    done = kubectl("apply", "-f", "-", input=text)
    assert done.returncode == 0, done.stderr


class _Loop:
    def __init__(self, controller: ClusterController) -> None:
        self.controller = controller


def _running(sandbox, *, source: str = "cluster", paths: list[Path] | None = None, **options: Any
             ) -> Iterator[ClusterController]:
    client = KubeClient.from_kubeconfig(sandbox.kubeconfig, "west")
    controller = ClusterController(client, LoopOptions(paths=paths or [], metrics_port=None, **options),
                                   source=source, namespace=options.pop("namespace", None))
    with running_loop(controller):
        yield controller


@pytest.fixture
def loop(installed, sandbox) -> Iterator[ClusterController]:
    yield from _running(sandbox)


def test_objects_drive_the_route_and_report_status(loop, sandbox, kubectl) -> None:
    west, ns = sandbox["west"], "fop-loop"
    app(west, ns)
    _apply(kubectl, policy_text(ns))
    wait_for(lambda: weights(west, ns) == {"web-svc": 1, "web-svc-east": 0}, message="the TrafficSplit")
    split = west.get("split.smi-spec.io/v1alpha2", "TrafficSplit", ns, "web-svc-failover")
    owner = _fop(west, ns)
    assert split["metadata"]["ownerReferences"] == [{"apiVersion": FOP, "kind": "FailoverPolicy",
                                                     "name": "web-svc-failover", "uid": owner["metadata"]["uid"],
                                                     "controller": True}]
    waited = kubectl("wait", "--for=condition=Ready", "fop/web-svc-failover", "-n", ns, "--timeout=10s")
    assert waited.returncode == 0, waited.stderr
    status = _fop(west, ns)["status"]
    assert status["observedGeneration"] == owner["metadata"]["generation"]
    assert (status["state"], status["activeBackends"], status["primary"]) == ("Primary", ["web-svc"], "web-svc")
    assert _condition(_fop(west, ns), "FailedOver")["status"] == "False"
    assert _condition(_fop(west, ns), "Stalled")["status"] == "False"
    listed = kubectl("get", "fop", "-n", ns)
    assert listed.stdout.split("\n")[0].split() == ["NAME", "PRIMARY", "ACTIVE", "STATE", "AGE"]
    assert "Primary" in listed.stdout

    # failover and back
    west.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "web", "image": "web"}]}}}})
    wait_for(lambda: _condition(_fop(west, ns), "FailedOver").get("status") == "True", message="FailedOver=True")
    assert weights(west, ns) == {"web-svc": 0, "web-svc-east": 1}
    assert _fop(west, ns)["status"]["activeBackends"] == ["web-svc-east"]
    assert _condition(_fop(west, ns), "Ready")["status"] == "True"
    west.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "web", "image": "web"}]}}}})
    wait_for(lambda: _condition(_fop(west, ns), "FailedOver").get("status") == "False", message="back")
    assert weights(west, ns) == {"web-svc": 1, "web-svc-east": 0}

    # an edit: a new generation and a new fallback
    west.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web-svc-central", "namespace": ns},
                "spec": {"ports": [{"port": 80}]}})
    set_ready(west, ns, "web-svc-central", 1)
    _apply(kubectl, policy_text(ns, fallbacks=("web-svc-east", "web-svc-central")))
    wait_for(lambda: set(weights(west, ns) or {}) == {"web-svc", "web-svc-east", "web-svc-central"},
             message="the edited TrafficSplit")
    edited = _fop(west, ns)
    wait_for(lambda: _fop(west, ns)["status"]["observedGeneration"] == edited["metadata"]["generation"],
             message="observedGeneration of the edit")

    # converged: a resync writes nothing, neither route nor status
    west.requests.clear()
    loop._enqueue_all()
    loop.queue.wait_idle(5)
    written = [r for r in list(west.requests) if r.method in ("POST", "PUT", "PATCH", "DELETE")]
    assert written == []


def test_an_invalid_object_is_stalled_and_never_stops_the_others(loop, sandbox, kubectl) -> None:
    west, ns = sandbox["west"], "fop-invalid"
    app(west, ns)
    bad = yaml.safe_load(policy_text(ns, name="bad"))
    # A label only failsync may set on what it renders: the API server (which cannot see into metadata
    # with a CRD schema) accepts the object, the validator refuses it.
    bad["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "argocd"}
    _apply(kubectl, yaml.safe_dump(bad))
    _apply(kubectl, policy_text(ns))
    wait_for(lambda: _condition(_fop(west, ns, "bad"), "Stalled").get("status") == "True", message="Stalled")
    stalled = _condition(_fop(west, ns, "bad"), "Stalled")
    assert stalled["reason"] == "InvalidSpec"
    assert stalled["message"].startswith("metadata.labels.app.kubernetes.io/managed-by: is set by failsync"), stalled
    assert _condition(_fop(west, ns, "bad"), "Ready")["status"] == "False"
    assert _fop(west, ns, "bad")["status"]["observedGeneration"] == _fop(west, ns, "bad")["metadata"]["generation"]
    assert west.get("split.smi-spec.io/v1alpha2", "TrafficSplit", ns, "bad") is None
    wait_for(lambda: _condition(_fop(west, ns), "Ready").get("status") == "True", message="the other is Ready")
    fixed = kubectl("get", "fop", "bad", "-n", ns)
    assert "Invalid" in fixed.stdout


def test_every_write_of_the_loop_says_failsync(loop, sandbox, kubectl) -> None:
    west, ns = sandbox["west"], "fop-manager"
    app(west, ns)
    west.requests.clear()
    _apply(kubectl, policy_text(ns))
    wait_for(lambda: _condition(_fop(west, ns), "Ready").get("status") == "True", message="Ready")
    ours = [r for r in list(west.requests) if r.method in ("POST", "PATCH")
            and ("/trafficsplits" in r.path or r.path.endswith("/status") or "/events" in r.path)]
    assert ours and all(r.query.get("fieldManager") == "failsync" for r in ours), ours


def test_a_file_and_an_object_of_the_same_name_conflict(installed, sandbox, kubectl, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    west, ns = sandbox["west"], "fop-conflict"
    app(west, ns)
    _apply(kubectl, policy_text(ns))
    path = write_policy(tmp_path / "p.yaml", ns)
    caplog.set_level(logging.ERROR, logger="failsync")
    for controller in _running(sandbox, source="all", paths=[path]):
        # On the object: a condition naming the file.
        wait_for(lambda: _condition(_fop(west, ns), "Stalled").get("reason") == "Conflict", message="Conflict")
        assert str(path) in _condition(_fop(west, ns), "Stalled")["message"]
        assert _condition(_fop(west, ns), "Ready")["status"] == "False"
        # For the file: the loop's log names both the object and the file.
        logged = [r.getMessage() for r in caplog.records if "conflicts with a policy file" in r.getMessage()]
        assert any(f"FailoverPolicy {ns}/web-svc-failover" in m and str(path) in m for m in logged), logged
        wait_for(lambda: weights(west, ns) == {"web-svc": 1, "web-svc-east": 0}, message="the file's TrafficSplit")
        split = west.get("split.smi-spec.io/v1alpha2", "TrafficSplit", ns, "web-svc-failover")
        assert "ownerReferences" not in split["metadata"]


def test_a_deleted_object_is_no_longer_managed(loop, sandbox, kubectl) -> None:
    west, ns = sandbox["west"], "fop-delete"
    app(west, ns)
    _apply(kubectl, policy_text(ns))
    wait_for(lambda: f"{ns}/web-svc-failover" in loop.policies, message="the object's policy")
    done = kubectl("delete", "fop", "web-svc-failover", "-n", ns)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: f"{ns}/web-svc-failover" not in loop.policies, message="the policy to go")


def test_a_converged_object_made_invalid_is_stalled_writes_nothing_more_and_recovers(loop, sandbox,
                                                                                      kubectl) -> None:
    west, ns = sandbox["west"], "fop-broken"
    app(west, ns)
    _apply(kubectl, policy_text(ns))
    wait_for(lambda: _condition(_fop(west, ns), "Ready").get("status") == "True", message="Ready")
    broken = yaml.safe_load(policy_text(ns))
    broken["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "argocd"}
    _apply(kubectl, yaml.safe_dump(broken))
    wait_for(lambda: _condition(_fop(west, ns), "Stalled").get("status") == "True", message="Stalled")
    status = _fop(west, ns)["status"]
    # Exactly the Stalled status: nothing of the converged one is left behind by the merge patch.
    assert set(status) == {"conditions", "state", "activeBackends", "observedGeneration", "lastTransitionTime"}
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Stalled"]
    assert weights(west, ns) == {"web-svc": 1, "web-svc-east": 0}  # the route stays as it was

    west.requests.clear()
    loop._enqueue_all()
    loop.queue.wait_idle(5)
    assert [r for r in list(west.requests) if r.method in ("POST", "PUT", "PATCH", "DELETE")] == []

    _apply(kubectl, policy_text(ns))  # fixed: kubectl apply removes the label it set
    wait_for(lambda: _condition(_fop(west, ns), "Ready").get("status") == "True", message="Ready again")
    assert _condition(_fop(west, ns), "Stalled")["status"] == "False"
    assert _fop(west, ns)["status"]["state"] == "Primary"


def test_a_stopped_loop_stops_watching_failover_policies(installed, sandbox) -> None:
    for controller in _running(sandbox):
        watches = [t for t in controller.supervisor.threads if "failoverpolicies" in t.name]
        assert watches and all(t.is_alive() for t in watches)
    # A stream blocked on the network ends at its next event: end them all; a stopped watch never reopens.
    sandbox["west"].faults.drop_watches()
    wait_for(lambda: not any(t.is_alive() for t in watches), message="the FailoverPolicy watch to end")
