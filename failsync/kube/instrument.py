"""Counting the API requests a KubeClient makes, by Kubernetes verb and HTTP status code.

Owns: naming a request's verb (get/list/watch/create/update/patch/delete) from its
method and URL, and hooking a client's answers. Never does: keep the counts
(the caller's metrics do) or change a request.
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import parse_qs, urlsplit

from failsync.kube.client import KubeClient

_WRITE_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def verb_of(method: str, url: str) -> str:
    """The Kubernetes verb of an HTTP request (``watch`` and ``list`` told apart from ``get``)."""
    method = method.upper()
    if method != "GET":
        return _WRITE_VERBS.get(method, method.lower())
    parts = urlsplit(url)
    if parse_qs(parts.query).get("watch", [""])[0] in ("true", "1"):
        return "watch"
    segments = [s for s in parts.path.split("/") if s]
    if segments[:1] == ["api"]:
        rest = segments[2:]
    elif segments[:1] == ["apis"]:
        rest = segments[3:]
    else:
        return "get"
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    return "list" if len(rest) == 1 else "get"


def count_requests(client: KubeClient, record: Callable[[str, int], None]) -> None:
    """Call ``record(verb, status_code)`` after every HTTP answer the client receives (over the lean
    transport or through requests: the client names the verb of each request it sends)."""
    client.answered.append(record)
