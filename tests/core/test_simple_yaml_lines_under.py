"""The fast reader's ``lines_under``: only some key paths' lines, the same values.

Covers:
- with ``lines_under``, the lines given are those of the full reading, for the document and the
  keys of the mappings at the paths asked for (what places a policy: ``metadata.name``), nothing
  deeper, and the values read are the same;
- on generated block YAML the partial lines never disagree with the full ones;
- a policy loaded from a file is placed at its ``metadata.name`` line either way.
"""

from __future__ import annotations

from hypothesis import given, settings

from failsync.core.policies import parse_policies
from failsync.core.simple_yaml import simple_documents
from tests.core.test_simple_yaml import POLICY_FILE, _person_written

PLACING = frozenset({"", "metadata"})


def test_only_the_document_and_the_keys_under_the_paths_asked_for_have_lines() -> None:
    full = simple_documents(POLICY_FILE)
    partial = simple_documents(POLICY_FILE, PLACING)
    assert full is not None and partial is not None
    assert [data for data, _ in partial] == [data for data, _ in full]
    (_, first), (_, second) = partial
    assert set(first) == {"", "apiVersion", "kind", "metadata", "metadata.name", "metadata.namespace",
                          "metadata.labels", "metadata.annotations", "spec"}
    assert set(second) == {"", "apiVersion", "metadata", "metadata.labels", "spec"}
    for (_, lines), (_, all_lines) in zip(partial, full):
        assert lines == {path: all_lines[path] for path in lines}


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(_person_written())
def test_partial_lines_agree_with_the_full_reading(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    full = simple_documents(text)
    partial = simple_documents(text, frozenset({"", "a", "name"}))
    assert (full is None) == (partial is None)
    if full is None or partial is None:
        return
    for (data, some), (all_data, every) in zip(partial, full):
        assert data == all_data
        assert some == {path: every[path] for path in some}
        assert {path for path in every if "." not in path and "[" not in path} <= some.keys()  # root keys


def test_a_policy_is_placed_at_its_name_line() -> None:
    text = "# a policy\napiVersion: failsync.io/v1alpha1\nkind: FailoverPolicy\nmetadata:\n" \
           "  namespace: shop\n  name: web\nspec:\n  service: web\n  fallbacks:\n  - service: web-east\n"
    (policy,) = parse_policies(text, "p.yaml").policies
    assert (policy.location.file, policy.location.line) == ("p.yaml", 6)  # type: ignore[union-attr]
