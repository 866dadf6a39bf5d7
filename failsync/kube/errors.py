"""Turning HTTP answers and transport failures into ``failsync.errors`` classes,
with messages a user can act on (which server, which verb on which resource,
which RBAC rule is missing, which extension to install).

Owns: the wording and classification of API errors. Never does: retries.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from failsync.errors import (ApiError, Conflict, Forbidden, Gone, Invalid, NotFound, ServerError,
                             Unauthorized, Unreachable)
from failsync.core.targets import GATEWAY_GROUP, LINKERD_POLICY_GROUP
from failsync.kube.resources import SMI_GROUP, Resource

if TYPE_CHECKING:
    from collections.abc import Mapping


class Answered(Protocol):
    """An HTTP answer as read here: a ``requests.Response`` or the lean transport's ``Response``."""

    @property
    def status_code(self) -> int: ...

    @property
    def reason(self) -> str: ...

    @property
    def headers(self) -> "Mapping[str, str]": ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...

INSTALL_SMI_HINT = ("install linkerd-smi (helm install linkerd-smi -n linkerd-smi --create-namespace "
                    "linkerd-smi/linkerd-smi), which provides the TrafficSplit CRD")
#: What to install for each target group's CRDs.
INSTALL_HINTS = {
    SMI_GROUP: INSTALL_SMI_HINT,
    GATEWAY_GROUP: ("install the Gateway API CRDs (kubectl apply -f the standard-install.yaml of a "
                    "gateway-api release), which provide HTTPRoute and GRPCRoute"),
    LINKERD_POLICY_GROUP: "install Linkerd's CRDs (linkerd install --crds), which provide policy.linkerd.io HTTPRoute",
}


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def redact_url(url: str) -> str:
    """``url`` without its userinfo (``https://user:token@host`` -> ``https://***@host``)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def redact_urls(text: str) -> str:
    """Every URL's userinfo in free text replaced by ``***`` (an error message may quote a URL)."""
    return _USERINFO.sub(lambda match: f"{match['scheme']}***@", text)


def _status_body(response: Answered) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return {}
    return body if isinstance(body, dict) and body.get("kind") == "Status" else {}


def _retry_after(response: Answered, body: dict[str, Any]) -> float | None:
    header = response.headers.get("Retry-After")
    try:
        if header is not None:
            return float(header)
    except ValueError:
        pass
    seconds = (body.get("details") or {}).get("retryAfterSeconds")
    return float(seconds) if isinstance(seconds, (int, float)) else None


def where(namespace: str | None) -> str:
    """``in namespace "x"`` or ``cluster-wide`` for messages."""
    return f'in namespace "{namespace}"' if namespace else "cluster-wide"


def missing_crd(resource: Resource, server: str) -> NotFound:
    """The error for a target kind (TrafficSplit, a route) the server does not serve."""
    hint = INSTALL_HINTS.get(resource.group, INSTALL_SMI_HINT)
    return NotFound(f"the API server at {server} does not serve {resource.kind} "
                    f"{resource.api_version}: the {resource.kind} CRD is missing; {hint}",
                    status=404, reason="NotFound")


def error_class(status: int | None, *, guarded: bool = False) -> type[ApiError]:
    """The class of an API answer with HTTP ``status``: the one mapping, used for HTTP answers and
    watch ERROR events alike (so "temporary or permanent", ``is_temporary``, is decided once).

    ``guarded``: a JSON Patch led by a resourceVersion ``test`` op, whose 422 most likely means the
    object changed since it was read (Conflict)."""
    if status is None:
        return ApiError
    if status == 429 or status >= 500:
        return ServerError
    return {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 410: Gone,
            422: Conflict if guarded else Invalid}.get(status, ApiError)


def error_from_response(response: Answered, *, verb: str, resource: Resource,
                        namespace: str | None, name: str | None, server: str,
                        guarded: bool = False) -> ApiError:
    """The ApiError for a non-2xx answer to ``verb`` on ``resource``.

    ``guarded``: the request was a JSON Patch led by a resourceVersion ``test`` op,
    so a 422 most likely means the object changed since it was read (Conflict).
    """
    body = _status_body(response)
    status = response.status_code
    cls = error_class(status, guarded=guarded)
    reason = body.get("reason") or response.reason
    detail = redact_urls(str(body.get("message") or response.text.strip()[:200] or response.reason))
    discovery = resource.plural == "apis" and not resource.group
    target = "API discovery (/apis)" if discovery else f"{resource.qualified}" + (f' "{name}"' if name else "")
    if status == 401:
        return cls(f"the API server at {server} rejected the credentials (401 Unauthorized) "
                   f"when trying to {verb} {target}; check the token or certificate of the "
                   f"kubeconfig context", status=status, reason=reason)
    if status == 403:
        scope = "Role (or ClusterRole)" if namespace else "ClusterRole"
        rule = (f'apiGroups: ["{resource.group}"], resources: ["{resource.plural}"], verbs: ["{verb}"]'
                if not discovery else 'nonResourceURLs: ["/apis", "/apis/*"], verbs: ["get"]')
        scoped = "" if discovery else f" {where(namespace)}"
        return cls(f"forbidden: cannot {verb} {target}{scoped} on {server}; "
                   f"grant the RBAC rule {{{rule}}} in a {scope} bound to this user "
                   f"(server said: {detail})", status=status, reason=reason)
    if status == 404:
        if resource.group == SMI_GROUP and not body:
            # A plain "404 page not found" (not a Status): the URL itself is unknown, so the CRD is missing.
            return missing_crd(resource, server)
        if name is None and body.get("details", {}).get("kind") == "namespaces":
            return cls(f"namespace {namespace!r} does not exist on {server}", status=status, reason=reason)
        return cls(f"{target} {where(namespace)} not found on {server}: {detail}",
                   status=status, reason=reason)
    if status == 409:
        return cls(f"conflict on {target} {where(namespace)}: {detail}", status=status, reason=reason)
    if status == 410:
        return cls(f"{verb} {target}: {detail}", status=status, reason=reason)
    if status == 422:
        if guarded:
            # A failed resourceVersion test and a patch that does not apply both answer 422;
            # which one it was, only a re-read tells (the sync engine does and says so).
            return cls(f"the server rejected the guarded patch of {target} {where(namespace)} "
                       f"({status} {reason}): {detail}", status=status, reason=reason)
        return cls(f"the server rejected {target} {where(namespace)}: {detail}", status=status,
                   reason=reason)
    if cls is ServerError:  # temporary: retried with backoff, after the Retry-After the server asked for
        return ServerError(f"the API server at {server} answered {status} {reason} to {verb} {target}: "
                           f"{detail}", status=status, reason=reason,
                           retry_after=_retry_after(response, body))
    return cls(f"{verb} {target} {where(namespace)} failed with {status} {reason}: {detail}",
               status=status, reason=reason)


def unreachable(error: Exception, server: str) -> Unreachable:
    """The error for a request that never got an HTTP answer."""
    cause = type(error).__name__
    # requests' classes, and the standard library's ones the lean transport (``kube.transport``) raises;
    # a module not imported yet cannot have raised its errors (neither is imported for this)
    exceptions = getattr(sys.modules.get("requests"), "exceptions", None)
    ssl = sys.modules.get("ssl")
    if (exceptions and isinstance(error, exceptions.SSLError)) or (ssl and isinstance(error, ssl.SSLError)):
        cause = "TLS handshake failed"
    elif (exceptions and isinstance(error, exceptions.Timeout)) or isinstance(error, TimeoutError):
        cause = "timed out"
    elif (exceptions and isinstance(error, exceptions.ConnectionError)) or isinstance(error, OSError):
        cause = "connection refused or host unknown"
    return Unreachable(f"cannot reach the Kubernetes API server at {server} ({cause}); check "
                       f"--kubeconfig/--context and that the cluster is running")


def is_temporary(error: BaseException) -> bool:
    """Whether the same request may succeed later (retry with backoff): lost connections, 429 and
    5xx answers, an expired watch (410: re-list). Everything else (401, 403, 404, 409, 422, other
    4xx) is permanent for that request. The one place that decides, by class and status."""
    if isinstance(error, (Unreachable, ServerError, Gone)):
        return True
    if isinstance(error, ApiError) and error.status is not None:
        return error.status == 429 or error.status >= 500
    return False


def error_from_status(status: dict[str, Any], *, resource: Resource, server: str) -> ApiError:
    """The ApiError for a watch ERROR event's Status: the same classes as an HTTP answer's status."""
    code = status.get("code") if isinstance(status.get("code"), int) else None
    message = f"watch {resource.qualified}: {status.get('message', 'watch failed')}"
    reason = status.get("reason")
    cls = error_class(code)
    if cls is ServerError:
        message = f"the API server at {server} ended {message} with {code} {reason or ''}".rstrip()
    return cls(message, status=code, reason=reason or ("Expired" if code == 410 else None))
