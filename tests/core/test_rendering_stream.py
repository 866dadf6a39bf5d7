"""``to_yaml_documents``: the multi-document stream ``failsync render`` prints.

Covers: it is exactly each object's ``to_yaml`` opened by ``---`` (mappings, a scalar, an empty
mapping), PyYAML reads the objects back in order, and no object gives no text.
"""

from __future__ import annotations

from typing import Any

import yaml

from failsync.core.rendering import to_yaml, to_yaml_documents

OBJECTS: list[Any] = [
    {"apiVersion": "v1", "kind": "A", "metadata": {"name": "a", "labels": {"x": "1"}},
     "spec": {"backends": [{"service": "web", "weight": 1}, {"service": "web-east", "weight": 0}], "empty": []}},
    {},
    "plain text",
    {"b": [[1, 2], {"c": None}]},
]


def test_the_stream_is_each_objects_yaml_after_a_separator() -> None:
    text = to_yaml_documents(OBJECTS)
    assert text == "".join(f"---\n{to_yaml(obj)}" for obj in OBJECTS)
    assert list(yaml.safe_load_all(text)) == OBJECTS


def test_no_objects_no_text() -> None:
    assert to_yaml_documents([]) == ""
