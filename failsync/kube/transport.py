"""A lean HTTP/1.1 transport for the requests of ``KubeClient``: persistent connections to the
one API server (a watch stream on a connection of its own), TLS and credentials settled once.

Owns: connections (a small pool, one per concurrent caller), the TLS context and the
static credentials of a kubeconfig (bearer token, client certificate). Never does: URLs of
resources, error classes, retries beyond re-opening a connection the server closed while idle.
``lean_transport`` declines (None) whatever it cannot do exactly as pykube-ng and requests do
(exec or auth-provider credentials, a proxy, userinfo in the server URL), and the client then
keeps sending through them.

Imports only what a plain-HTTP request needs: ``ssl`` (and certifi) when the server speaks TLS,
``http.client`` (for its exception classes) when an answer is broken, requests when a proxy
variable is set (its rules decide whether the server is proxied): a one-shot ``sync`` spent
80 ms of its 0.3 s importing them.
"""

from __future__ import annotations

import json
import os
import select
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlsplit

from failsync import __version__

if TYPE_CHECKING:
    import ssl

    from failsync.kube.kubeconfig import KubeConfig

__all__ = ["Answer", "LeanTransport", "Stream", "lean_transport", "USER_AGENT", "proxied"]

#: Sent on every request, lean or through requests (the server's audit log names the client).
USER_AGENT = f"failsync/{__version__}"
#: kubeconfig user fields this transport applies itself; any other (exec, auth-provider, username) declines it.
_STATIC_USER_FIELDS = frozenset({"token", "client-certificate", "client-key", "client-certificate-data",
                                 "client-key-data", "tokenFile"})
#: Environment variables that may send requests through a proxy (requests reads them, any case).
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
#: Seconds a connection may sit idle and be reused without first asking the kernel whether the
#: server closed it. Servers close idle keep-alive connections after far longer; one closed
#: sooner is still caught, by the retry on a fresh connection in ``LeanTransport.request``.
_FRESH = 1.0


#: Longest status or header line accepted (as http.client's limit).
_MAX_LINE = 65536
#: Most header lines accepted in one answer (as http.client's limit).
_MAX_HEADERS = 100


def _http() -> Any:
    """http.client, imported when first needed: only a broken answer raises its exceptions."""
    import http.client

    return http.client


def _stale_connection_errors() -> tuple[type[BaseException], ...]:
    """What a connection the server closed while idle raises. Called in an ``except`` clause, whose
    expression is evaluated only once an exception is raised: http.client is not imported before."""
    errors: list[type[BaseException]] = [ConnectionError, _http().BadStatusLine]
    if "ssl" in sys.modules:  # an SSL error needs a TLS connection, which imported ssl
        errors.append(sys.modules["ssl"].SSLEOFError)
    return tuple(errors)


class _Headers(dict[str, str]):
    """Header names looked up in any case (they are stored lower-case)."""

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name.lower() if isinstance(name, str) else name)


class Response:
    """An answer as the error path reads it (the parts of ``requests.Response`` it uses). A plain
    class: each dataclass costs the import about 0.5 ms (its methods are compiled from source)."""

    __slots__ = ("status_code", "reason", "url", "headers", "content")

    def __init__(self, status_code: int, reason: str, url: str, headers: _Headers, content: bytes) -> None:
        self.status_code, self.reason, self.url, self.headers, self.content = \
            status_code, reason, url, headers, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, read whole; header names lower-case (a repeated header's values joined by ", ")."""

    status: int
    reason: str
    headers: dict[str, str]
    content: bytes

    def as_response(self, url: str) -> Response:
        """The answer as the error path reads it (status, reason, headers in any case, text, json())."""
        return Response(self.status, self.reason, url, _Headers(self.headers), self.content)


class _Connection:
    """One socket to the server, kept open between requests (HTTP/1.1 keep-alive)."""

    def __init__(self, transport: "LeanTransport") -> None:
        host = transport.host
        # An ASCII host as bytes: a str one goes through the idna codec (its import, ~1.5 ms, is
        # one of a converged one-shot sync's larger fixed costs).
        address = (host.encode("ascii") if host.isascii() else host, transport.port)
        sock = socket.create_connection(address, timeout=transport.timeout)  # type: ignore[arg-type]  # getaddrinfo takes bytes
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a request is one write: never wait for an ACK
        if transport.context is not None:
            sock = transport.context.wrap_socket(sock, server_hostname=transport.server_hostname)
        self.sock = sock
        self.reader = sock.makefile("rb")  # one buffer for the connection's life (no request is pipelined)
        self.used = time.monotonic()  # when it last carried an answer

    def exchange(self, request: bytes, method: str) -> tuple[Answer, bool]:
        """Send one request (head and body in one write) and read its answer; and whether to keep the socket."""
        self.sock.sendall(request)
        answer, keep = _read_answer(self.reader, method)
        self.used = time.monotonic()
        return answer, keep

    def dropped(self) -> bool:
        """Whether the server closed the idle socket (it reads as ready: EOF), as urllib3 checks before reuse."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass


def _line(reader: Any) -> bytes:
    line: bytes = reader.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise _http().LineTooLong("header line")
    return line


def _read_head(reader: Any) -> tuple[str, int, str, dict[str, str]]:
    """The status line and headers of one answer (an interim 100 Continue skipped): its HTTP
    version, status, reason and headers (names lower-case, a repeated one's values joined by ", ").

    Raises ``RemoteDisconnected`` when the server closed the connection before answering, and
    ``BadStatusLine`` for a status line that is not HTTP's, as http.client does."""
    while True:
        line = _line(reader)
        if not line:
            raise _http().RemoteDisconnected("Remote end closed connection without response")
        version, _, rest = line.decode("iso-8859-1").rstrip("\r\n").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
            raise _http().BadStatusLine(line.decode("iso-8859-1"))
        status = int(code)
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS + 1):
            header = _line(reader)
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("iso-8859-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        else:
            raise _http().HTTPException(f"got more than {_MAX_HEADERS} headers")
        if status != 100:  # an interim 100 Continue is followed by the real answer
            return version, status, reason.strip(), headers


def _read_answer(reader: Any, method: str) -> tuple[Answer, bool]:
    """One answer from ``reader``, framed as http.client frames it (Content-Length, chunked, or to
    the end of the stream), and whether the connection stays open. Parsed by hand: http.client's
    ``HTTPResponse`` (an email-parser header block, a reader per answer) took 34 us per answer."""
    version, status, reason, headers = _read_head(reader)
    connection = headers.get("connection", "").lower()
    will_close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        content = b""
    else:
        content, to_the_end = _read_body(reader, headers)
        will_close = will_close or to_the_end
    return Answer(status, reason, headers, content), not will_close


def _read_body(reader: Any, headers: dict[str, str]) -> tuple[bytes, bool]:
    """A whole body, and whether the end of the stream framed it (the connection cannot be reused)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _read_chunked(reader), False
    if "content-length" in headers:
        length = int(headers["content-length"])
        content = reader.read(length)
        if len(content) < length:
            raise _http().IncompleteRead(content, length - len(content))
        return content, False
    return reader.read(), True


def _chunk_size(reader: Any, received: list[bytes]) -> int:
    """The size of the next chunk; IncompleteRead when the stream ended without its last chunk."""
    size_line = _line(reader)
    try:
        return int(size_line.split(b";", 1)[0], 16)
    except ValueError:
        raise _http().IncompleteRead(b"".join(received)) from None


def _skip_trailers(reader: Any) -> None:
    while _line(reader) not in (b"\r\n", b"\n", b""):
        pass


def _read_chunked(reader: Any) -> bytes:
    parts: list[bytes] = []
    while True:
        size = _chunk_size(reader, parts)
        if size == 0:
            _skip_trailers(reader)
            return b"".join(parts)
        chunk = reader.read(size)
        if len(chunk) < size:
            raise _http().IncompleteRead(b"".join(parts) + chunk, size - len(chunk))
        parts.append(chunk)
        reader.read(2)  # the chunk's CRLF


#: Most bytes of a stream read at once: the API server sends the events it has queued as one chunk
#: (a watch resumed behind 10,000 writes: megabytes), which is split into lines piece by piece.
_PIECE = 65536


def _read_pieces(reader: Any, size: int, received: list[bytes]) -> Iterator[bytes]:
    """``size`` bytes of ``reader`` in pieces of at most ``_PIECE``; IncompleteRead when it ends first."""
    while size > 0:
        piece = reader.read(min(size, _PIECE))
        if not piece:
            raise _http().IncompleteRead(b"".join(received), size)
        size -= len(piece)
        yield piece


def _body_pieces(reader: Any, headers: dict[str, str]) -> Iterator[bytes]:
    """A body in pieces of at most ``_PIECE`` as they arrive, framed as ``_read_body`` frames it whole."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while size := _chunk_size(reader, []):
            yield from _read_pieces(reader, size, [])
            reader.read(2)  # the chunk's CRLF
        _skip_trailers(reader)
    elif "content-length" in headers:
        yield from _read_pieces(reader, int(headers["content-length"]), [])
    else:  # to the end of the stream: what has arrived, not a full piece
        yield from iter(lambda: reader.read1(_PIECE), b"")


def _split_lines(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The lines of a body (without their newlines) cut from its pieces; a line may span pieces."""
    pending: list[bytes] = []  # the pieces of the line not yet ended
    for piece in pieces:
        start = 0
        while (end := piece.find(b"\n", start)) >= 0:
            if pending:
                yield b"".join((*pending, piece[start:end]))
                pending = []
            else:
                yield piece[start:end]
            start = end + 1
        if start < len(piece):
            pending.append(piece[start:])
    if pending:  # the last line, when the body did not end with a newline
        yield b"".join(pending)


class Stream:
    """A streaming answer (a watch) on a connection of its own, never reused: its lines as they
    arrive; ``end`` may be called from any thread and wakes a read blocked on the socket."""

    def __init__(self, connection: _Connection, headers: dict[str, str]) -> None:
        self._connection = connection
        self._headers = headers

    def lines(self) -> Iterator[bytes]:
        """Each line of the body, without its newline, until the body ends; OSError or http.client's
        HTTPException when the connection breaks first."""
        return _split_lines(_body_pieces(self._connection.reader, self._headers))

    def end(self) -> None:
        """End the stream: a read blocked on it returns at once (closing the socket alone would not wake it)."""
        try:
            self._connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # ended already, or the server closed it
            pass

    def close(self) -> None:
        self._connection.close()


class LeanTransport:
    """Requests to one server over reused connections; thread-safe (each caller takes its own connection)."""

    def __init__(self, url: str, *, context: ssl.SSLContext | None, server_hostname: str | None,
                 headers: dict[str, str], timeout: float) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base = parts.path.rstrip("/")
        self.context = context
        self.server_hostname = server_hostname or self.host
        self.timeout = timeout
        host_header = parts.netloc
        self._head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": host_header, **headers}.items())
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def request(self, method: str, target: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        """``method`` ``target`` (a path with its query) with ``body``; raises OSError when no answer came.

        A connection that sat idle may have been closed by the server: its request is sent
        again once on a fresh connection, as urllib3 does."""
        request = self._request(method, target, body, headers)
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        # The select() of ``dropped`` costs a GIL hand-over per request: under a burst, with every
        # worker writing, that wait was a tenth of a worker's samples; a connection used within the
        # last second is taken as open.
        if connection is not None and time.monotonic() - connection.used > _FRESH and connection.dropped():
            connection.close()
            connection = None
        if connection is not None:
            try:
                return self._exchange(connection, request, method)
            except _stale_connection_errors():
                pass  # closed while idle: try once more on a new connection
        return self._exchange(_Connection(self), request, method)

    def stream(self, target: str, headers: dict[str, str] | None = None,
               read_timeout: float | None = None) -> Answer | Stream:
        """GET ``target`` on a connection of its own and, once the server answers 2xx, its body as a
        Stream (read with ``read_timeout`` between arrivals, None: wait for ever); any other
        answer is read whole and returned. Raises OSError when no answer came."""
        connection = _Connection(self)
        try:
            connection.sock.sendall(self._request("GET", target, None, headers))
            connection.sock.settimeout(read_timeout)
            _, status, reason, answer_headers = _read_head(connection.reader)
            if 200 <= status < 300:
                return Stream(connection, answer_headers)
            content, _ = _read_body(connection.reader, answer_headers)
        except BaseException:
            connection.close()
            raise
        connection.close()
        return Answer(status, reason, answer_headers, content)

    def _request(self, method: str, target: str, body: bytes | None, headers: dict[str, str] | None) -> bytes:
        """One request's bytes: head and body, to be sent in one write."""
        head = [f"{method} {self.base}{target} HTTP/1.1\r\n", self._head]
        for key, value in (headers or {}).items():
            head.append(f"{key}: {value}\r\n")
        head.append(f"Content-Length: {len(body)}\r\n\r\n" if body is not None else "\r\n")
        return "".join(head).encode("latin-1") + (body or b"")

    def _exchange(self, connection: _Connection, request: bytes, method: str) -> Answer:
        try:
            answer, keep = connection.exchange(request, method)
        except BaseException:
            connection.close()
            raise
        if keep:
            with self._lock:
                self._idle.append(connection)
        else:
            connection.close()
        return answer

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _tls_context(config: "KubeConfig") -> "ssl.SSLContext":
    """The TLS context pykube-ng's adapter would give requests: the CA (PYKUBE_SSL_CERTIFICATE_AUTHORITY, the
    kubeconfig's, or requests' CA bundle variables), insecure-skip-tls-verify, and the client certificate."""
    import ssl

    cluster = config.cluster
    context = ssl.create_default_context()
    override = os.environ.get("PYKUBE_SSL_CERTIFICATE_AUTHORITY")
    authority = config.credential("cluster", "certificate-authority")
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if override is not None:
        context.load_verify_locations(cafile=override)
    elif authority is not None:
        context.load_verify_locations(cadata=authority.bytes().decode("ascii"))
    elif cluster.get("insecure-skip-tls-verify"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif bundle:  # requests reads these when the request itself names no CA
        context.load_verify_locations(cafile=bundle)
    else:
        import certifi

        context.load_verify_locations(cafile=certifi.where())  # requests verifies against certifi
    certificate, key = config.credential("user", "client-certificate"), config.credential("user", "client-key")
    if certificate is not None and key is not None:
        with _as_files(certificate.bytes(), key.bytes()) as (certificate_file, key_file):
            context.load_cert_chain(certificate_file, key_file)
    return context


class _as_files:
    """Certificate and key bytes as two private temporary files while ``ssl`` reads them (it reads only
    files); removed at once, so a client key from ``client-key-data`` never stays on disk."""

    def __init__(self, *contents: bytes) -> None:
        self.contents = contents
        self.paths: list[str] = []

    def __enter__(self) -> tuple[str, ...]:
        import tempfile

        for content in self.contents:
            handle, path = tempfile.mkstemp(prefix="failsync-", suffix=".pem")  # mode 0600
            self.paths.append(path)
            with os.fdopen(handle, "wb") as file:
                file.write(content)
        return tuple(self.paths)

    def __exit__(self, *exc: object) -> None:
        for path in self.paths:
            try:
                os.unlink(path)
            except OSError:
                pass


def proxied(url: str) -> bool:
    """Whether requests would send a request to ``url`` through a proxy of the environment.

    No proxy variable set: no (requests is not imported). Else requests' own rules decide
    (``NO_PROXY``, the scheme's variable, ``all_proxy``)."""
    if not any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES):
        return False
    import requests.utils

    return bool(requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url)))


def _bearer(user: dict[str, Any]) -> str | None:
    """The bearer token of a kubeconfig user: ``token``, else the content of ``tokenFile`` (as kubectl)."""
    if user.get("token"):
        return str(user["token"])
    if isinstance(user.get("tokenFile"), str):
        return open(user["tokenFile"], encoding="utf-8").read().strip() or None
    return None


def lean_transport(config: "KubeConfig", url: str, timeout: float) -> LeanTransport | None:
    """A LeanTransport with the kubeconfig's TLS and static credentials, or None where it would
    behave differently from pykube-ng over requests (then the client uses those)."""
    parts = urlsplit(url)
    user = config.user or {}
    if parts.scheme not in ("http", "https") or parts.username or parts.password:
        return None
    if set(user) - _STATIC_USER_FIELDS or proxied(url):
        return None
    if "tls-server-name" in config.cluster and parts.scheme != "https":
        return None
    headers = {"User-Agent": USER_AGENT}
    try:
        token = _bearer(user)
    except OSError:
        return None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    context = None
    if parts.scheme == "https":
        try:
            context = _tls_context(config)
        except (OSError, ValueError, KeyError):
            return None  # requests reports a bad certificate when it is used; leave it to them
    return LeanTransport(url, context=context, server_hostname=config.cluster.get("tls-server-name"),
                         headers=headers, timeout=timeout)
