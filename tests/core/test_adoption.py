"""Drop-in mode: hand-written TrafficSplits read as policies (SPEC §3).

Covers:
- the guide's TrafficSplit becomes a policy: primary from the annotation, the other
  backends fallbacks of priority 1, origin ADOPTED, target apiVersion kept;
- without the annotation the first backend is the primary;
- malformed objects (no spec, no backends, unnamed or duplicate backend, an annotation
  naming a non-backend) are PolicyErrors naming the object and the key;
- live weights: integers, v1alpha1 Quantities ("1", "500m"), malformed -> None;
- label selectors: equality, inequality, existence, set-based, and a clear error for bad text.
"""

from __future__ import annotations

import pytest

from failsync.core.adoption import adopt, live_weights, parse_selector
from failsync.core.model import Backend, Origin
from failsync.errors import PolicyError

GUIDE = {
    "apiVersion": "split.smi-spec.io/v1alpha2",
    "kind": "TrafficSplit",
    "metadata": {"name": "web-svc-failover", "namespace": "emojivoto",
                 "labels": {"failover.linkerd.io/controlled-by": "linkerd-failover"},
                 "annotations": {"failover.linkerd.io/primary-service": "web-svc"}},
    "spec": {"service": "web-svc", "backends": [{"service": "web-svc", "weight": 1},
                                                 {"service": "web-svc-east", "weight": 0}]},
}


def variant(**spec_or_meta) -> dict:
    obj = {**GUIDE, "metadata": dict(GUIDE["metadata"]), "spec": dict(GUIDE["spec"])}
    for key, value in spec_or_meta.items():
        section, _, field = key.partition("__")
        if value is None:
            obj[section].pop(field, None)
        else:
            obj[section][field] = value
    return obj


def test_guide_trafficsplit_becomes_a_policy_with_the_annotated_primary() -> None:
    policy = adopt(GUIDE)
    assert (policy.namespace, policy.name, policy.service) == ("emojivoto", "web-svc-failover", "web-svc")
    assert policy.primary == "web-svc"
    assert policy.fallbacks == (Backend("web-svc-east", priority=1),)
    assert policy.origin is Origin.ADOPTED
    assert policy.target.api_version == "split.smi-spec.io/v1alpha2"


def test_annotation_can_name_a_later_backend_as_primary() -> None:
    policy = adopt(variant(metadata__annotations={"failover.linkerd.io/primary-service": "web-svc-east"}))
    assert policy.primary == "web-svc-east"
    assert policy.services == ("web-svc-east", "web-svc")


def test_without_annotation_the_first_backend_is_primary() -> None:
    backends = [{"service": "a", "weight": 0}, {"service": "b", "weight": 1}, {"service": "c", "weight": 0}]
    policy = adopt(variant(metadata__annotations=None, spec__backends=backends))
    assert policy.primary == "a"
    assert policy.fallbacks == (Backend("b", 1), Backend("c", 1))


@pytest.mark.parametrize("obj, key", [
    ({**GUIDE, "spec": None}, "spec"),
    (variant(spec__backends=[]), "spec.backends"),
    (variant(spec__backends="web-svc"), "spec.backends"),
    (variant(spec__backends=[{"weight": 1}]), "spec.backends[0].service"),
    (variant(spec__backends=[{"service": "a"}, {"service": "a"}]), "spec.backends[1].service"),
    (variant(metadata__annotations={"failover.linkerd.io/primary-service": "nope"}),
     "metadata.annotations.failover.linkerd.io/primary-service"),
], ids=["no-spec", "no-backends", "backends-not-a-list", "unnamed-backend", "duplicate-backend", "unknown-primary"])
def test_malformed_trafficsplit_is_an_error_naming_object_and_key(obj: dict, key: str) -> None:
    with pytest.raises(PolicyError) as caught:
        adopt(obj)
    assert caught.value.location.file == "TrafficSplit emojivoto/web-svc-failover"
    assert caught.value.location.key == key


@pytest.mark.parametrize("backends, expected", [
    ([{"service": "a", "weight": 1}, {"service": "b", "weight": 0}], {"a": 1, "b": 0}),
    ([{"service": "a", "weight": "1"}, {"service": "b", "weight": "0"}], {"a": 1, "b": 0}),
    ([{"service": "a", "weight": "500m"}, {"service": "b", "weight": "1"}], {"a": 500, "b": 1000}),
    ([{"service": "a"}], {"a": 0}),
    ([{"service": "a", "weight": "lots"}], None),
    ([{"service": "a", "weight": -1}], None),
    ([{"weight": 1}], None),
    ([{"service": "a", "weight": True}], None),
    ([{"service": "a", "weight": 1}, {"service": "b", "weight": "500m"}], {"a": 1000, "b": 500}),
], ids=["integers", "quantities", "milli-quantities", "missing-weight", "garbage", "negative", "no-service",
        "boolean", "integer-beside-milli-quantity"])
def test_live_weights_are_read_from_any_version(backends: list, expected: dict | None) -> None:
    assert live_weights(variant(spec__backends=backends)) == expected


def test_live_weights_of_a_missing_object_are_none() -> None:
    assert live_weights(None) is None


@pytest.mark.parametrize("selector, labels, selected", [
    ("failover.linkerd.io/controlled-by=linkerd-failover", GUIDE["metadata"]["labels"], True),
    ("failover.linkerd.io/controlled-by=linkerd-failover", {}, False),
    ("a==1,b!=2", {"a": "1"}, True),
    ("a==1,b!=2", {"a": "1", "b": "2"}, False),
    ("a", {"a": ""}, True),
    ("!a", {"a": "x"}, False),
    ("env in (prod, staging)", {"env": "staging"}, True),
    ("env notin (prod)", {}, True),
    ("", {"anything": "x"}, True),
], ids=["guide-match", "guide-no-label", "and", "and-fails", "exists", "not-exists", "in", "notin-absent", "empty"])
def test_selector_matches_like_kubectl(selector: str, labels: dict, selected: bool) -> None:
    assert parse_selector(selector).matches(labels) is selected


@pytest.mark.parametrize("text", ["a=b=c", "a,,b", "!a=b", "a in b"])
def test_bad_selector_is_a_clear_error(text: str) -> None:
    with pytest.raises(PolicyError, match="--selector: .*label selector"):
        parse_selector(text)


@pytest.mark.parametrize("text, accepted", [
    ("tier>1", True),  # Gt is API grammar; the old --selector parser refused it
    ("-bad=x", False),  # a key must start with an alphanumeric character
    ("A/b=c", False),  # the prefix is a lowercase DNS subdomain
    ("example.com/team=x", True),
    ("a>x", False),  # Gt/Lt need an integer
    ("a in ()", False),
])
def test_selector_grammar_is_the_api_servers(text: str, accepted: bool) -> None:
    """--selector and the sandbox share one parser, so they never disagree on what a server accepts."""
    from failsync.sandbox.selectors import SelectorError, parse_label_selector

    try:
        parse_label_selector(text)
        sandbox_accepts = True
    except SelectorError:
        sandbox_accepts = False
    try:
        parse_selector(text)
        cli_accepts = True
    except PolicyError:
        cli_accepts = False
    assert (cli_accepts, sandbox_accepts) == (accepted, accepted)


def test_greater_than_selects_integer_label_values() -> None:
    assert parse_selector("tier>1").matches({"tier": "2"})
    assert not parse_selector("tier>1").matches({"tier": "x"})
