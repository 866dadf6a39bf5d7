"""The swagger 2.0 document in the protobuf form kubectl downloads (gnostic ``openapi.v2.Document``).

client-go asks ``/openapi/v2`` for ``application/com.github.proto-openapi.spec.v2@v1.0+protobuf``
and unmarshals the answer as that message; kubectl cannot validate (so refuses to apply or
create) without it. Owns: encoding the parts of the document kubectl reads: info,
definitions (every Schema field the definitions use, vendor extensions as YAML, which
JSON is) and empty paths. Never does: decoding, or the document's content (``openapi``).
"""

from __future__ import annotations

import json
import struct
from typing import Any

CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string(number: int, value: str) -> bytes:
    return _bytes(number, value.encode()) if value else b""


def _bool(number: int, value: Any) -> bytes:
    return _varint(number << 3) + b"\x01" if value else b""


def _int(number: int, value: Any) -> bytes:
    return _varint(number << 3) + _varint(int(value)) if value is not None else b""


def _double(number: int, value: Any) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", float(value)) if value is not None else b""


def _any(number: int, value: Any) -> bytes:
    """An ``openapi.v2.Any`` holding the value as YAML (JSON is YAML)."""
    return _bytes(number, _string(2, json.dumps(value)))


def _vendor_extensions(number: int, node: dict) -> bytes:
    return b"".join(_bytes(number, _string(1, key) + _any(2, value))
                    for key, value in node.items() if key.startswith("x-"))


def schema(node: dict) -> bytes:
    """One ``openapi.v2.Schema``."""
    out = [_string(1, node.get("$ref", "")), _string(2, node.get("format", "")), _string(3, node.get("title", "")),
           _string(4, node.get("description", ""))]
    if "default" in node:
        out.append(_any(5, node["default"]))
    out += [_double(6, node.get("multipleOf")), _double(7, node.get("maximum")),
            _bool(8, node.get("exclusiveMaximum")), _double(9, node.get("minimum")),
            _bool(10, node.get("exclusiveMinimum")), _int(11, node.get("maxLength")), _int(12, node.get("minLength")),
            _string(13, node.get("pattern", "")), _int(14, node.get("maxItems")), _int(15, node.get("minItems")),
            _bool(16, node.get("uniqueItems")), _int(17, node.get("maxProperties")),
            _int(18, node.get("minProperties"))]
    out += [_string(19, key) for key in node.get("required") or ()]
    out += [_any(20, value) for value in node.get("enum") or ()]
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        out.append(_bytes(21, _bytes(1, schema(additional))))
    elif isinstance(additional, bool):
        out.append(_bytes(21, _varint(2 << 3) + (b"\x01" if additional else b"\x00")))
    if node.get("type"):
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        out.append(_bytes(22, b"".join(_string(1, t) for t in types)))
    items = node.get("items")
    if isinstance(items, dict):
        out.append(_bytes(23, _bytes(1, schema(items))))
    out += [_bytes(24, schema(part)) for part in node.get("allOf") or () if isinstance(part, dict)]
    properties = node.get("properties")
    if isinstance(properties, dict):
        out.append(_bytes(25, b"".join(_bytes(1, _string(1, name) + _bytes(2, schema(child)))
                                       for name, child in properties.items() if isinstance(child, dict))))
    out.append(_vendor_extensions(31, node))
    return b"".join(out)


def document(doc: dict) -> bytes:
    """The whole ``openapi.v2.Document``."""
    info = doc.get("info") or {}
    definitions = b"".join(_bytes(1, _string(1, name) + _bytes(2, schema(body)))
                           for name, body in (doc.get("definitions") or {}).items())
    return b"".join([_string(1, doc.get("swagger", "2.0")),
                     _bytes(2, _string(1, info.get("title", "")) + _string(2, info.get("version", ""))),
                     _bytes(8, b""), _bytes(9, definitions)])
