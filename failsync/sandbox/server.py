"""The HTTP layer of one sandbox cluster: a threading HTTP/1.1 server, request routing,
JSON and Status answers, chunked framing and the request log.

Owns: bytes on the wire — content types, status lines, chunked framing, plain-text
"404 page not found", Retry-After — and applying latency/error faults and auth before a
request reaches the verbs in ``reads``/``writes``, a watch stream (``watch_stream``) or an
endpoint that is no resource (``endpoints``: discovery, OpenAPI, health, ``/_sandbox/``).
Never does: storage rules.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import yaml

from failsync.sandbox import (access, endpoints, managed_fields, protobuf, reads, routing, table, tls, unknown_fields,
                              watch_stream, writes)
from failsync.sandbox.status import ApiError, bad_request, invalid, method_not_allowed

if TYPE_CHECKING:
    from failsync.sandbox.cluster import Cluster

log = logging.getLogger(__name__)
_JSON = "application/json"
_YAML = "application/yaml"


@dataclass(frozen=True)
class RequestRecord:
    """One served request; times are ``time.time()`` on the server clock."""

    method: str
    path: str
    query: dict = field(hash=False)
    status: int
    started: float
    finished: float
    verb: str = ""

    def as_dict(self) -> dict:
        return {"method": self.method, "path": self.path, "query": self.query, "status": self.status,
                "started": self.started, "finished": self.finished, "verb": self.verb}


class SandboxHTTPServer(ThreadingHTTPServer):
    """Daemon handler threads; remembers open connections and their threads so that an outage
    or stop can cut every connection and wait for every thread."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], cluster: "Cluster") -> None:
        self.cluster = cluster
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.closing = False  # set (under connections_lock) once close() has begun
        self._connection_threads: set[threading.Thread] = set()
        super().__init__(address, Handler)

    def track(self, connection: socket.socket) -> None:
        """Remember an open connection; one arriving while the server closes is cut at once."""
        with self.connections_lock:
            if not self.closing:
                self.connections.add(connection)
                return
        _shut(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self.connections_lock:
            self.connections.discard(connection)

    def process_request(self, request, client_address) -> None:  # type: ignore[override]
        thread = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                                  name=f"sandbox-{self.cluster.name}-connection", daemon=True)
        with self.connections_lock:
            self._connection_threads.add(thread)
        thread.start()

    def process_request_thread(self, request, client_address) -> None:  # type: ignore[override]
        self.track(request)  # the raw socket: covers the wait for a TLS handshake too
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.untrack(request)
            with self.connections_lock:
                self._connection_threads.discard(threading.current_thread())

    def handle_error(self, request, client_address) -> None:  # type: ignore[override]
        """A client that resets, drops or times out its connection is not the sandbox's error (a
        tool stopped mid-keep-alive): one DEBUG line, no traceback. Anything else still prints one."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.debug("connection from %s ended: %s", client_address, error)
            return
        super().handle_error(request, client_address)

    def finish_request(self, request, client_address) -> None:  # type: ignore[override]
        """Serve one connection; with token auth on, a TLS handshake is answered with TLS."""
        if self.cluster.auth.enabled:
            try:
                request.settimeout(10)
                first = request.recv(1, socket.MSG_PEEK)
                request.settimeout(None)
                if tls.is_tls_handshake(first):
                    request = tls.server_context().wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        self.RequestHandlerClass(request, client_address, self)

    def cut_connections(self) -> None:
        """Abruptly close every open client connection."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            _shut(connection)

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, close the port, end watches, cut connections and wait (up to
        ``timeout``) for every connection thread, so nothing of this server outlives it."""
        self.shutdown()
        self.server_close()
        with self.connections_lock:
            self.closing = True
        self.cluster.store.close_watches()
        self.cut_connections()
        deadline = time.monotonic() + timeout
        with self.connections_lock:
            threads = [t for t in self._connection_threads if t is not threading.current_thread()]
        for thread in threads:  # an outage asked for over HTTP runs in one of them: never join it
            thread.join(max(0.0, deadline - time.monotonic()))
        lingering = [t for t in threads if t.is_alive()]
        if lingering:
            log.warning("sandbox %s: %d connection thread(s) still running after close", self.cluster.name,
                        len(lingering))


def _shut(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed, or a raw socket a TLS wrapper has taken over
        pass


def _dry_run(query: dict[str, str], kind: str) -> bool:
    value = query.get("dryRun")
    if value is None or value == "":
        return False
    if value != "All":
        raise invalid(kind, "meta.k8s.io", "", [{"reason": "FieldValueNotSupported", "field": "dryRun",
                                                   "message": f'Unsupported value: "{value}": supported values: "All"'}])
    return True


def _delete_options(body: Any, query: dict[str, str]) -> dict:
    """DeleteOptions from the body, with the query parameters kube-apiserver also reads."""
    options = dict(body) if isinstance(body, dict) else {}
    if "propagationPolicy" in query:
        options["propagationPolicy"] = query["propagationPolicy"]
    if "orphanDependents" in query:
        options["orphanDependents"] = query["orphanDependents"] in ("true", "1")
    return options


class Handler(BaseHTTPRequestHandler):
    """One connection; each request is routed, faulted, authorised, answered and logged."""

    protocol_version = "HTTP/1.1"
    server_version = "failsync-sandbox"
    # TCP_NODELAY, as kube-apiserver (Go) has by default: with Nagle on, a small write that
    # follows an unacknowledged one (the next request's answer on a kept-alive connection,
    # back-to-back watch chunks) waits for the client's delayed ACK, ~40 ms each.
    disable_nagle_algorithm = True
    server: SandboxHTTPServer
    _pending_record: tuple | None = None  # (path, query, verb, started) until the request is logged
    _format = "json"  # of answers: "json" or "yaml" (Accept: application/yaml)

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)  # the TLS socket when wrapped: only it can be shut down

    def finish(self) -> None:
        self.server.untrack(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), format % args)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = lambda self: self._handle()  # noqa: E731

    # --- answering -----------------------------------------------------------------------------
    def answer(self, code: int, body: bytes, content_type: str = _JSON, headers: dict[str, str] | None = None) -> None:
        """Answer ``body`` (headers and body in one write) and log the request."""
        self.status_code = code
        self._log_request()  # before the bytes leave: a client that saw the answer finds it in the log
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        # Headers and body leave in one write (one segment for small answers), not two.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    def answer_json(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        """Answer ``obj`` as JSON, or as YAML when the request's Accept asked for it."""
        if self._format == "yaml":
            self.answer(code, yaml.safe_dump(obj, sort_keys=False).encode(), _YAML, headers=headers)
        else:
            self.answer(code, json.dumps(obj, separators=(",", ":")).encode(), headers=headers)

    def _negotiate(self, watch: bool) -> str:
        """json or yaml from the Accept header (first acceptable entry); 406 when none is."""
        accept = self.headers.get("Accept") or ""
        if not accept.strip():
            return "json"
        for entry in accept.split(","):
            media = entry.split(";")[0].strip().lower()
            # protobuf: the handler decides (the OpenAPI v2 document is protobuf; objects fall back to JSON)
            if media in (_JSON, "*/*", "application/*", "application/json-seq") or media.endswith("protobuf"):
                return "json"
            if media == _YAML and not watch:  # YAML has no streaming form: a watch needs JSON
                return "yaml"
        raise ApiError(406, "NotAcceptable", "only the following media types are accepted: application/json, "
                                             "application/yaml, application/vnd.kubernetes.protobuf")

    def answer_not_found(self) -> None:
        """The plain-text 404 of a path the server does not know, as the real mux answers."""
        self.answer(404, b"404 page not found\n", "text/plain; charset=utf-8")

    # --- dispatch ------------------------------------------------------------------------------
    def _log_request(self) -> None:
        """Append this request's record to the cluster's log, once (admin requests are not logged)."""
        pending, self._pending_record = self._pending_record, None
        if pending is not None:
            path, query, verb, started = pending
            self.server.cluster.requests.append(RequestRecord(self.command, path, query, self.status_code, started,
                                                              time.time(), verb))

    def _handle(self) -> None:
        started = time.time()
        self.status_code = 0
        self._pending_record = None
        self._format = "json"
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        route = routing.parse(url.path, self.server.cluster.registry)
        verb = routing.verb_of(self.command, route, query)
        cluster = self.server.cluster
        if not url.path.startswith("/_sandbox/"):
            self._pending_record = (url.path, query, verb, started)
        try:
            if url.path.startswith("/_sandbox/"):
                endpoints.admin(self, url.path, body)
                return
            if cluster.faults.latency:
                time.sleep(cluster.faults.latency)
            token = cluster.auth.authenticate(self.headers.get("Authorization"))
            failure = cluster.faults.failure_for(verb)
            if failure is not None:
                raise failure
            # /openapi/* negotiates its own content types (kubectl asks for the v2 document in protobuf).
            self._format = "json" if url.path.startswith("/openapi/") else self._negotiate(verb == "watch")
            if url.path.rstrip("/") == access.PATH:  # every authenticated user may ask about itself
                if self.command != "POST":
                    raise method_not_allowed()
                self.answer_json(201, access.review(cluster.auth, token, self._decode(body)))
                return
            cluster.auth.authorize(token, verb, route)
            if route is None:
                endpoints.discovery(self, url.path)
            else:
                self._resource(route, verb, query, body)
        except ApiError as error:
            self.answer_json(error.code, error.body(), error.headers)
        except (ConnectionError, BrokenPipeError):
            self.close_connection = True
        except Exception as error:  # a bug must answer 500, not hang the client
            log.exception("sandbox: unexpected error on %s %s", self.command, self.path)
            self.answer_json(500, ApiError(500, "InternalError", f"sandbox bug: {error}").body())
        finally:
            self._log_request()  # watch streams (logged when they end) and requests that were never answered

    def _resource(self, route: routing.Route, verb: str, query: dict[str, str], body: bytes) -> None:
        store = self.server.cluster.store
        resource = route.resource
        if verb == "watch":
            watch_stream.serve(self, resource, route.namespace, query if not route.name else
                               dict(query, fieldSelector=f"metadata.name={route.name}"),
                               as_table=table.wants_table(self.headers.get("Accept")))
            return
        as_table = table.wants_table(self.headers.get("Accept")) and route.subresource is None
        if verb == "list":
            wait = self.server.cluster.too_large_wait
            if as_table:
                listed = reads.list_objects(store, resource, route.namespace, query, wait=wait)
                self.answer_json(200, table.table(resource, listed["items"], listed["metadata"],
                                                  query.get("includeObject")))
            elif self._format == "json":
                self.answer(200, reads.list_json(store, resource, route.namespace, query, wait=wait))
            else:
                self.answer_json(200, reads.list_objects(store, resource, route.namespace, query, wait=wait))
            return
        if verb == "get":
            obj = reads.get(store, resource, route.namespace or "", route.name or "")
            if as_table:
                obj = table.table(resource, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")},
                                  query.get("includeObject"))
            self.answer_json(200, reads.scale_of(store.get(resource.store_key, route.namespace or "", route.name or ""))
                       if route.subresource == "scale" else obj)
            return
        if resource.namespaced and route.namespace is None and verb in ("create", "deletecollection"):
            raise method_not_allowed()
        if verb in ("create", "update", "patch"):
            with unknown_fields.field_validation(query.get("fieldValidation"), verb) as warnings:
                code, obj = self._write(route, verb, query, body)
            self.answer_json(code, obj, unknown_fields.warning_headers(warnings))
            return
        code, obj = self._write(route, verb, query, body)
        self.answer_json(code, obj)

    def _write(self, route: routing.Route, verb: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        store = self.server.cluster.store
        resource = route.resource
        manager = query.get("fieldManager") or managed_fields.user_agent_manager(self.headers.get("User-Agent"))
        if verb == "create":
            code, obj = 201, writes.create(store, resource, route.namespace, self._decode(body),
                                           dry_run=_dry_run(query, "CreateOptions"), manager=manager)
        elif verb == "update":
            code, obj = writes.update(store, resource, route.namespace, route.name or "", self._decode(body),
                                      subresource=route.subresource, dry_run=_dry_run(query, "UpdateOptions"),
                                      manager=manager)
        elif verb == "patch":
            code, obj = writes.patch(store, resource, route.namespace, route.name or "",
                                     self.headers.get("Content-Type") or "", body, subresource=route.subresource,
                                     dry_run=_dry_run(query, "PatchOptions"), field_manager=query.get("fieldManager"),
                                     manager=manager, force=query.get("force") in ("true", "1"))
        elif verb == "delete":
            options = _delete_options(self._decode(body) if body.strip() else {}, query)
            dry_run = _dry_run(query, "DeleteOptions") or "All" in (options.get("dryRun") or [])
            code, obj = writes.delete(store, resource, route.namespace, route.name or "", options, dry_run=dry_run)
        elif verb == "deletecollection":
            options = _delete_options(self._decode(body) if body.strip() else {}, query)
            code, obj = 200, writes.delete_collection(store, resource, route.namespace, query, options,
                                                      dry_run=_dry_run(query, "DeleteOptions"))
        else:
            raise method_not_allowed()
        return code, obj

    def _decode(self, body: bytes) -> Any:
        content_type = (self.headers.get("Content-Type") or _JSON).split(";")[0].strip()
        if content_type == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(body)
            except protobuf.ProtobufError as error:
                raise ApiError(415, "UnsupportedMediaType", f"the sandbox cannot decode this protobuf body: {error}")
        if content_type not in (_JSON, "application/yaml", "*/*", ""):
            raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - '
                                                        f'accepted media types include: application/json, '
                                                        f'application/yaml, application/vnd.kubernetes.protobuf')
        try:
            if content_type == "application/yaml":
                import yaml

                return yaml.safe_load(body.decode())
            return unknown_fields.decode_json(body or b"null")  # notes duplicate fields for fieldValidation
        except Exception as error:  # any decoder failure is the client's
            raise bad_request(f"the body of the request could not be decoded: {error}") from None

    # --- watch streams (``watch_stream`` decides what they carry) -------------------------------
    def start_stream(self) -> None:
        """Answer 200 with a chunked JSON body that the watch then writes chunk by chunk."""
        self.status_code = 200
        self.send_response(200)
        self.send_header("Content-Type", _JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data: bytes) -> None:
        """Write one chunk (an empty one ends the stream)."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
