"""Routes as targets in the core: validation, rendering, and where route weights live.

Covers:
- golden files, one per route kind/apiVersion (Gateway API HTTPRoute v1 and v1beta1,
  GRPCRoute v1, Linkerd's policy.linkerd.io HTTPRoute v1beta3 and v1beta2), each a GAMMA
  mesh route: one parentRef to the apex Service at the policy's port, one rule whose
  backendRefs list the primary then the fallbacks;
- ``inactiveBackends: omit`` leaves weight-0 backends out of the rule, and they come back
  when they carry traffic again; ``zero-weight`` (the default) keeps them at 0;
- the TrafficSplit templates keep their names; Linkerd's HTTPRoute has its own template;
- reading weights back from a rendered route (omitted backends read as 0), and from a
  hand-written multi-rule route: only rules whose backendRefs all name the policy's
  backends are managed, and ``with_weights`` changes nothing but their ``weight`` fields;
- the primary of a hand-written route: the failsync.io/primary-service annotation, else
  the first backendRef of the first rule.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from failsync.core import targets
from failsync.core.model import InactiveBackends, Policy, Target
from failsync.core.policies import parse_policies
from failsync.core.rendering import Renderer, template_name
from failsync.core.target_schema import rendered_object_problem

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
GOLDEN_POLICY = HERE / "fixtures" / "golden-policy.yaml"
FAILED_OVER = {"web-svc": 0, "web-svc-east": 1, "web-svc-central": 0}
ROUTE_TARGETS = [(kind, version) for kind in targets.ROUTE_KINDS for version in targets.API_VERSIONS[kind]]


def _policy(**target: object) -> Policy:
    text = GOLDEN_POLICY.read_text() + "  target:\n" + "".join(f"    {k}: {v}\n" for k, v in target.items())
    result = parse_policies(text, "golden-policy.yaml")
    assert result.errors == ()
    (policy,) = result.policies
    return policy


def _dump(obj: dict) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)


@pytest.mark.parametrize(("kind", "api_version"), ROUTE_TARGETS, ids=lambda v: v.replace("/", "_"))
def test_route_render_matches_golden_file(kind: str, api_version: str) -> None:
    policy = _policy(kind=kind, apiVersion=api_version, port=8080)
    obj = Renderer().render(policy, FAILED_OVER)
    golden = GOLDEN / template_name(policy.target).replace(".j2", "")
    assert _dump(obj) == golden.read_text()


def test_route_defaults_to_gateway_api_v1_and_zero_weight() -> None:
    policy = _policy(kind="HTTPRoute", port=80)
    assert policy.target == Target("HTTPRoute", "gateway.networking.k8s.io/v1", port=80,
                                   inactive_backends=InactiveBackends.ZERO_WEIGHT)


def test_linkerd_and_gateway_httproutes_have_separate_templates() -> None:
    names = {template_name(Target(kind, version, port=80)) for kind, version in ROUTE_TARGETS}
    assert names == {"httproute-v1.yaml.j2", "httproute-v1beta1.yaml.j2", "grpcroute-v1.yaml.j2",
                     "httproute-policy.linkerd.io-v1beta3.yaml.j2", "httproute-policy.linkerd.io-v1beta2.yaml.j2"}
    assert template_name(Target()) == "trafficsplit-v1alpha2.yaml.j2"


def test_route_is_a_gamma_route_with_the_service_as_parent_and_primary_first() -> None:
    obj = Renderer().render(_policy(kind="HTTPRoute", port=80))
    assert obj["spec"]["parentRefs"] == [{"group": "", "kind": "Service", "name": "web-svc", "port": 80}]
    (rule,) = obj["spec"]["rules"]
    assert [(r["name"], r["port"], r["weight"]) for r in rule["backendRefs"]] == [
        ("web-svc", 80, 1), ("web-svc-east", 80, 0), ("web-svc-central", 80, 0)]
    assert obj["metadata"]["annotations"]["failsync.io/policy"] == "emojivoto/web-svc-failover"
    assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "failsync"
    assert "status" not in obj


def test_omit_leaves_idle_backends_out_and_brings_them_back() -> None:
    policy = _policy(kind="HTTPRoute", port=80, inactiveBackends="omit")
    renderer = Renderer()
    primary = renderer.render(policy)
    failed_over = renderer.render(policy, FAILED_OVER)
    assert [r["name"] for r in primary["spec"]["rules"][0]["backendRefs"]] == ["web-svc"]
    assert [r["name"] for r in failed_over["spec"]["rules"][0]["backendRefs"]] == ["web-svc-east"]
    back = renderer.render(policy, {"web-svc": 1, "web-svc-east": 1})
    assert [r["name"] for r in back["spec"]["rules"][0]["backendRefs"]] == ["web-svc", "web-svc-east"]
    assert targets.weights_of(failed_over, policy.services) == FAILED_OVER


def test_weights_read_back_from_a_rendered_route() -> None:
    policy = _policy(kind="GRPCRoute", port=9090)
    obj = Renderer().render(policy, FAILED_OVER)
    assert targets.weights_of(obj, policy.services) == FAILED_OVER
    assert targets.weights_of(obj) == FAILED_OVER


# -- hand-written routes (drop-in for routes) ---------------------------------------------------

HAND_WRITTEN = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "web", "namespace": "emojivoto", "labels": {"failsync.io/failover": "enabled"}},
    "spec": {
        "parentRefs": [{"group": "", "kind": "Service", "name": "web-svc", "port": 80}],
        "rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
             "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x", "value": "1"}]}}],
             "backendRefs": [{"name": "web-svc", "port": 80, "weight": 1},
                             {"name": "web-svc-east", "port": 80, "weight": 0}]},
            {"matches": [{"path": {"type": "Exact", "value": "/healthz"}}],
             "backendRefs": [{"name": "health-svc", "port": 8080}]},
            {"timeouts": {"request": "10s"},
             "backendRefs": [{"name": "web-svc", "port": 80}, {"name": "web-svc-east", "port": 80, "weight": 0}]},
        ],
    },
}
SERVICES = ("web-svc", "web-svc-east")


def test_only_rules_naming_only_the_policys_backends_are_managed() -> None:
    assert list(targets.managed_rules(HAND_WRITTEN, SERVICES)) == [0, 2]


def test_with_weights_changes_only_weight_fields_of_managed_rules() -> None:
    before = copy.deepcopy(HAND_WRITTEN)
    desired = targets.with_weights(HAND_WRITTEN, {"web-svc": 0, "web-svc-east": 1}, SERVICES)
    assert HAND_WRITTEN == before  # the live object is never modified
    expected = copy.deepcopy(HAND_WRITTEN)
    expected["spec"]["rules"][0]["backendRefs"][0]["weight"] = 0
    expected["spec"]["rules"][0]["backendRefs"][1]["weight"] = 1
    expected["spec"]["rules"][2]["backendRefs"][0]["weight"] = 0
    expected["spec"]["rules"][2]["backendRefs"][1]["weight"] = 1
    assert desired == expected


def test_a_missing_route_weight_reads_as_the_gateway_api_default_of_one() -> None:
    third_rule_only = copy.deepcopy(HAND_WRITTEN)
    del third_rule_only["spec"]["rules"][:2]
    assert targets.weights_of(third_rule_only, SERVICES) == {"web-svc": 1, "web-svc-east": 0}


def test_weights_view_keeps_positions_so_patches_address_the_live_rules() -> None:
    view = targets.weights_view(HAND_WRITTEN, SERVICES)
    assert view["rules"][1] == {}
    assert view["rules"][2]["backendRefs"] == [{"name": "web-svc", "weight": None},
                                               {"name": "web-svc-east", "weight": 0}]


@pytest.mark.parametrize(("annotations", "primary"), [
    ({}, "web-svc"),
    ({"failsync.io/primary-service": "web-svc-east"}, "web-svc-east"),
], ids=["first-backend-ref", "annotation"])
def test_primary_of_a_hand_written_route(annotations: dict, primary: str) -> None:
    obj = copy.deepcopy(HAND_WRITTEN)
    obj["metadata"]["annotations"] = annotations
    assert targets.primary_of_route(obj) == primary
    assert targets.route_backends(obj, primary) == ["web-svc", "web-svc-east"]
    assert targets.route_parent_service(obj) == "web-svc"


@pytest.mark.parametrize("target, limit", [({"kind": "HTTPRoute", "port": 80}, 1_000_000),
                                           ({"kind": "TrafficSplit"}, 2**31 - 1)])
def test_weight_limits_follow_the_target_api(target: dict, limit: int) -> None:
    """A rendered weight past what the target API holds is refused before it is written."""
    policy = _policy(**target)
    for weight, fits in ((limit, True), (limit + 1, False)):
        obj = Renderer().render(policy, {"web-svc": weight, "web-svc-east": 0, "web-svc-central": 0})
        problem = rendered_object_problem(obj, policy)
        assert (problem is None) is fits, (weight, problem)
        assert fits or f"expected an integer from 0 to {limit}" in problem


def test_the_default_target_is_an_smi_traffic_split() -> None:
    assert replace(Target(), port=None).group == "split.smi-spec.io"
