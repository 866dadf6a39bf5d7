"""The lean transport's connection reuse against a server that closes keep-alive connections early.

A connection used moments ago is reused without asking the kernel whether it is still open;
a server that closed it meanwhile must still get the request, once, on a fresh connection.
"""

from __future__ import annotations

from tests.loop_unit.canned_http import CannedServer

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def test_a_request_on_a_connection_the_server_just_closed_is_sent_again_once_on_a_new_one() -> None:
    server = CannedServer([(ANSWER, True)] * 3)  # one answer per connection, promising keep-alive
    transport = server.transport()
    try:
        answers = [transport.request("PATCH", f"/x/{n}", b"[]") for n in range(3)]
    finally:
        transport.close()
        server.close()
    assert [a.status for a in answers] == [200, 200, 200]
    assert [a.content for a in answers] == [b"{}"] * 3
    assert server.requests == [f"PATCH /x/{n} HTTP/1.1".encode() for n in range(3)]  # each landed once
    assert server.connections == 3
