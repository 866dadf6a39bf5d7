"""LIST: selectors, pagination and the List envelope, through raw HTTP, pykube and kubectl.

Covers: the List kind (`TrafficSplitList`, `ServiceList`), apiVersion and
metadata.resourceVersion; custom-resource items keep kind/apiVersion; the label selector
grammar (=, ==, !=, in, notin, exists, !exists, commas = AND, whitespace; `!=` and
`notin` match objects lacking the key) through raw queries, pykube dict selectors and
`kubectl get -l`; a malformed label selector is 400; field selectors on metadata.name
and metadata.namespace with =, == and !=, across namespaces; an unknown field is 400 with
the real message; limit/continue pagination (pages share the first page's
resourceVersion, the last page has an empty continue, every object exactly once), a
malformed continue token is 400; `kubectl get` (which pages with limit=500) lists all.
"""
from __future__ import annotations

import json

import pykube
import pytest

from tests.integration.conformance.support import (SPLIT_GROUP, assert_status, call, create,
                                                   split_path, traffic_split)

LABELS = {
    "a": {"env": "prod", "tier": "web"},
    "b": {"env": "staging", "tier": "web"},
    "c": {"env": "prod"},
    "d": {"env": "dev", "tier": "db"},
    "e": {},
}


@pytest.fixture(scope="module")
def labelled(api) -> str:
    """A namespace holding five TrafficSplits a..e labelled as in LABELS."""
    namespace = "list-labels"
    create(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for name, labels in LABELS.items():
        create(api, traffic_split(namespace, name, labels=labels))
    return namespace


def names(listing: dict) -> list[str]:
    return sorted(item["metadata"]["name"] for item in listing["items"])


SELECTORS = [
    ("env=prod", "ac"),
    ("env==prod", "ac"),
    ("env!=prod", "bde"),
    ("env in (prod,staging)", "abc"),
    ("env notin (prod,staging)", "de"),
    ("tier", "abd"),
    ("!tier", "ce"),
    ("env=prod,tier", "a"),
    ("env in (prod, dev), !tier", "c"),
    (" env = prod , tier != web ", "c"),
    ("tier notin (web),env!=dev", "ce"),
    ("", "abcde"),
]


@pytest.mark.parametrize("selector, expected", SELECTORS, ids=[s or "empty" for s, _ in SELECTORS])
def test_label_selector_grammar_matches_like_the_real_server(api, labelled, selector, expected):
    response = call(api, "GET", split_path(labelled), params={"labelSelector": selector})
    assert response.status_code == 200, response.text
    assert names(response.json()) == list(expected)


def test_list_envelope_has_kind_version_and_resource_version(api, labelled):
    listing = call(api, "GET", split_path(labelled)).json()
    assert listing["kind"] == "TrafficSplitList"
    assert listing["apiVersion"] == f"{SPLIT_GROUP}/v1alpha4"
    newest = max(int(item["metadata"]["resourceVersion"]) for item in listing["items"])
    assert int(listing["metadata"]["resourceVersion"]) >= newest
    assert all(item["kind"] == "TrafficSplit" for item in listing["items"])
    services = call(api, "GET", "/api/v1/services").json()
    assert services["kind"] == "ServiceList" and services["apiVersion"] == "v1"


def test_pykube_dict_selectors_use_the_same_grammar(api, labelled):
    split = pykube.object_factory(api, f"{SPLIT_GROUP}/v1alpha4", "TrafficSplit")
    query = split.objects(api, namespace=labelled)

    def matched(selector: dict) -> str:
        return "".join(sorted(obj.name for obj in query.filter(selector=selector)))

    assert matched({"env": "prod"}) == "ac"
    assert matched({"env__neq": "prod"}) == "bde"
    assert matched({"env__in": {"prod", "dev"}}) == "acd"
    assert matched({"tier__notin": {"web"}, "env": "prod"}) == "c"


def test_kubectl_get_with_label_selector(kubectl, labelled):
    code, out, err = kubectl("-n", labelled, "get", "ts", "-l", "env in (prod,staging),tier",
                             "-o", "jsonpath={.items[*].metadata.name}")
    assert code == 0, err
    assert out.split() == ["a", "b"]


@pytest.mark.parametrize("selector", ["env in prod", "env=(", "=prod", "env notin"])
def test_malformed_label_selector_is_400(api, labelled, selector):
    assert_status(call(api, "GET", split_path(labelled), params={"labelSelector": selector}), 400, "BadRequest")


def test_field_selectors_on_name_and_namespace(api, labelled, namespace):
    create(api, traffic_split(namespace, "a"))
    by_name = call(api, "GET", split_path(None), params={"fieldSelector": "metadata.name=a"}).json()
    assert sorted((i["metadata"]["namespace"], i["metadata"]["name"]) for i in by_name["items"]) == \
        sorted([(labelled, "a"), (namespace, "a")])
    both = call(api, "GET", split_path(None),
                params={"fieldSelector": f"metadata.name==a,metadata.namespace={namespace}"}).json()
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in both["items"]] == [(namespace, "a")]
    others = call(api, "GET", split_path(labelled), params={"fieldSelector": "metadata.name!=a"}).json()
    assert names(others) == ["b", "c", "d", "e"]


def test_field_and_label_selectors_combine(api, labelled):
    response = call(api, "GET", split_path(labelled),
                    params={"labelSelector": "env=prod", "fieldSelector": "metadata.name!=a"})
    assert names(response.json()) == ["c"]


def test_unknown_field_selector_is_400_with_the_real_message(api, labelled):
    status = assert_status(call(api, "GET", split_path(labelled), params={"fieldSelector": "spec.service=x"}),
                           400, "BadRequest")
    assert '"spec.service" is not a known field selector: only "metadata.name", "metadata.namespace"' \
        in status["message"], status


def test_kubectl_get_with_field_selector(kubectl, labelled):
    code, out, err = kubectl("get", "ts", "-A", "--field-selector", f"metadata.namespace={labelled},metadata.name=d",
                             "-o", "json")
    assert code == 0, err
    assert [i["metadata"]["name"] for i in json.loads(out)["items"]] == ["d"]


def test_limit_and_continue_page_through_every_object_once(api, labelled):
    seen, versions, pages = [], set(), 0
    params = {"limit": "2"}
    while True:
        page = call(api, "GET", split_path(labelled), params=params).json()
        pages += 1
        assert len(page["items"]) <= 2
        seen += [item["metadata"]["name"] for item in page["items"]]
        versions.add(page["metadata"]["resourceVersion"])
        token = page["metadata"].get("continue", "")
        if not token:
            break
        params = {"limit": "2", "continue": token}
        assert pages < 10
    assert sorted(seen) == sorted(LABELS) and len(seen) == len(set(seen))
    assert pages == 3
    assert len(versions) == 1


def test_pages_keep_their_snapshot_version_while_objects_change(api, labelled, namespace):
    for name in "pqrs":
        create(api, traffic_split(namespace, name))
    first = call(api, "GET", split_path(namespace), params={"limit": "2"}).json()
    create(api, traffic_split(namespace, "t"))
    second = call(api, "GET", split_path(namespace),
                  params={"limit": "2", "continue": first["metadata"]["continue"]}).json()
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]


def test_malformed_continue_token_is_400(api, labelled):
    status = assert_status(call(api, "GET", split_path(labelled), params={"limit": "2", "continue": "garbage!"}),
                           400, "BadRequest")
    assert "continue" in status["message"], status


def test_kubectl_get_lists_everything_across_pages(kubectl, labelled):
    code, out, err = kubectl("-n", labelled, "get", "ts", "--chunk-size=2", "-o", "json")
    assert code == 0, err
    assert sorted(i["metadata"]["name"] for i in json.loads(out)["items"]) == sorted(LABELS)
    code, out, err = kubectl("-n", labelled, "get", "ts")
    assert code == 0, err
    assert out.splitlines()[0].split()[0] == "NAME"
    assert sorted(line.split()[0] for line in out.splitlines()[1:]) == sorted(LABELS)
