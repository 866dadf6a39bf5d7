"""Every route failsync renders is what the route CRDs the sandbox installs accept unchanged.

Covers (hypothesis): for any valid route policy (HTTPRoute at gateway.networking.k8s.io v1
and v1beta1 or policy.linkerd.io v1beta3 and v1beta2, GRPCRoute v1; any port, backends,
priorities, inactiveBackends and weights within the route range), the rendered object walked
through the structural schema of its CRD version has no unknown (pruned) field, no validation
cause, and no default to add: what failsync writes reads back byte for byte, so a converged
route never shows as drift. The CRDs are the sandbox's definitions, written from the upstream
Gateway API and Linkerd specifications.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from failsync.core import targets
from failsync.core.policies import parse_policies
from failsync.core.rendering import Renderer
from failsync.sandbox import schema
from failsync.sandbox.definitions import default_crds

RENDERER = Renderer()
ROUTE_TARGETS = [(kind, version) for kind in targets.ROUTE_KINDS for version in targets.API_VERSIONS[kind]]
dns_label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?\Z")


def _structural(kind: str, api_version: str) -> schema.Structural:
    group, _, version = api_version.rpartition("/")
    for crd in default_crds():
        spec = crd["spec"]
        if spec["group"] == group and spec["names"]["kind"] == kind:
            for entry in spec["versions"]:
                if entry["name"] == version:
                    return schema.compile_schema(entry["schema"]["openAPIV3Schema"])
    raise AssertionError(f"the sandbox installs no CRD for {kind} {api_version}")


STRUCTURAL = {target: _structural(*target) for target in ROUTE_TARGETS}


@st.composite
def route_policies(draw: st.DrawFn) -> tuple[str, dict[str, int]]:
    """A valid route policy document (as YAML text) and weights for its backends."""
    kind, api_version = draw(st.sampled_from(ROUTE_TARGETS))
    services = draw(st.lists(dns_label, min_size=2, max_size=6, unique=True))
    target: dict[str, Any] = {"kind": kind, "apiVersion": api_version, "port": draw(st.integers(1, 65535))}
    if draw(st.booleans()):
        target["inactiveBackends"] = draw(st.sampled_from(["zero-weight", "omit"]))
    fallbacks = [{"service": name, "priority": draw(st.integers(1, 3))} for name in services[1:]]
    weights = {name: draw(st.integers(0, targets.ROUTE_WEIGHT_MAX)) for name in services}
    document = {"apiVersion": "failsync.io/v1alpha1", "kind": "FailoverPolicy",
                "metadata": {"name": draw(dns_label), "namespace": draw(dns_label)},
                "spec": {"service": services[0], "fallbacks": fallbacks, "target": target}}
    return json.dumps(document), weights  # JSON is YAML: no quoting questions in the generated text


@settings(max_examples=150, deadline=None)
@given(route_policies())
def test_rendered_routes_are_accepted_by_their_crd_unchanged(generated: tuple[str, dict[str, int]]) -> None:
    text, weights = generated
    result = parse_policies(text, "policy.yaml")
    assert result.errors == (), result.errors
    (policy,) = result.policies
    for chosen in (None, weights):
        rendered = RENDERER.render(policy, chosen)
        outcome = schema.Outcome()
        stored = STRUCTURAL[(policy.target.kind, policy.target.api_version)].walk(rendered, "", outcome)
        assert outcome.unknown == [], outcome.unknown
        assert outcome.causes == [], outcome.causes
        assert stored == rendered  # no default added, nothing pruned
