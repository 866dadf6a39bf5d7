"""Property-based tests (hypothesis) of parsing + rendering.

Covers:
- any valid policy document (every field, any TrafficSplit version, any weights) parses
  and renders to YAML that parses back to exactly the expected object;
- a hostile string (newlines, ': ', quotes, '{{ }}', '---', control characters, or any
  text) placed in any field of a policy document is either rejected by validation (as
  errors, never an exception) or rendered without changing the object's structure;
- to_yaml (the YAML `failsync render` prints) reads back to exactly the data it was given;
- a Policy built directly with hostile strings everywhere (bypassing validation)
  still renders to exactly the expected object: escaping alone keeps the structure.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from failsync.core.model import MANAGED_BY_LABEL, Backend, Policy, Target
from failsync.core.policies import TRAFFICSPLIT_API_VERSIONS, parse_policies
from failsync.core.rendering import Renderer, to_yaml

RENDERER = Renderer()
HOSTILE = ["a\nkind: Secret", "x: y", "'", '"', "{{ name }}", "{% raw %}", "---", "...", "- item",
           "[a, b]", "{a: b}", "# comment", "&anchor", "*alias", "!!python/object:os.system",
           "a\n---\nb", " leading", "trailing ", "\x85\u2028\u2029", "\x00\x1f\x7f", "", "null", "~", "yes"]

dns_label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?\Z")
label_name = st.from_regex(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]{0,12}[A-Za-z0-9])?\Z")
label_key = st.one_of(label_name, st.builds(lambda prefix, name: f"{prefix}.io/{name}", dns_label, label_name)
                      ).filter(lambda key: key != MANAGED_BY_LABEL)
label_value = st.one_of(st.just(""), label_name)
hostile = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=24),
                    st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE), st.text(max_size=8)))


@st.composite
def policy_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid FailoverPolicy document, optional fields sometimes left to their defaults."""
    services = draw(st.lists(dns_label, min_size=2, max_size=5, unique=True))
    service = services[0]
    primary = draw(st.sampled_from([service, services[1]])) if len(services) > 2 else service
    fallbacks = []
    for name in services:
        if name == primary:
            continue
        entry: dict[str, Any] = {"service": name}
        if draw(st.booleans()):
            entry["priority"] = draw(st.integers(1, 3))
        fallbacks.append(entry)
    spec: dict[str, Any] = {"service": service, "fallbacks": fallbacks}
    if primary != service or draw(st.booleans()):
        spec["primary"] = primary
    if draw(st.booleans()):
        spec["health"] = {"minReady": draw(st.integers(1, 5)),
                          "source": draw(st.sampled_from(["auto", "endpointslices", "endpoints"]))}
    if draw(st.booleans()):
        spec["failback"] = {"holdSeconds": draw(st.integers(0, 3600))}
    if draw(st.booleans()):
        spec["whenAllDown"] = draw(st.sampled_from(["keep", "primary", "zero"]))
    if draw(st.booleans()):
        spec["target"] = {"kind": "TrafficSplit", "apiVersion": draw(st.sampled_from(TRAFFICSPLIT_API_VERSIONS))}
    metadata: dict[str, Any] = {"name": draw(dns_label), "namespace": draw(dns_label)}
    if draw(st.booleans()):
        metadata["labels"] = draw(st.dictionaries(label_key, label_value, max_size=4))
    return {"apiVersion": "failsync.io/v1alpha1", "kind": "FailoverPolicy", "metadata": metadata, "spec": spec}


def expected_object(document: dict[str, Any], weights: list[int]) -> dict[str, Any]:
    """What SPEC §3 says the document renders to, computed independently of the renderer."""
    metadata, spec = document["metadata"], document["spec"]
    api_version = spec.get("target", {}).get("apiVersion", "split.smi-spec.io/v1alpha2")
    primary = spec.get("primary", spec["service"])
    services = [primary] + [f["service"] for f in spec["fallbacks"]]
    quantity = api_version.endswith("v1alpha1")
    return {
        "apiVersion": api_version,
        "kind": "TrafficSplit",
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "labels": {**metadata.get("labels", {}), MANAGED_BY_LABEL: "failsync"},
            "annotations": {"failsync.io/policy": f"{metadata['namespace']}/{metadata['name']}",
                            "failover.linkerd.io/primary-service": primary},
        },
        "spec": {"service": spec["service"],
                 "backends": [{"service": s, "weight": str(w) if quantity else w}
                              for s, w in zip(services, weights)]},
    }


def _render_round_trip(document: dict[str, Any], weights: list[int]) -> None:
    result = parse_policies(yaml.safe_dump(document, sort_keys=False), "generated.yaml")
    assert result.errors == ()
    (policy,) = result.policies
    obj = RENDERER.render(policy, dict(zip(policy.services, weights)))
    text = yaml.safe_dump(obj, sort_keys=False)
    assert yaml.safe_load(text) == obj == expected_object(document, weights)


@settings(max_examples=150, deadline=None)
@given(document=policy_documents(), weights=st.lists(st.integers(0, 3), min_size=5, max_size=5))
def test_any_valid_policy_renders_to_the_expected_object(document: dict[str, Any], weights: list[int]) -> None:
    services = 1 + len(document["spec"]["fallbacks"])
    _render_round_trip(document, weights[:services])


FIELDS = ["metadata.name", "metadata.namespace", "label-key", "label-value", "spec.service", "spec.primary",
          "fallback", "spec.health.source", "spec.whenAllDown", "spec.target.kind", "spec.target.apiVersion"]


def _place(document: dict[str, Any], field: str, value: str) -> None:
    metadata, spec = document["metadata"], document["spec"]
    if field == "label-key":
        metadata["labels"] = {value: "v"}
    elif field == "label-value":
        metadata["labels"] = {"k": value}
    elif field == "fallback":
        spec["fallbacks"][0]["service"] = value
    else:
        section, _, key = field.rpartition(".")
        parent = document
        for part in section.split("."):
            parent = parent.setdefault(part, {})
        parent[key] = value


@settings(max_examples=300, deadline=None)
@given(document=policy_documents(), field=st.sampled_from(FIELDS), value=hostile)
def test_hostile_strings_are_rejected_or_rendered_without_changing_structure(
        document: dict[str, Any], field: str, value: str) -> None:
    _place(document, field, value)
    result = parse_policies(yaml.safe_dump(document, sort_keys=False), "hostile.yaml")
    if result.errors:
        assert result.policies == ()
        assert all(str(error).startswith("hostile.yaml:") for error in result.errors)
        return
    services = 1 + len(document["spec"]["fallbacks"])
    _render_round_trip(document, [1] + [0] * (services - 1))


@settings(max_examples=200, deadline=None)
@given(strings=st.lists(st.one_of(hostile, st.just("\ud800")), min_size=8, max_size=8))
def test_escaping_alone_keeps_structure_for_unvalidated_policies(strings: list[str]) -> None:
    name, namespace, service, primary, fallback, key, value, other = strings
    fallbacks = (Backend(fallback),) if fallback != primary else ()
    policy = Policy(name=name, namespace=namespace, service=service, primary=primary, fallbacks=fallbacks,
                    labels={key: value, "x-" + other: other}, target=Target())
    obj = RENDERER.render(policy)
    expected_labels = {key: value, "x-" + other: other, MANAGED_BY_LABEL: "failsync"}
    assert obj == {
        "apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
        "metadata": {"name": name, "namespace": namespace, "labels": expected_labels,
                     "annotations": {"failsync.io/policy": f"{namespace}/{name}",
                                     "failover.linkerd.io/primary-service": primary}},
        "spec": {"service": service,
                 "backends": [{"service": s, "weight": int(i == 0)} for i, s in enumerate(policy.services)]},
    }


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), hostile)
json_data = st.recursive(json_scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(hostile, children, max_size=4)), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(data=json_data)
def test_to_yaml_reads_back_to_the_same_data(data: Any) -> None:
    assert yaml.safe_load(to_yaml(data)) == data
