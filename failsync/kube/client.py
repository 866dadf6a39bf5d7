"""A small Kubernetes client: discovery, LIST/GET/WATCH and POST/JSON-PATCH/DELETE on the kinds of
``failsync.kube.resources``; its configuration comes from ``failsync.kube.kubeconfig``.

Requests and watch streams go over the lean transport (``failsync.kube.transport``) when it can
send them exactly as pykube-ng would; every request of a configuration it declines (exec or
auth-provider credentials, a proxy, userinfo in the URL) goes through pykube-ng and requests,
imported only then (neither ``sync`` nor the loop imports them otherwise).

Owns: URLs, HTTP, and converting every client failure into ``failsync.errors``
(``raise ... from``). Never does: retries, decisions, rendering or diffing.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence
from urllib.parse import quote, urlencode, urlsplit

from failsync.core.model import Target
from failsync.core.targets import is_route
from failsync.errors import ApiError, Gone, NotFound
from failsync.kube.errors import error_from_response, error_from_status, missing_crd, redact_url, unreachable
from failsync.kube.kubeconfig import KubeConfig, kubeconfig_files, load_config, merge_kubeconfigs
from failsync.kube.resources import ENDPOINT_SLICES, ROUTES, SMI_GROUP, TRAFFIC_SPLITS, Resource
from failsync.kube.transport import USER_AGENT, Answer, lean_transport

if TYPE_CHECKING:
    import pykube
    import requests

__all__ = ["Discovery", "KubeClient", "ObjectList", "WatchEvent", "load_config", "kubeconfig_files",
           "merge_kubeconfigs", "KubeConfig"]

log = logging.getLogger(__name__)

JSON_PATCH = "application/json-patch+json"
DEFAULT_TIMEOUT = 10.0
#: The field manager of every write (managedFields; Argo CD's managedFieldsManagers).
FIELD_MANAGER = "failsync"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: Items per page when the loop lists a kind (client-go's pager uses 500).
LIST_PAGE_SIZE = 500


@dataclass(frozen=True)
class ObjectList:
    """The items of one LIST and the resourceVersion the list was built at."""

    items: tuple[dict[str, Any], ...]
    resource_version: str | None = None


@dataclass(frozen=True)
class WatchEvent:
    """One event of a watch stream: ADDED, MODIFIED, DELETED or BOOKMARK, and the object."""

    type: str
    object: dict[str, Any]


@dataclass
class Discovery:
    """What the server serves, from one GET of ``/apis``: group -> served versions and preferred one."""

    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    preferred: dict[str, str] = field(default_factory=dict)
    #: Resource names served per group version, read on first need (``/apis/GROUP/VERSION``).
    resources: dict[str, frozenset[str]] = field(default_factory=dict)

    def serves(self, api_version: str) -> bool:
        group, _, version = api_version.rpartition("/")
        return not group or version in self.groups.get(group, ())


def _quiet_insecure_warning(server: str) -> None:
    """The kubeconfig asked for no TLS verification of ``server``: say so once at DEBUG, as
    kubectl says nothing, instead of urllib3's InsecureRequestWarning on every request.
    Only warnings about this host are silenced; any other unverified request still warns."""
    import warnings

    import urllib3

    pattern = f"Unverified HTTPS request is being made to host '{re.escape(urlsplit(server).hostname or '')}'"
    if not any(getattr(entry[1], "pattern", None) == pattern for entry in warnings.filters):
        warnings.filterwarnings("ignore", message=pattern, category=urllib3.exceptions.InsecureRequestWarning)


def _settle_environment(session: "requests.Session", server: str) -> None:
    """Read what the environment says about ``server`` once, instead of on every request.

    requests re-reads proxies (``HTTPS_PROXY``/``NO_PROXY``), ``~/.netrc`` and the CA bundle
    variables on each call. The proxy and CA bundle for the one server this client talks to are
    resolved now and kept on the session; netrc is dropped (kubectl never reads it, and the
    kubeconfig's token or certificate is what authenticates). The kubeconfig's own TLS settings
    (certificate-authority, insecure-skip-tls-verify, client certificates) are applied by
    pykube's adapter per request and are not affected.
    """
    settings = session.merge_environment_settings(server, {}, None, None, None)
    session.proxies.update(settings.get("proxies") or {})
    if settings.get("verify") not in (None, True):
        session.verify = settings["verify"]  # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
    session.trust_env = False


def _end_stream(response: "requests.Response") -> None:
    """End a streaming answer from another thread: its blocked read returns at once (closing the
    socket alone would not wake it). One already ended or released to the pool is left alone."""
    try:
        response.raw.shutdown()
    except (AttributeError, ValueError, RuntimeError, OSError):  # urllib3 < 2.3, ended, or released
        pass


class KubeClient:
    """One API server: typed-by-Resource calls that return plain dicts and raise ApiError subclasses."""

    def __init__(self, config: KubeConfig, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._config = config
        self._timeout = timeout
        self._discovery: Discovery | None = None
        #: ``target_resource`` answers while the discovery they come from stands (a pass asks once per policy).
        self._target_resources: dict[Target, Resource] = {}
        self._url = config.server.rstrip("/")
        #: The server URL as messages and logs show it: never with the userinfo (a token) of the kubeconfig.
        self.server: str = redact_url(self._url)
        self.context: str | None = config.current_context
        if config.cluster.get("insecure-skip-tls-verify"):
            log.debug("TLS certificate of %s is not verified (insecure-skip-tls-verify in the kubeconfig)",
                      self.server)
        # Requests that are not streams go over persistent connections with TLS and credentials settled
        # here: through pykube's adapter and requests each one re-resolved its CA file, merged settings
        # and sent head and body in two writes (1.2 ms a PATCH against 0.5 ms for the socket).
        self._lean = lean_transport(config, self._url, timeout)
        self._pykube_client: "pykube.HTTPClient | None" = None
        self._pykube_lock = threading.Lock()  # watchers on several threads may open their first stream at once
        #: Called with (verb, status code) after every answer (``kube.instrument`` counts them).
        self.answered: list[Callable[[str, int], None]] = []

    @property
    def _api(self) -> "pykube.HTTPClient":
        """pykube-ng's client for the same configuration, made (and pykube-ng and requests imported) on
        first use: a watch stream, or every request of a configuration the lean transport declines."""
        with self._pykube_lock:
            if self._pykube_client is None:
                import pykube

                api = pykube.HTTPClient(self._config.pykube(), timeout=self._timeout)
                api.session.headers["User-Agent"] = USER_AGENT
                _settle_environment(api.session, self._url)
                if self._config.cluster.get("insecure-skip-tls-verify"):
                    _quiet_insecure_warning(self.server)
                self._pykube_client = api
            return self._pykube_client

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str | Path | None, context: str | None = None, *,
                        timeout: float = DEFAULT_TIMEOUT) -> "KubeClient":
        """A client for ``context`` of ``kubeconfig`` (None: the in-cluster service account)."""
        return cls(load_config(kubeconfig, context), timeout=timeout)

    # -- discovery -------------------------------------------------------------

    def discovery(self) -> Discovery:
        """The served API groups, read once per client (one GET /apis)."""
        if self._discovery is None:
            body = self._send("GET", "/apis", verb="get", resource=Resource("v1", "APIGroupList", "apis"))
            found = Discovery()
            for group in body.get("groups") or ():
                versions = tuple(v.get("version") for v in group.get("versions") or () if v.get("version"))
                found.groups[group.get("name", "")] = versions
                preferred = (group.get("preferredVersion") or {}).get("version")
                if preferred:
                    found.preferred[group.get("name", "")] = preferred
            self._discovery = found
        return self._discovery

    def forget_discovery(self) -> None:
        """Ask the server again at the next ``discovery()`` (the loop, waiting for a CRD to be installed)."""
        self._discovery = None
        self._target_resources = {}

    def serves_resource(self, resource: Resource) -> bool:
        """Whether the server serves ``resource`` itself, not only its group version (one GET per group
        version, read once): a Gateway API install can serve HTTPRoute without GRPCRoute."""
        found = self.discovery()
        if not found.serves(resource.api_version):
            return False
        if resource.api_version not in found.resources:
            body = self._send("GET", f"/apis/{resource.api_version}", verb="get",
                              resource=Resource(resource.api_version, "APIResourceList", ""))
            found.resources[resource.api_version] = frozenset(
                item.get("name", "") for item in body.get("resources") or ())
        return resource.plural in found.resources[resource.api_version]

    def serves_endpoint_slices(self) -> bool:
        """Whether the server serves discovery.k8s.io/v1 EndpointSlices (discovered once)."""
        return self.discovery().serves(ENDPOINT_SLICES.api_version)

    def traffic_split_resource(self, api_version: str | None = None) -> Resource:
        """The TrafficSplit Resource for ``api_version`` (default: v1alpha2 if served, else the preferred one).

        Raises NotFound saying to install linkerd-smi when the CRD is not served.
        """
        served = self.discovery().groups.get(SMI_GROUP, ())
        wanted = api_version or f"{SMI_GROUP}/v1alpha2"
        if wanted.rpartition("/")[2] in served:
            return TRAFFIC_SPLITS[wanted]
        if api_version is None and served:
            preferred = self.discovery().preferred.get(SMI_GROUP) or served[0]
            return TRAFFIC_SPLITS.get(f"{SMI_GROUP}/{preferred}", TRAFFIC_SPLITS[wanted])
        if served:
            raise NotFound(f"the API server at {self.server} serves TrafficSplit only at "
                           f"{', '.join(f'{SMI_GROUP}/{v}' for v in served)}, not {wanted}; set "
                           f"spec.target.apiVersion to one of those", status=404, reason="NotFound")
        raise missing_crd(TRAFFIC_SPLITS.get(wanted, TRAFFIC_SPLITS[f"{SMI_GROUP}/v1alpha2"]), self.server)

    def target_resource(self, target: Target) -> Resource:
        """The Resource a policy's target is read and written through (its kind at its apiVersion).

        Raises NotFound naming what to install when the kind is not served, or the versions
        served when only the apiVersion is not.
        """
        found = self._target_resources.get(target)
        if found is None:
            found = self._target_resources[target] = self._resolve_target(target)
        return found

    def _resolve_target(self, target: Target) -> Resource:
        if not is_route(target.kind):
            return self.traffic_split_resource(target.api_version)
        resource = ROUTES[(target.kind, target.api_version)]
        served = self.discovery().groups.get(resource.group, ())
        if self.serves_resource(resource):
            return resource
        if resource.version in served:
            raise missing_crd(resource, self.server)
        if served:
            raise NotFound(f"the API server at {self.server} serves {resource.group} only at "
                           f"{', '.join(served)}, not {resource.version}; set spec.target.apiVersion to a "
                           f"served version", status=404, reason="NotFound")
        raise missing_crd(resource, self.server)

    # -- reads -----------------------------------------------------------------

    def list(self, resource: Resource, *, namespace: str | None = None,
             label_selector: str | None = None) -> ObjectList:
        """One LIST of ``resource`` in ``namespace`` (None: every namespace); items carry kind/apiVersion."""
        params = {"labelSelector": label_selector} if label_selector else None
        body = self._send("GET", self._path(resource, namespace), verb="list", resource=resource,
                          namespace=namespace, params=params)
        return self._object_list(resource, body)

    def list_pages(self, resource: Resource, *, namespace: str | None = None,
                   label_selector: str | None = None, page_size: int = LIST_PAGE_SIZE) -> Iterator[ObjectList]:
        """LIST in pages of ``page_size`` (limit/continue, as client-go's pager), so a large kind is
        never decoded in one piece; every page carries the first page's resourceVersion."""
        params: dict[str, Any] = {"limit": page_size}
        if label_selector:
            params["labelSelector"] = label_selector
        while True:
            body = self._send("GET", self._path(resource, namespace), verb="list", resource=resource,
                              namespace=namespace, params=params)
            yield self._object_list(resource, body)
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return
            params["continue"] = token

    def _object_list(self, resource: Resource, body: Mapping[str, Any]) -> ObjectList:
        items = tuple(self._typed(resource, item) for item in body.get("items") or () if isinstance(item, dict))
        return ObjectList(items, (body.get("metadata") or {}).get("resourceVersion"))

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        """One object, or None when it does not exist."""
        try:
            body = self._send("GET", self._path(resource, namespace, name), verb="get", resource=resource,
                              namespace=namespace, name=name)
        except NotFound:
            return None
        return self._typed(resource, body)

    def watch(self, resource: Resource, *, namespace: str | None = None, resource_version: str | None = None,
              label_selector: str | None = None, timeout_seconds: int | None = None,
              bookmarks: bool = True, on_open: Callable[[Callable[[], None]], None] | None = None,
              ) -> Iterator[WatchEvent]:
        """Stream changes of ``resource``; raises Gone on a 410 (in the status code or an ERROR event).

        ``on_open(end)`` is given, once the stream is open, a function any thread may call to end it.
        """
        params: dict[str, Any] = {"watch": "true"}
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        if timeout_seconds is not None:
            params["timeoutSeconds"] = timeout_seconds
        if bookmarks:
            params["allowWatchBookmarks"] = "true"
        read_timeout = None if timeout_seconds is None else timeout_seconds + self._timeout
        if self._lean is not None:
            yield from self._watch_lean(resource, namespace, params, read_timeout, on_open)
        else:
            yield from self._watch_requests(resource, namespace, params, read_timeout, on_open)

    def _watch_lean(self, resource: Resource, namespace: str | None, params: Mapping[str, Any],
                    read_timeout: float | None, on_open: Callable[[Callable[[], None]], None] | None
                    ) -> Iterator[WatchEvent]:
        """``watch`` over the lean transport: the loop never imports pykube-ng and requests (175 ms of
        CPU, on a watch thread while the start-up pass wrote) for a configuration it serves."""
        assert self._lean is not None
        path = self._path(resource, namespace)
        target = f"{path}?{urlencode(params)}"
        log.debug("GET %s (watch)", path)
        try:
            answer = self._lean.stream(target, {"Accept": "application/json"}, read_timeout)
        except (OSError, _http_exception()) as error:
            raise unreachable(error, self.server) from error
        for observe in self.answered:
            observe("watch", answer.status if isinstance(answer, Answer) else 200)
        if isinstance(answer, Answer):
            if answer.status >= 400:
                raise error_from_response(answer.as_response(self.server + target), verb="watch",
                                          resource=resource, namespace=namespace, name=None, server=self.server)
            return
        if on_open is not None:
            on_open(answer.end)
        try:
            for line in answer.lines():
                if line:
                    yield self._event(resource, line)
        except (OSError, _http_exception()) as error:
            raise unreachable(error, self.server) from error
        finally:
            answer.close()

    def _watch_requests(self, resource: Resource, namespace: str | None, params: Mapping[str, Any],
                        read_timeout: float | None, on_open: Callable[[Callable[[], None]], None] | None
                        ) -> Iterator[WatchEvent]:
        """``watch`` through pykube-ng's requests session (a configuration the lean transport declines)."""
        response = self._raw("GET", self._path(resource, namespace), verb="watch", resource=resource,
                             namespace=namespace, params=params, stream=True,
                             timeout=(self._timeout, read_timeout))
        if on_open is not None:
            on_open(functools.partial(_end_stream, response))
        try:
            for line in response.iter_lines():
                if line:
                    yield self._event(resource, line)
        except (_requests().exceptions.ConnectionError, _requests().exceptions.ChunkedEncodingError) as error:
            raise unreachable(error, self.server) from error
        finally:
            response.close()

    def _event(self, resource: Resource, line: bytes) -> WatchEvent:
        """One watch line as an event; raises the error an ERROR event or a Status line stands for."""
        event = json.loads(line)
        if event.get("type") == "ERROR" or event.get("kind") == "Status":
            status = event.get("object", event)
            raise error_from_status(status if isinstance(status, dict) else {}, resource=resource,
                                    server=self.server)
        return WatchEvent(event.get("type", ""), self._typed(resource, event.get("object") or {}))

    # -- writes ----------------------------------------------------------------

    def create(self, resource: Resource, obj: Mapping[str, Any], *, read_answer: bool = True) -> dict[str, Any]:
        """POST ``obj`` into its namespace; returns the stored object (``read_answer`` False: ``{}``, the
        answer is not decoded, for a caller that does not use it)."""
        namespace = (obj.get("metadata") or {}).get("namespace") if resource.namespaced else None
        body = self._send("POST", self._path(resource, namespace), verb="create", resource=resource,
                          namespace=namespace, name=(obj.get("metadata") or {}).get("name"),
                          json_body=dict(obj), decode=read_answer)
        return self._typed(resource, body) if read_answer else body

    def patch(self, resource: Resource, namespace: str | None, name: str,
              operations: Sequence[Mapping[str, Any]], *, read_answer: bool = True) -> dict[str, Any]:
        """Send a JSON Patch; a 422 on a patch led by a resourceVersion ``test`` op raises Conflict.
        ``read_answer`` False: ``{}`` is returned, the stored object is not decoded."""
        guarded = bool(operations) and operations[0].get("op") == "test" \
            and operations[0].get("path") == "/metadata/resourceVersion"
        body = self._send("PATCH", self._path(resource, namespace, name), verb="patch", resource=resource,
                          namespace=namespace, name=name, json_body=list(operations),
                          content_type=JSON_PATCH, guarded=guarded, decode=read_answer)
        return self._typed(resource, body) if read_answer else body

    def patch_status(self, resource: Resource, namespace: str | None, name: str,
                     status: Mapping[str, Any]) -> dict[str, Any]:
        """Replace ``status`` through the status subresource (a merge patch: the spec is never touched)."""
        body = self._send("PATCH", self._path(resource, namespace, name) + "/status", verb="patch",
                          resource=resource, namespace=namespace, name=name, json_body={"status": dict(status)},
                          content_type="application/merge-patch+json")
        return self._typed(resource, body)

    def delete(self, resource: Resource, namespace: str | None, name: str) -> bool:
        """DELETE one object; False when it was already gone."""
        try:
            self._send("DELETE", self._path(resource, namespace, name), verb="delete", resource=resource,
                       namespace=namespace, name=name)
        except NotFound:
            return False
        return True

    def scale(self, resource: Resource, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        """Set ``spec.replicas`` through the ``scale`` subresource, as ``kubectl scale`` does (a merge patch).

        Not used by sync or the loop (they never scale anything); ``failsync demo`` plays kubectl with it.
        """
        return self._send("PATCH", self._path(resource, namespace, name) + "/scale", verb="patch",
                          resource=resource, namespace=namespace, name=name,
                          json_body={"spec": {"replicas": replicas}}, content_type="application/merge-patch+json")

    # -- transport -------------------------------------------------------------

    @staticmethod
    def _path(resource: Resource, namespace: str | None, name: str | None = None) -> str:
        base = f"/api/{resource.api_version}" if not resource.group else f"/apis/{resource.api_version}"
        if resource.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{resource.plural}"
        return base + (f"/{quote(name, safe='')}" if name else "")

    @staticmethod
    def _typed(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        # Built-in list items come without kind/apiVersion; callers always want them.
        obj.setdefault("apiVersion", resource.api_version)
        obj.setdefault("kind", resource.kind)
        return obj

    @staticmethod
    def _request_parts(method: str, params: Mapping[str, Any] | None, json_body: Any,
                       content_type: str | None) -> tuple[Mapping[str, Any] | None, dict[str, str], str | None]:
        headers = {"Accept": "application/json"}
        data = None
        if method in _WRITE_METHODS:  # every write says who made it (managedFields, Argo CD, SPEC §13)
            params = {**(params or {}), "fieldManager": FIELD_MANAGER}
        if json_body is not None:
            headers["Content-Type"] = content_type or "application/json"
            data = json.dumps(json_body)
        return params, headers, data

    def _raw(self, method: str, path: str, *, verb: str, resource: Resource, namespace: str | None = None,
             name: str | None = None, params: Mapping[str, Any] | None = None, json_body: Any = None,
             content_type: str | None = None, stream: bool = False, timeout: Any = None,
             guarded: bool = False) -> "requests.Response":
        params, headers, data = self._request_parts(method, params, json_body, content_type)
        log.debug("%s %s", method, path)
        session = self._api.session
        try:
            response = session.request(method, self._url + path, params=params, data=data, headers=headers,
                                       stream=stream, timeout=timeout or self._timeout)
        except _requests().exceptions.RequestException as error:
            raise unreachable(error, self.server) from error
        for observe in self.answered:
            observe(verb, response.status_code)
        if response.status_code >= 400:
            try:
                raise error_from_response(response, verb=verb, resource=resource, namespace=namespace,
                                          name=name, server=self.server, guarded=guarded)
            finally:
                response.close()
        return response

    def _send(self, method: str, path: str, *, decode: bool = True, **kwargs: Any) -> dict[str, Any]:
        if self._lean is None:
            response = self._raw(method, path, **kwargs)
            content = response.content
        else:
            content = self._send_lean(method, path, **kwargs)
        if not decode:  # a write whose stored object the caller does not read (a one-shot sync)
            return {}
        try:
            body = json.loads(content) if content else {}
        except ValueError as error:
            raise ApiError(f"{method} {path} on {self.server}: the answer is not JSON") from error
        return body if isinstance(body, dict) else {}

    def _send_lean(self, method: str, path: str, *, verb: str, resource: Resource, namespace: str | None = None,
                   name: str | None = None, params: Mapping[str, Any] | None = None, json_body: Any = None,
                   content_type: str | None = None, guarded: bool = False) -> bytes:
        assert self._lean is not None
        params, headers, data = self._request_parts(method, params, json_body, content_type)
        target = path + ("?" + urlencode(params, doseq=True) if params else "")
        log.debug("%s %s", method, path)
        try:
            answer = self._lean.request(method, target, data.encode() if data is not None else None, headers)
        except (OSError, _http_exception()) as error:
            raise unreachable(error, self.server) from error
        for observe in self.answered:
            observe(verb, answer.status)
        if answer.status >= 400:
            raise error_from_response(answer.as_response(self.server + target), verb=verb, resource=resource,
                                      namespace=namespace, name=name, server=self.server, guarded=guarded)
        return answer.content


def _requests() -> Any:
    """requests (imported by ``KubeClient._api`` before any request that can raise its exceptions)."""
    import requests

    return requests


def _http_exception() -> type[Exception]:
    """http.client's base exception, imported only when a lean request failed (an ``except``
    clause's expression is evaluated only then)."""
    import http.client

    return http.client.HTTPException
