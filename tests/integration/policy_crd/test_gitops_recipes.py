"""The Argo CD and Flux recipes of docs/gitops.md do what the page says, on what failsync writes.

Covers: every YAML block of the page parses, and the Argo CD / Flux fields it uses are the
ones those tools read (the Application's ignoreDifferences with jqPathExpressions or
managedFieldsManagers [failsync] plus RespectIgnoreDifferences=true, the argocd-cm health key
for failsync.io/FailoverPolicy, the Kustomization's healthChecks naming the CRD's group,
version and kind); the Lua health check, run by a Lua interpreter (lupa), gives Progressing /
Healthy / Degraded for every status failsync writes (no status, an older generation, primary,
failed over, all down, a retried write, an invalid spec), and Healthy / Progressing on live
objects from the loop; against the sandbox, a route kept in git and adopted by the loop,
after a failover: jq's `del()` of the page's jqPathExpressions leaves the live spec equal to
git's, and managedFields name failsync as the manager of the backends; a route rendered for
a FailoverPolicy applied with Argo CD's tracking annotation does not carry that annotation.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from lupa import LuaRuntime

from failsync.controller.policy_objects import ClusterController
from failsync.core.crd import failover_policy_crd
from failsync.core.model import Decision, Rule
from failsync.core.policies import parse_policies
from failsync.core.policy_status import converged_status, failed_status, stalled_status
from tests.helpers import guide_traffic_split, wait_for
from tests.integration.loop.conftest import app, policy_text, weights
from tests.integration.policy_crd.test_loop_source_cluster import _apply, _condition, _fop, _running

REPOSITORY = Path(__file__).resolve().parents[3]
PAGE = REPOSITORY / "docs" / "gitops.md"
JQ = "/usr/bin/jq"
TS = "split.smi-spec.io/v1alpha2"


def _blocks() -> list[dict[str, Any]]:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", PAGE.read_text(), re.S)]


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in _blocks() if doc.get("kind") == kind]


def _health_script() -> str:
    [script] = [doc["data"]["resource.customizations.health.failsync.io_FailoverPolicy"]
                for doc in _of_kind("ConfigMap") if "resource.customizations.health.failsync.io_FailoverPolicy"
                in doc.get("data", {})]
    return script


def _lua_table(lua: LuaRuntime, value: Any) -> Any:
    """A JSON value as Argo CD hands it to Lua: objects and arrays as tables, arrays from 1."""
    if isinstance(value, dict):
        return lua.table_from({key: _lua_table(lua, item) for key, item in value.items()})
    if isinstance(value, list):
        return lua.table_from([_lua_table(lua, item) for item in value])
    return value


def health(obj: dict[str, Any]) -> tuple[str, str]:
    """(status, message) of the page's health script for ``obj``, run as Argo CD runs it."""
    lua = LuaRuntime(unpack_returned_tuples=True)
    check = lua.eval(f"function(obj)\n{_health_script()}\nend")
    result = check(_lua_table(lua, obj))
    return result["status"], result["message"] or ""


POLICY = parse_policies(policy_text("emojivoto"), "p.yaml").policies[0]


def _object(status: dict[str, Any] | None, generation: int = 2) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "failsync.io/v1alpha1", "kind": "FailoverPolicy",
                           "metadata": {"name": POLICY.name, "namespace": POLICY.namespace, "generation": generation}}
    if status is not None:
        obj["status"] = status
    return obj


def _decision(active: str, healthy: tuple[str, ...]) -> Decision:
    rule = Rule.PRIMARY_HEALTHY if active == POLICY.primary and healthy else \
        Rule.FAILED_OVER if healthy else Rule.ALL_DOWN_KEEP
    return Decision(weights={s: int(s == active) for s in POLICY.services}, rule=rule, healthy=healthy,
                    ready={s: int(s in healthy) for s in POLICY.services}, reason=rule.value)


def test_every_yaml_block_parses_and_uses_the_fields_the_tools_read() -> None:
    blocks = _blocks()
    assert blocks and all(isinstance(doc, dict) for doc in blocks)
    applications = _of_kind("Application")
    with_ignores = [app["spec"] for app in applications if "ignoreDifferences" in app["spec"]]
    assert {"jqPathExpressions", "managedFieldsManagers"} <= {key for spec in with_ignores
                                                             for rule in spec["ignoreDifferences"] for key in rule}
    for spec in with_ignores:  # ignoring without respecting it in syncs would still write git's weights
        assert "RespectIgnoreDifferences=true" in spec["syncPolicy"]["syncOptions"]
        for rule in spec["ignoreDifferences"]:
            assert set(rule) <= {"group", "kind", "name", "namespace", "jsonPointers", "jqPathExpressions",
                                 "managedFieldsManagers"}
            assert rule.get("managedFieldsManagers", ["failsync"]) == ["failsync"]
    assert any(doc["data"].get("application.resourceTrackingMethod") == "annotation"
               for doc in _of_kind("ConfigMap"))
    crd = failover_policy_crd()["spec"]
    [kustomization] = _of_kind("Kustomization")
    assert kustomization["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
    for check in kustomization["spec"]["healthChecks"]:
        assert (check["apiVersion"], check["kind"]) == (f"{crd['group']}/{crd['versions'][0]['name']}",
                                                        crd["names"]["kind"])
    [kept] = [doc for doc in _blocks() if doc.get("kind") == "TrafficSplit"]
    assert kept["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/ssa"] == "IfNotPresent"


def test_the_health_check_reads_every_status_failsync_writes() -> None:
    primary = converged_status(POLICY, _decision("web-svc", ("web-svc", "web-svc-east")), 2, None, 0.0)
    failed_over = converged_status(POLICY, _decision("web-svc-east", ("web-svc-east",)), 2, primary, 1.0)
    all_down = converged_status(POLICY, _decision("web-svc", ()), 2, primary, 2.0)
    retried = failed_status(POLICY, "the server said 500", 2, primary, 3.0)
    invalid = stalled_status("InvalidSpec", "spec.fallbacks[0].service: must be a DNS-1123 label", 2, None, 4.0)

    assert health(_object(None)) == ("Progressing", "Waiting for failsync to reconcile this generation")
    assert health(_object(primary, generation=3))[0] == "Progressing"  # a newer spec, not reconciled yet
    assert health(_object(primary))[0] == "Healthy"
    status, message = health(_object(failed_over))
    assert status == "Healthy" and "web-svc-east" in message, message
    assert health(_object(all_down))[0] == "Degraded"
    assert health(_object(retried)) == ("Progressing", "the server said 500")
    assert health(_object(invalid)) == ("Degraded", "spec.fallbacks[0].service: must be a DNS-1123 label")


def test_the_health_check_names_only_status_fields_the_crd_defines() -> None:
    schema = failover_policy_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    used = set(re.findall(r"status\.(\w+)", _health_script()))
    assert used <= set(schema["properties"]), used - set(schema["properties"])


def _jq_del(expressions: list[str], spec: dict[str, Any]) -> Any:
    """What Argo CD compares once the expressions are ignored: ``del()`` of each, as jq computes it."""
    program = " | ".join(f"del({expression.replace('.spec', '', 1) or '.'})" for expression in expressions)
    done = subprocess.run([JQ, "-cS", program], input=json.dumps(spec), capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def adopting(installed, sandbox) -> Iterator[ClusterController]:
    yield from _running(sandbox, adopt=True)


def test_a_route_kept_in_git_differs_only_in_what_the_recipes_ignore(adopting, sandbox) -> None:
    west, ns = sandbox["west"], "gitops-kept"
    app(west, ns)
    in_git = guide_traffic_split(namespace=ns)
    west.apply(in_git)  # as the GitOps tool applies it
    west.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "web", "image": "web"}]}}}})
    wait_for(lambda: weights(west, ns) == {"web-svc": 0, "web-svc-east": 1}, message="the adopted split to fail over")
    live = west.get(TS, "TrafficSplit", ns, "web-svc-failover")
    assert live["spec"] != in_git["spec"]

    [jq_rule] = [rule for app_ in _of_kind("Application") for rule in app_["spec"].get("ignoreDifferences", ())
                 if rule.get("kind") == "TrafficSplit" and "jqPathExpressions" in rule]
    assert _jq_del(jq_rule["jqPathExpressions"], live["spec"]) == _jq_del(jq_rule["jqPathExpressions"],
                                                                          in_git["spec"])
    owners = {entry["manager"]: entry.get("fieldsV1", {}) for entry in live["metadata"]["managedFields"]}
    assert "f:backends" in owners["failsync"].get("f:spec", {}), owners


def test_a_policy_applied_with_argo_cd_tracking_renders_a_route_without_it(installed, sandbox, kubectl) -> None:
    west, ns = sandbox["west"], "gitops-tracked"
    app(west, ns)
    tracked = yaml.safe_load(policy_text(ns))
    tracking_id = f"emojivoto-failover:failsync.io/FailoverPolicy:{ns}/web-svc-failover"
    tracked["metadata"]["annotations"] = {"argocd.argoproj.io/tracking-id": tracking_id}
    for controller in _running(sandbox):
        _apply(kubectl, yaml.safe_dump(tracked))
        wait_for(lambda: _condition(_fop(west, ns), "Ready").get("status") == "True", message="Ready")
        split = west.get(TS, "TrafficSplit", ns, "web-svc-failover")
        assert "argocd.argoproj.io/tracking-id" not in (split["metadata"].get("annotations") or {})
        assert health(_fop(west, ns))[0] == "Healthy"
        # A new generation the loop has not seen yet is Progressing to Argo CD.
        assert health({**_fop(west, ns), "metadata": {**_fop(west, ns)["metadata"],
                                                      "generation": _fop(west, ns)["metadata"]["generation"] + 1}}
                      )[0] == "Progressing"
