"""A raw-socket HTTP/1.1 server answering canned bytes, for the lean transport's tests."""

from __future__ import annotations

import socket
import threading

from failsync.kube.transport import LeanTransport


class CannedServer:
    """Answers each request with the next canned answer (closing the connection after those that say
    so); counts connections and keeps each request's first line."""

    def __init__(self, answers: list[tuple[bytes, bool]]) -> None:
        self.answers = list(answers)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                data = b""
                while self.answers:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    if b"\r\n\r\n" not in data:
                        break
                    head, _, data = data.partition(b"\r\n\r\n")
                    self.requests.append(head.split(b"\r\n", 1)[0])
                    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), 0)
                    while len(data) < length:
                        data += conn.recv(65536)
                    data = data[length:]
                    answer, close = self.answers.pop(0)
                    conn.sendall(answer)
                    if close:
                        break

    def close(self) -> None:
        self.listener.close()

    def transport(self) -> LeanTransport:
        return LeanTransport(f"http://127.0.0.1:{self.port}", context=None, server_hostname=None,
                             headers={}, timeout=5.0)
