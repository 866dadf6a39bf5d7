"""Just enough of the Kubernetes protobuf encoding to accept what kubectl sends as protobuf.

``kubectl create namespace|deployment|service|serviceaccount`` post ``application/vnd.kubernetes.protobuf``
bodies (the ``k8s\\0`` envelope around the object). This module decodes that envelope and, for
Namespace, Deployment, Service, ServiceAccount and SelfSubjectAccessReview (``kubectl auth can-i``), the fields of
their messages that a create can carry (``KINDS`` below). Other kinds are refused (the caller answers 415).
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


# Message layouts (field number -> JSON name, kind, nested layout) of the k8s.io/api generated.proto
# messages kubectl create sends. Kinds: s string, i int (omitted when 0), p pointer int (kept when 0),
# b bool (omitted when false), pb pointer bool, m message, M map<string,string>, S repeated string,
# R repeated message, io IntOrString. Unlisted fields are skipped, as an old server skips new fields.
Layout = dict[int, tuple]
_INT_OR_STRING: Layout = {}
_OWNER_REFERENCE: Layout = {1: ("kind", "s"), 3: ("name", "s"), 4: ("uid", "s"), 5: ("apiVersion", "s"),
                            6: ("controller", "pb"), 7: ("blockOwnerDeletion", "pb")}
_OBJECT_META: Layout = {1: ("name", "s"), 2: ("generateName", "s"), 3: ("namespace", "s"), 11: ("labels", "M"),
                        12: ("annotations", "M"), 13: ("ownerReferences", "R", _OWNER_REFERENCE),
                        14: ("finalizers", "S")}
_SELECTOR_REQUIREMENT: Layout = {1: ("key", "s"), 2: ("operator", "s"), 3: ("values", "S")}
_LABEL_SELECTOR: Layout = {1: ("matchLabels", "M"), 2: ("matchExpressions", "R", _SELECTOR_REQUIREMENT)}
_CONTAINER_PORT: Layout = {1: ("name", "s"), 2: ("hostPort", "i"), 3: ("containerPort", "i"), 4: ("protocol", "s"),
                           5: ("hostIP", "s")}
_ENV_VAR: Layout = {1: ("name", "s"), 2: ("value", "s")}
_CONTAINER: Layout = {1: ("name", "s"), 2: ("image", "s"), 3: ("command", "S"), 4: ("args", "S"),
                      5: ("workingDir", "s"), 6: ("ports", "R", _CONTAINER_PORT), 7: ("env", "R", _ENV_VAR),
                      14: ("imagePullPolicy", "s")}
_POD_SPEC: Layout = {2: ("containers", "R", _CONTAINER), 3: ("restartPolicy", "s"), 7: ("nodeSelector", "M"),
                     8: ("serviceAccountName", "s"), 20: ("initContainers", "R", _CONTAINER)}
_POD_TEMPLATE: Layout = {1: ("metadata", "m", _OBJECT_META), 2: ("spec", "m", _POD_SPEC)}
_ROLLING_UPDATE: Layout = {1: ("maxUnavailable", "io"), 2: ("maxSurge", "io")}
_STRATEGY: Layout = {1: ("type", "s"), 2: ("rollingUpdate", "m", _ROLLING_UPDATE)}
_DEPLOYMENT_SPEC: Layout = {1: ("replicas", "p"), 2: ("selector", "m", _LABEL_SELECTOR),
                            3: ("template", "m", _POD_TEMPLATE), 4: ("strategy", "m", _STRATEGY),
                            5: ("minReadySeconds", "i"), 6: ("revisionHistoryLimit", "p"), 7: ("paused", "b"),
                            9: ("progressDeadlineSeconds", "p")}
_SERVICE_PORT: Layout = {1: ("name", "s"), 2: ("protocol", "s"), 3: ("port", "i"), 4: ("targetPort", "io"),
                         5: ("nodePort", "i"), 6: ("appProtocol", "s")}
_SERVICE_SPEC: Layout = {1: ("ports", "R", _SERVICE_PORT), 2: ("selector", "M"), 3: ("clusterIP", "s"),
                         4: ("type", "s"), 7: ("sessionAffinity", "s"), 11: ("externalName", "s")}
_NAMESPACE_SPEC: Layout = {1: ("finalizers", "S")}
_RESOURCE_ATTRIBUTES: Layout = {1: ("namespace", "s"), 2: ("verb", "s"), 3: ("group", "s"), 4: ("version", "s"),
                                5: ("resource", "s"), 6: ("subresource", "s"), 7: ("name", "s")}
_ACCESS_REVIEW_SPEC: Layout = {1: ("resourceAttributes", "m", _RESOURCE_ATTRIBUTES),
                               2: ("nonResourceAttributes", "m", {1: ("path", "s"), 2: ("verb", "s")})}
KINDS: dict[tuple[str, str], Layout] = {
    ("v1", "Namespace"): {1: ("metadata", "m", _OBJECT_META), 2: ("spec", "m", _NAMESPACE_SPEC)},
    ("v1", "Service"): {1: ("metadata", "m", _OBJECT_META), 2: ("spec", "m", _SERVICE_SPEC)},
    ("v1", "ServiceAccount"): {1: ("metadata", "m", _OBJECT_META), 4: ("automountServiceAccountToken", "pb")},
    ("apps/v1", "Deployment"): {1: ("metadata", "m", _OBJECT_META), 2: ("spec", "m", _DEPLOYMENT_SPEC)},
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {1: ("metadata", "m", _OBJECT_META),
                                                            2: ("spec", "m", _ACCESS_REVIEW_SPEC)},
}


def _int_or_string(data: bytes) -> int | str:
    parts = dict(fields(data))
    return _text(parts.get(3, b"")) if parts.get(1) == 1 else int(parts.get(2, 0))  # type: ignore[arg-type]


def _message(data: bytes, layout: Layout) -> dict:
    """A JSON-shaped dict of one message, leaving out empty values as Go's omitempty does."""
    result: dict = {}
    for number, value in fields(data):
        entry = layout.get(number)
        if entry is None:
            continue
        name, kind = entry[0], entry[1]
        if kind == "s":
            if _text(value):
                result[name] = _text(value)
        elif kind in ("i", "p"):
            number_value = value if isinstance(value, int) else 0
            if number_value >= 1 << 63:
                number_value -= 1 << 64
            if number_value or kind == "p":
                result[name] = number_value
        elif kind in ("b", "pb"):
            if value or kind == "pb":
                result[name] = bool(value)
        elif kind == "m":
            nested = _message(value, entry[2])  # type: ignore[arg-type]
            if nested:
                result[name] = nested
        elif kind == "M":
            result.setdefault(name, {}).update(_string_map([value]))  # type: ignore[list-item]
        elif kind == "S":
            result.setdefault(name, []).append(_text(value))
        elif kind == "R":
            result.setdefault(name, []).append(_message(value, entry[2]))  # type: ignore[arg-type]
        elif kind == "io":
            result[name] = _int_or_string(value)  # type: ignore[arg-type]
    return result


def _string_map(entries: list[bytes]) -> dict[str, str]:
    result = {}
    for entry in entries:
        parts = dict(fields(entry))
        result[_text(parts.get(1, b""))] = _text(parts.get(2, b""))
    return result


def decode(body: bytes) -> dict:
    """A JSON-shaped object from a protobuf body; ProtobufError for kinds it cannot decode."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf envelope")
    envelope = dict(fields(body[len(MAGIC):]))
    type_meta = {number: _text(value) for number, value in fields(envelope.get(1, b""))}  # type: ignore[arg-type]
    api_version, kind = type_meta.get(1, ""), type_meta.get(2, "")
    layout = KINDS.get((api_version, kind))
    if layout is None:
        raise ProtobufError(f"protobuf bodies of {kind or 'unknown kinds'} are not supported; send JSON")
    obj = _message(envelope.get(2, b""), layout)  # type: ignore[arg-type]
    return {"apiVersion": api_version, "kind": kind, "metadata": obj.pop("metadata", {}), **obj}
