"""The lean transport's connection reuse against a server that closes keep-alive connections early.

A connection used moments ago is reused without asking the kernel whether it is still open;
a server that closed it meanwhile must still get the request, once, on a fresh connection.
"""

from __future__ import annotations

import socket
import threading

from failsync.kube.transport import LeanTransport

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class ClosingServer:
    """Answers one request per connection (promising keep-alive), then closes it; counts requests."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    self.requests.append(data.split(b"\r\n", 1)[0])
                    conn.sendall(ANSWER)

    def close(self) -> None:
        self.listener.close()


def test_a_request_on_a_connection_the_server_just_closed_is_sent_again_once_on_a_new_one() -> None:
    server = ClosingServer()
    transport = LeanTransport(f"http://127.0.0.1:{server.port}", context=None, server_hostname=None,
                              headers={}, timeout=5.0)
    try:
        answers = [transport.request("PATCH", f"/x/{n}", b"[]") for n in range(3)]
    finally:
        transport.close()
        server.close()
    assert [a.status for a in answers] == [200, 200, 200]
    assert [a.content for a in answers] == [b"{}"] * 3
    assert server.requests == [f"PATCH /x/{n} HTTP/1.1".encode() for n in range(3)]  # each landed once
    assert server.connections == 3
