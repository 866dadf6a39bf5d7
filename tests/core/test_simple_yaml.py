"""The fast reader for plain policy YAML agrees with PyYAML or steps aside.

Covers:
- a typical policy file (several documents, comments, an indentless list, quoted and
  typed scalars) reads to exactly PyYAML's values, and every key path to its line;
- YAML outside the simple subset (flow mappings, anchors, multi-line scalars, tabs,
  duplicate keys, non-string keys, bad indentation) is declined (None), never misread;
- on generated block YAML, whenever the reader answers, PyYAML reads the same values
  and lines;
- lines repeated across documents and files (remembered by the reader) read the same
  every time, and an empty ``{}``/``[]`` value is a new object in every document.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from failsync.core.policy_schema import PolicyDocument
from failsync.core.simple_yaml import full_loader, simple_documents


def _pyyaml(text: str) -> list[tuple[Any, dict[str, int]]]:
    """What the PyYAML path of failsync.core.policies reads: values and key-path lines."""
    documents = []
    for node in yaml.compose_all(text, Loader=full_loader()):
        if node is None:
            continue
        document = PolicyDocument("f.yaml", root=node)
        data = document.convert(node, "")
        if data is None:  # an empty document, skipped like parse_policies does
            continue
        assert not document.errors
        documents.append((data, dict(document.lines)))
    return documents


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


POLICY_FILE = """\
# two policies
apiVersion: failsync.io/v1alpha1
kind: FailoverPolicy
metadata:
  name: web-svc-failover   # the TrafficSplit's name
  namespace: emojivoto
  labels: {}
  annotations: {team: "web", tier: front-end}
spec:
  service: web-svc
  fallbacks:
  - service: web-svc-east
  - service: 'web-svc-central'
    priority: 2
  health:
    minReady: 10
    factor: -1.5
    source: "auto"
  whenAllDown:
  reason: fail over to the east cluster, then back  # plain text with spaces
  note: "say \\"hi\\"\\tnow"
  'quoted key': 'it''s'
---
apiVersion: failsync.io/v1alpha1
metadata:
  labels:
    app.kubernetes.io/part-of: shop
    enabled: yes
spec:
  fallbacks:
    - service: b
    - c
"""


def test_a_policy_file_reads_to_pyyaml_values_and_lines() -> None:
    fast = simple_documents(POLICY_FILE)
    assert fast is not None
    reference = _pyyaml(POLICY_FILE)
    assert len(fast) == len(reference) == 2
    for (data, lines), (expected_data, expected_lines) in zip(fast, reference):
        assert _same(data, expected_data)
        assert lines == expected_lines
    assert fast[0][0]["spec"]["health"]["factor"] == -1.5


def test_a_kubeconfig_with_urls_reads_without_pyyaml() -> None:
    text = ("apiVersion: v1\nclusters:\n- name: west\n  cluster:\n    server: https://10.0.0.1:6443\n"
            "    insecure-skip-tls-verify: true\ncurrent-context: west\npreferences: {}\n")
    fast = simple_documents(text)
    assert fast is not None and [data for data, _ in fast] == [yaml.safe_load(text)]


def test_repeated_lines_read_the_same_and_empty_collections_are_not_shared() -> None:
    text = "a: {}\nb: []\nc: 1\nd:\n  - {}\n---\na: {}\nb: []\nc: 1\nd:\n  - {}\n"
    first = simple_documents(text)
    second = simple_documents(text)
    assert first is not None and second is not None
    documents = [data for data, _lines in first + second]
    assert documents == [{"a": {}, "b": [], "c": 1, "d": [{}]}] * 4
    containers = [id(value) for data in documents for value in (data["a"], data["b"], data["d"][0])]
    assert len(set(containers)) == len(containers)


@pytest.mark.parametrize("text", [
    "a: {b: {c: 1}}\n",
    "a: [1, 2]\n",
    "a: {b: 1, b: 2}\n",
    "a: {b: x: y}\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: one\n  two\n",
    "a: |\n  text\n",
    "a:\tb\n",
    "a: b\na: c\n",
    "yes: b\n",
    "a:\n    b: 1\n  c: 2\n",
    "a:\n  - b\n   - c\n",
    "- a\n- b\n",
    "just text\n",
    "a: \"esc\\u00e9\"\n",
    "a: 1:30\n",  # YAML 1.1 sexagesimal (90): the rarer numbers and timestamps are PyYAML's
    "a: .5\n",
    "a: 10.0.0.1\n",
    "a: 2001-12-14 21:59:43.10 -5\n",
    "a: b#c\n",
    "a: -\n",
    "a: @b\n",
    "a: caf\u00e9\n",
    "a: b\r\n",
    "a: b: c\n",
    "--- a: b\n",
])
def test_yaml_outside_the_simple_subset_is_declined(text: str) -> None:
    assert simple_documents(text) is None


_KEYS = st.sampled_from(["a", "b", "name", "a.b", "x/y", "k-1", "service", "'quoted key'", '"q"'])
# Scalars as people write them: words, text with spaces, quoted strings (with escapes), numbers,
# booleans, nulls, dates, empty collections, a trailing comment.
_VALUES = st.sampled_from(["x", "1", "010", "0x1f", "1.5", "yes", "No", "null", "'q'", '"d d"', "{}",
                           "[]", "2001-12-14", "1_000", "0", "true", "x # c", "a b", "-1", "~",
                           "fail over to east, then back", "'it''s'", '"say \\"hi\\""', '"tab\\tx"',
                           "web-svc.emojivoto.svc", "(draft) v2", "30s", "'#not a comment'", '"k: v"',
                           "{tier: frontend, owner: web-team}", "{service: web-east}", "{a: 1,b: 'x y' }",
                           '{ "q k": yes }', "https://10.0.0.1:6443", "-1.5", "0x1f"])
_DECORATION = st.sampled_from([[], [], [], ["# note"], [""], ["    # indented note"]])


@st.composite
def _mapping(draw: st.DrawFn, depth: int = 0, indent: int = 0, *, keys: st.SearchStrategy[str] = _KEYS,
             values: st.SearchStrategy[str] = _VALUES, decoration: st.SearchStrategy[list[str]] = _DECORATION,
             distinct: bool = True) -> list[str]:
    """A block mapping at ``indent``: keys (``distinct``: no duplicates), each a scalar, null, mapping
    or list; ``decoration`` (comments, blank or stray lines) after each."""
    lines = []
    if distinct:
        chosen = draw(st.lists(keys, min_size=1, max_size=3, unique_by=lambda key: key.strip("'\"")))
    else:
        chosen = [draw(keys) for _ in range(draw(st.integers(1, 3)))]
    options = {"keys": keys, "values": values, "decoration": decoration, "distinct": distinct}
    for key in chosen:
        pad = " " * indent
        shape = draw(st.sampled_from(["value", "empty", "mapping", "sequence"] if depth < 2 else ["value"]))
        if shape == "value":
            lines.append(f"{pad}{key}: {draw(values)}")
        elif shape == "empty":
            lines.append(f"{pad}{key}:")
        elif shape == "mapping":
            lines.append(f"{pad}{key}:")
            lines += draw(_mapping(depth + 1, indent + draw(st.sampled_from([1, 2, 4])), **options))
        else:
            lines.append(f"{pad}{key}:")
            item_indent = indent + draw(st.sampled_from([0, 2, 3]))
            for _ in range(draw(st.integers(1, 3))):
                if draw(st.booleans()):
                    lines.append(f"{' ' * item_indent}- {draw(values)}")
                else:  # a list of mappings, the first key on the dash line
                    entry = draw(_mapping(depth + 1, item_indent + 2, **options))
                    lines += [f"{' ' * item_indent}- {entry[0].lstrip()}", *entry[1:]]
        lines += draw(decoration)
    return lines


@st.composite
def _person_written(draw: st.DrawFn) -> list[str]:
    """One to three documents separated by ``---``, maybe opened by a comment."""
    documents = draw(st.lists(_mapping(), min_size=1, max_size=3))
    lines = draw(st.sampled_from([[], ["# policies"]]))
    for index, document in enumerate(documents):
        lines += (["---"] if index else []) + document
    return lines


def test_the_reader_answers_on_person_written_yaml_as_pyyaml_reads_it() -> None:
    """Whenever the reader answers it agrees with PyYAML, and it answers on at least 80 % of the
    generated YAML (the share is printed; derandomized, so the figure is the same every run)."""
    counts = {"answered": 0, "all": 0}

    @settings(max_examples=400, deadline=None, derandomize=True, database=None)
    @given(_person_written())
    def compare(lines: list[str]) -> None:
        text = "\n".join(lines) + "\n"
        fast = simple_documents(text)
        counts["all"] += 1
        if fast is None:
            return
        counts["answered"] += 1
        reference = _pyyaml(text)
        assert len(fast) == len(reference)
        for (data, paths), (expected_data, expected_paths) in zip(fast, reference):
            assert _same(data, expected_data)
            assert paths == expected_paths

    compare()
    share = counts["answered"] / counts["all"]
    print(f"fast reader answered on {share:.0%} of {counts['all']} generated inputs")
    assert share >= 0.8, f"the fast reader answered on only {share:.0%} of {counts['all']} generated inputs"


# Anything goes (bad indentation, non-string and duplicate keys, stray lines): no misreads.
_ANY_KEYS = st.sampled_from(["a", "b", "name", "a.b", "x/y", "k-1", "on", "1", "'q k'"])
_ANY_VALUES = st.one_of(_VALUES, st.sampled_from(["x:y", "a#b", "-", "@x", '"\\u00e9"', "'a'b", "--- x", "..."]))


_any_block_yaml = _mapping(keys=_ANY_KEYS, values=_ANY_VALUES, distinct=False,
                          decoration=st.sampled_from([[], [], ["# note"], [""], ["---"], ["   x: 1"]]))


@settings(max_examples=400, deadline=None)
@given(_any_block_yaml)
def test_on_any_block_yaml_the_reader_reads_as_pyyaml_or_declines(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    fast = simple_documents(text)
    if fast is None:
        return
    reference = _pyyaml(text)
    assert len(fast) == len(reference)
    for (data, paths), (expected_data, expected_paths) in zip(fast, reference):
        assert _same(data, expected_data)
        assert paths == expected_paths
