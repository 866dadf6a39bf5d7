"""A fast reader for the plain block YAML that policy files are almost always written in.

Owns: turning text made only of simple lines (``key: value``, ``key:``, ``- key: value``,
``- value``, comments, ``---``; values plain on one line, text with spaces included,
quoted, or a one-line flow mapping of such scalars; keys plain or quoted) into the same plain values PyYAML's safe loader gives,
plus the line of every key path. It never reports errors: on anything outside that
subset (flow sequences other than ``[]``, nested flow collections, anchors, tags, multi-line scalars,
plain scalars holding ``: `` or ``#``, escapes beyond the ASCII ones, tabs, non-ASCII text,
odd indentation, duplicate keys...) it answers None and the caller parses with PyYAML,
which stays the authority on YAML.

Why: PyYAML builds a node with two marks per value; for 10,000 policies that was
most of ``failsync render``'s time. Plain scalars are typed as YAML 1.1 (PyYAML's
resolver) types them: ``2`` is an int, ``yes`` a bool, ``~`` null; any other plain scalar
that could be a number or a date other than a decimal int or float (it starts with a
digit, a sign or a dot: ``010``, ``0x1f``, ``1_000``, ``.5``, ``2024-01-01``) is left to PyYAML. So this module does not import PyYAML: a
one-shot command whose files all read here never pays for it (~12 ms).
"""

from __future__ import annotations

import functools
import re
from typing import Any

_SIMPLE_TEXT = re.compile(r"[\n\x20-\x7e]*\Z")  # printable ASCII: no tabs, CRs or control characters
_WORD = r"[A-Za-z0-9][A-Za-z0-9_./-]*"
# A plain scalar on one line: no ": " or " #" inside (so ':' only before a non-space, as in a URL,
# and no '#' at all, to stay simple), not starting with an indicator ('-' only before a non-space,
# as in -1); spaces inside, trailing ones not.
_PLAIN = r"(?:[A-Za-z0-9_./~(+]|-(?=[^ \n]))(?:[^\n:#]|:(?=[^ \n]))*?"
_SINGLE = r"'(?:[^'\n]|'')*'"
_DOUBLE = r'"(?:[^"\\\n]|\\.)*"'
_KEY = rf"{_WORD}|{_SINGLE}|{_DOUBLE}"
# A flow mapping of scalars on one line ({tier: frontend, owner: "web team"}): its plain values
# hold none of the flow indicators either.
_FLOW_PLAIN = r"(?:[A-Za-z0-9_./~(+]|-(?=[^ ,\n]))[^\n:#,\[\]{}]*?"
_FLOW_VALUE = rf"{_SINGLE}|{_DOUBLE}|{_FLOW_PLAIN}"
_FLOW_ENTRY = rf"(?:{_KEY}): +(?:{_FLOW_VALUE}) *"
_FLOW_MAPPING = rf"\{{ *(?:{_FLOW_ENTRY}(?:, *{_FLOW_ENTRY})*)?\}}"
_FLOW_ENTRIES = re.compile(rf" *(?P<key>{_KEY}): +(?P<value>{_FLOW_VALUE}) *(?:,|\Z)")
_VALUE = rf"{_SINGLE}|{_DOUBLE}|{_FLOW_MAPPING}|\[\]|{_PLAIN}"
_LINE = re.compile(  # "---" first: as a plain scalar it would read as one
    r"(?P<separator>---)\n"
    rf"|(?P<indent> *)(?P<dash>- )?(?:(?P<key>{_KEY}):(?: +(?P<value>{_VALUE}))?|(?P<item>{_VALUE}))"
    r" *(?: #[^\n]*)?\n"
    r"|(?P<blank> *(?:#[^\n]*)?)\n")
# The escapes of a double-quoted scalar that stay printable ASCII (others: the full parser).
_ESCAPES = {"\\": "\\", '"': '"', "/": "/", "n": "\n", "t": "\t", "r": "\r", "0": "\0", "a": "\a",
            "b": "\b", "e": "\x1b", "f": "\f", "v": "\v", " ": " "}
_ESCAPE = re.compile(r"\\(.)")
# The numbers people write, typed as YAML 1.1 types them (1.5e3 is text there: an exponent needs its sign).
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?\Z")
_INT = re.compile(r"[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|0[0-7_]+|[1-9][0-9_]*)\Z")  # 0b1, 0x1f, 010, 1_000
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
# YAML 1.1's implicit types of a plain scalar, by its text (PyYAML's resolver and constructor
# agree on these; the other typed forms all start with one of _NUMERIC_START).
_BOOLEANS = {**dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
             **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False)}
_NULLS = frozenset(("~", "null", "Null", "NULL"))
# Where YAML 1.1's numbers and timestamps start (the rarer ones, such as 1:30, .inf, 1_0.5 or
# 2024-01-01T10:00:00Z, are PyYAML's to read).
_NUMERIC_START = frozenset("-+.0123456789")
# Keys repeat in every document; remember which resolve to plain strings (bounded).
_STRING_KEYS: set[str] = set()
_STRING_KEYS_SIZE = 4096


_ABSENT = object()  # "key:" with nothing after it (unlike "key: null")
_BLANK = object()  # a blank or comment line
_SEPARATOR = object()  # "---"
# Lines already read, as Reader.line gives them (bounded; lines with {} or [] values are not kept).
_LINES: dict[str, Any] = {}
_LINES_SIZE = 8192


@functools.lru_cache(maxsize=1)
def full_loader() -> Any:
    """PyYAML's safe loader (its C one when built), imported on first use: the parser for what this
    module declines, for templates' YAML output and for timelines."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _NotSimple(Exception):
    """The text needs the full YAML parser."""


def _number(text: str) -> Any:
    """A plain scalar starting as a number does, as PyYAML's constructor builds it (else _NotSimple)."""
    if _FLOAT.match(text):
        return float(text)
    if _INT.match(text):
        value = text.replace("_", "")
        sign = -1 if value[0] == "-" else 1
        value = value.lstrip("+-")
        try:
            if value[:2] == "0b":
                return sign * int(value[2:], 2)
            if value[:2] == "0x":
                return sign * int(value[2:], 16)
            return sign * int(value, 8 if value[0] == "0" else 10)
        except ValueError:  # 0b_ or 0x_: digits only of underscores
            raise _NotSimple from None
    date = _DATE.match(text)
    if date:
        import datetime  # only for a date value

        try:
            return datetime.date(*map(int, date.groups()))
        except ValueError:  # 2024-13-01: PyYAML words the error
            raise _NotSimple from None
    raise _NotSimple  # 1:30, .5, 10.0.0.1...: PyYAML decides (a number, a timestamp or text)


# Deeper nesting is left to the full parser, which reports it as an error (and the
# recursion below stays far from Python's limit).
_MAX_DEPTH = 32


def simple_documents(text: str, lines_under: frozenset[str] | None = None
                     ) -> list[tuple[dict[str, Any], dict[str, int]]] | None:
    """Each non-empty document as (mapping, line of every key path), or None if not simple YAML.

    Key paths and lines are those ``failsync.core.policies`` reports: ``spec.fallbacks[0].service``.
    With ``lines_under``, only the document's line and those of the keys of the mappings (items
    of the lists) at these paths: enough to place a valid policy (wording every key path was
    up to a fifth of the reader's time).
    """
    if not _SIMPLE_TEXT.match(text):
        return None
    if text and not text.endswith("\n"):
        text += "\n"
    try:
        return _Reader(text, lines_under).documents()
    except _NotSimple:
        return None


class _Reader:
    def __init__(self, text: str, lines_under: frozenset[str] | None = None) -> None:
        self.text = text
        self.lines_under = lines_under
        self.depth = 0

    def documents(self) -> list[tuple[dict[str, Any], dict[str, int]]]:
        # Every content line of the text: (line number, indent, dash, key, value or None, item).
        documents: list[list[tuple[int, int, bool, str | None, Any, Any]]] = [[]]
        lines = self.text.split("\n")
        lines.pop()  # the text ends with a newline
        known, read = _LINES, self.line
        current = documents[0]
        for number, line in enumerate(lines, 1):
            entry: Any = known.get(line)
            if entry is None:
                # A comment at column 1 is a comment wherever the reader answers (it declines block
                # scalars and multi-line values); it often names its policy, so it would not repeat.
                entry = _BLANK if line[:1] == "#" else read(line)
            if entry is _BLANK:
                continue
            if entry is _SEPARATOR:
                current = []
                documents.append(current)
                continue
            current.append((number,) + entry)  # cheaper than (number, *entry)
        return [self.document(content) for content in documents if content]

    def line(self, line: str) -> tuple[int, bool, str | None, Any, Any]:
        """One line as (indent, dash, key, value or None, item), or ``_BLANK`` / ``_SEPARATOR``."""
        found = _LINE.match(line + "\n")
        if found is None:
            raise _NotSimple
        separator, indent, dash, key, value, item, blank = found.groups()
        scalar: Any = None
        if blank is not None:
            entry: Any = _BLANK
        elif separator is not None:
            entry = _SEPARATOR
        elif key is not None:
            scalar = _ABSENT if value is None else self.scalar(value)
            entry = (len(indent), dash is not None, self.key(key), scalar, None)
        elif dash is not None:
            scalar = self.scalar(item)
            entry = (len(indent), True, None, None, scalar)
        else:
            raise _NotSimple  # a bare scalar document
        # Lines repeat across documents (apiVersion, kind, namespaces, targets...): remember
        # them, except {} and [] values, which every document must get afresh.
        if type(scalar) is not dict and type(scalar) is not list and len(_LINES) < _LINES_SIZE:
            _LINES[line] = entry
        return entry  # type: ignore[no-any-return]  # a tuple or one of the markers

    def key(self, text: str) -> str:
        if text[0] == '"' or text[0] == "'":
            return self.quoted(text)  # a quoted key is a string whatever it spells
        if text not in _STRING_KEYS:
            if text[0] in _NUMERIC_START or text in _BOOLEANS or text in _NULLS:
                raise _NotSimple  # keys such as yes, 1 or null are not strings
            if len(_STRING_KEYS) < _STRING_KEYS_SIZE:
                _STRING_KEYS.add(text)
        return text

    @staticmethod
    def quoted(text: str) -> str:
        inner = text[1:-1]
        if text[0] == "'":
            return inner.replace("''", "'")
        if "\\" not in inner:
            return inner

        def unescape(found: re.Match[str]) -> str:
            replacement = _ESCAPES.get(found.group(1))
            if replacement is None:
                raise _NotSimple  # \x, \u, a line break...: the full parser knows them
            return replacement

        return _ESCAPE.sub(unescape, inner)

    def flow_mapping(self, text: str) -> dict[str, Any]:
        """``{k: v, ...}`` (the line pattern checked its shape): its keys and scalar values."""
        inner = text[1:-1].strip()
        mapping: dict[str, Any] = {}
        position = 0
        while position < len(inner):
            found = _FLOW_ENTRIES.match(inner, position)
            if found is None:
                raise _NotSimple
            key = self.key(found.group("key"))
            if key in mapping:
                raise _NotSimple  # a duplicate key: the full parser reports it
            mapping[key] = self.scalar(found.group("value"))
            position = found.end()
        return mapping

    def scalar(self, text: str) -> Any:
        first = text[0]
        if first == '"' or first == "'":
            return self.quoted(text)
        if first == "{":
            return self.flow_mapping(text)
        if first == "[":
            return []
        if first in _NUMERIC_START:
            return int(text) if _DECIMAL.match(text) else _number(text)
        if text in _NULLS:
            return None
        return _BOOLEANS.get(text, text)

    def document(self, lines: list[tuple[int, int, bool, str | None, Any, Any]]
                 ) -> tuple[dict[str, Any], dict[str, int]]:
        number, indent, dash, key, _value, _item = lines[0]
        if indent or dash or key is None:
            raise _NotSimple  # the root must be a mapping at column 1
        paths: dict[str, int] = {"": number}
        root: dict[str, Any] = {}
        after = self.block(lines, 0, 0, root, "", paths)
        if after != len(lines):
            raise _NotSimple
        return root, paths

    def block(self, lines: list[Any], index: int, indent: int, mapping: dict[str, Any], path: str,
              paths: dict[str, int]) -> int:
        """Read the keys of ``mapping`` at column ``indent`` from ``lines[index]``; return the next index.

        A sequence item's mapping starts on its dash line (``- key: value``), two columns in.
        Key paths are built only where lines are recorded; elsewhere ``path`` is an outer one,
        which no recorded path equals (the caller records below a path only if it is itself recorded).
        """
        wanted = self.lines_under
        record = wanted is None or path in wanted
        count = len(lines)
        first = True
        while index < count:
            number, line_indent, dash, key, value, _item = lines[index]
            if line_indent < indent and not (first and dash):
                return index  # the enclosing block goes on (or the caller finds bad indentation)
            if (dash and not first) or (line_indent + 2 if dash else line_indent) != indent:
                raise _NotSimple
            if key is None or key in mapping:
                raise _NotSimple  # a scalar among keys, or a duplicate key
            first = False
            child = path
            if record:
                child = f"{path}.{key}" if path else key
                paths[child] = number
            index += 1
            if value is not _ABSENT:
                mapping[key] = value
                if type(value) is dict and (wanted is None or record and child in wanted):
                    # a flow mapping: its keys are on this line
                    for inner in value:
                        paths[f"{child}.{inner}"] = number
                continue
            # "key:" alone: a nested mapping or sequence follows, or the value is null.
            following = lines[index] if index < count else None
            if following is None or following[1] < indent or (following[1] == indent and not following[2]):
                mapping[key] = None
            elif following[2]:
                items: list[Any] = []
                mapping[key] = items
                index = self.sequence(lines, index, following[1], items, child, paths)
            else:
                nested: dict[str, Any] = {}
                mapping[key] = nested
                self.depth += 1
                if self.depth > _MAX_DEPTH:
                    raise _NotSimple
                index = self.block(lines, index, following[1], nested, child, paths)
                self.depth -= 1
        return index

    def sequence(self, lines: list[Any], index: int, indent: int, items: list[Any], path: str,
                 paths: dict[str, int]) -> int:
        """Read ``- ...`` items at ``indent`` from ``lines[index]``; return the next index (paths as ``block``)."""
        record = self.lines_under is None or path in self.lines_under
        count = len(lines)
        while index < count:
            number, line_indent, dash, key, _value, item = lines[index]
            if line_indent != indent or not dash:
                if line_indent > indent:
                    raise _NotSimple
                return index
            item_path = path
            if record:
                item_path = f"{path}[{len(items)}]"
                paths.setdefault(item_path, number)  # as PolicyDocument.lines: a dotted key may have named it first
            if key is None:
                items.append(item)
                if type(item) is dict and (self.lines_under is None or record and item_path in self.lines_under):
                    # - {service: web-east}
                    for inner in item:
                        paths[f"{item_path}.{inner}"] = number
                index += 1
            else:
                entry: dict[str, Any] = {}
                items.append(entry)
                self.depth += 1
                if self.depth > _MAX_DEPTH:
                    raise _NotSimple
                index = self.block(lines, index, indent + 2, entry, item_path, paths)
                self.depth -= 1
        return index
