"""Label and field selector grammar of the sandbox.

Covers: every labelSelector operator (=, ==, !=, in, notin, exists, !exists, >, <), AND by comma
with whitespace, `!=`/`notin` matching objects without the key, parse errors (400 text),
fieldSelector on metadata fields and Event fields, unknown fields rejected with the real message.
"""

import pytest

from failsync.sandbox.selectors import (SelectorError, fields_match, labels_match, parse_field_selector,
                                        parse_label_selector)

LABELS = {"app": "web", "tier": "front", "version": "3"}


@pytest.mark.parametrize("selector, matches", [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app=api", False),
    ("app!=api", True),
    ("missing!=x", True),
    ("app in (web, api)", True),
    ("app in (api)", False),
    ("app notin (api,db)", True),
    ("missing notin (a)", True),
    ("app", True),
    ("!app", False),
    ("!missing", True),
    ("version>2", True),
    ("version<3", False),
    ("app = web , tier in (front)", True),
    ("app=web,tier=back", False),
    ("example.com/team=x", False),
], ids=lambda value: str(value))
def test_label_selector_matches_like_apimachinery(selector, matches):
    assert labels_match(parse_label_selector(selector), LABELS) is matches


@pytest.mark.parametrize("selector", ["app in web", "app=(x", "=web", "app in (a b)", "a,,b", "app=a b"])
def test_malformed_label_selector_is_a_parse_error(selector):
    with pytest.raises(SelectorError):
        parse_label_selector(selector)


def test_empty_value_after_equals_selects_empty_label_value():
    assert labels_match(parse_label_selector("app="), {"app": ""})


def test_field_selector_matches_name_and_namespace():
    obj = {"metadata": {"name": "web", "namespace": "prod"}}
    assert fields_match(parse_field_selector("metadata.name=web,metadata.namespace==prod", "core/services"), obj)
    assert not fields_match(parse_field_selector("metadata.name!=web", "core/services"), obj)


def test_event_field_selector_reads_involved_object():
    event = {"metadata": {"name": "e", "namespace": "d"}, "involvedObject": {"kind": "Pod", "name": "p"},
             "reason": "Killing", "type": "Normal", "source": {"component": "kubelet"}}
    selector = parse_field_selector("involvedObject.kind=Pod,reason=Killing,source=kubelet", "core/events")
    assert fields_match(selector, event)


def test_unknown_field_is_rejected_with_the_real_message():
    with pytest.raises(SelectorError, match=r'"foo.bar" is not a known field selector: only "metadata.name", '
                                            r'"metadata.namespace"'):
        parse_field_selector("foo.bar=x", "apps/deployments")
