"""The lean transport reads every framing of an HTTP/1.1 answer as http.client does.

Covers: a Content-Length body, a chunked body (with an extension and trailers), a body framed by
the connection's end, an interim 100 Continue, an answer with no body (204) and an error answer's
body and headers (read by the error path as a ``requests.Response``); a keep-alive answer leaves
the connection for the next request, ``Connection: close`` and HTTP/1.0 do not; a truncated body
is an error, never a short answer.
"""

from __future__ import annotations

import http.client

import pytest

from tests.loop_unit.canned_http import CannedServer


def _exchange(answers: list[tuple[bytes, bool]], method: str = "PATCH") -> tuple[list, int]:
    server = CannedServer(answers)
    transport = server.transport()
    try:
        got = [transport.request(method, f"/x/{n}", b"[]") for n in range(len(answers))]
    finally:
        transport.close()
        server.close()
    return got, server.connections


def test_each_framing_gives_the_whole_body_and_keep_alive_reuses_the_connection() -> None:
    answers, connections = _exchange([
        (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}", False),
        (b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\n{\"b\r\n4\r\n\":2}\r\n0\r\nX-T: 1\r\n\r\n",
         False),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", False),
        (b"HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nWarning: a\r\nWarning: b\r\n"
         b"Content-Length: 2\r\n\r\n{}", False),
    ])
    assert [(a.status, a.content) for a in answers] == [(200, b'{"a":1}'), (201, b'{"b":2}'), (204, b""),
                                                         (409, b"{}")]
    assert connections == 1
    response = answers[3].as_response("http://server/x/3")
    assert response.status_code == 409 and response.reason == "Conflict" and response.json() == {}
    assert response.headers["content-type"] == "application/json"
    assert response.headers["Warning"] == "a, b"


def test_an_answer_that_closes_the_connection_is_not_reused() -> None:
    answers, connections = _exchange([
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", True),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
        (b"HTTP/1.1 200 OK\r\n\r\nto the end", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
    ])
    assert [a.content for a in answers] == [b"ok", b"ok", b"to the end", b"ok"]
    assert connections == 4


def test_a_truncated_body_is_an_error() -> None:
    with pytest.raises(http.client.IncompleteRead):
        _exchange([(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", True)])
