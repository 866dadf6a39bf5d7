"""Just enough of the Kubernetes protobuf encoding to accept what kubectl sends as protobuf.

``kubectl create namespace X`` posts an ``application/vnd.kubernetes.protobuf`` body (the
``k8s\\0`` envelope around a Namespace). This module decodes that envelope, the object's
ObjectMeta (name, generateName, namespace, labels, annotations) and a Namespace's
spec.finalizers. Other kinds are refused (the caller answers 415): their specs are not decoded.
Never does: encoding (the sandbox always answers JSON, which kubectl also accepts).
"""

from __future__ import annotations

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """A body this decoder cannot read."""


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def fields(data: bytes) -> list[tuple[int, object]]:
    """(field number, value) pairs of one message; length-delimited values stay bytes."""
    found, position = [], 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(data, position)
        elif wire == 2:
            length, position = _varint(data, position)
            value, position = data[position:position + length], position + length
        elif wire == 1:
            value, position = data[position:position + 8], position + 8
        elif wire == 5:
            value, position = data[position:position + 4], position + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        found.append((number, value))
    return found


def _text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _string_map(entries: list[bytes]) -> dict[str, str]:
    result = {}
    for entry in entries:
        parts = dict(fields(entry))
        result[_text(parts.get(1, b""))] = _text(parts.get(2, b""))
    return result


def _object_meta(data: bytes) -> dict:
    metadata: dict = {}
    labels, annotations = [], []
    for number, value in fields(data):
        if number in (1, 2, 3):
            metadata[{1: "name", 2: "generateName", 3: "namespace"}[number]] = _text(value)
        elif number == 11:
            labels.append(value)
        elif number == 12:
            annotations.append(value)
    if labels:
        metadata["labels"] = _string_map(labels)
    if annotations:
        metadata["annotations"] = _string_map(annotations)
    return metadata


def decode(body: bytes) -> dict:
    """A JSON-shaped object from a protobuf body; ProtobufError for kinds it cannot decode."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf envelope")
    envelope = dict(fields(body[len(MAGIC):]))
    type_meta = {number: _text(value) for number, value in fields(envelope.get(1, b""))}  # type: ignore[arg-type]
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    if (api_version, kind) != ("v1", "Namespace"):
        raise ProtobufError(f"protobuf bodies of {kind or 'unknown kinds'} are not supported; send JSON")
    obj: dict = {"apiVersion": api_version, "kind": kind, "metadata": {}}
    for number, value in fields(envelope.get(2, b"")):  # type: ignore[arg-type]
        if number == 1:
            obj["metadata"] = _object_meta(value)  # type: ignore[arg-type]
        elif number == 2:
            finalizers = [_text(v) for n, v in fields(value) if n == 1]  # type: ignore[arg-type]
            if finalizers:
                obj["spec"] = {"finalizers": finalizers}
    return obj
