"""The lean transport's watch streams: a 2xx answer's body line by line as it arrives, any other
answer whole.

Covers: a chunked body whose lines span chunks and whose chunks hold several lines, read in
bounded pieces (the API server sends what it has queued as one chunk: megabytes when a watch
resumes behind thousands of writes), with lines spanning pieces; a body framed
by Content-Length or by the connection's end; an error answer read whole (for the error path);
a stream cut before its last chunk is an error, never a quiet end; ``end`` from another thread
ends a stream the server keeps open (a read blocked on it returns); every stream has a connection of its own.
"""

from __future__ import annotations

import http.client
import threading

import pytest

from failsync.kube import transport
from failsync.kube.transport import Answer, Stream
from tests.loop_unit.canned_http import CannedServer

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _lines(answer: bytes, close: bool = True) -> list[bytes]:
    server = CannedServer([(answer, close)])
    try:
        stream = server.transport().stream("/watch?watch=true", read_timeout=5.0)
        assert isinstance(stream, Stream)
        try:
            return list(stream.lines())
        finally:
            stream.close()
    finally:
        server.close()


def test_chunked_lines_are_whole_however_the_chunks_cut_them() -> None:
    body = _chunk(b'{"type":"ADDED"}\n{"ty') + _chunk(b'pe":"MODIFIED"}') + _chunk(b"\n") + \
        _chunk(b'{"type":"DELETED"}\n{"type":"BOOKMARK"}\n') + b"0\r\n\r\n"
    assert _lines(HEAD + body) == [b'{"type":"ADDED"}', b'{"type":"MODIFIED"}', b'{"type":"DELETED"}',
                                   b'{"type":"BOOKMARK"}']


def test_a_chunk_is_read_in_bounded_pieces_and_its_lines_stay_whole(monkeypatch) -> None:
    reads: list[int] = []
    monkeypatch.setattr(transport, "_PIECE", 5)
    original = transport._read_pieces

    def counted(reader, size, received):  # type: ignore[no-untyped-def]
        for piece in original(reader, size, received):
            reads.append(len(piece))
            yield piece

    monkeypatch.setattr(transport, "_read_pieces", counted)
    events = [b'{"type":"ADDED","n":%d}' % n for n in range(40)]
    one_chunk = _chunk(b"\n".join(events) + b"\n")
    assert _lines(HEAD + one_chunk + b"0\r\n\r\n") == events
    assert reads and max(reads) <= 5
    long_line = b'{"type":"ADDED","object":"' + b"x" * 50 + b'"}'
    assert _lines(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s\n" % (len(long_line) + 1, long_line)) \
        == [long_line]


def test_a_last_line_without_its_newline_is_still_a_line() -> None:
    assert _lines(HEAD + _chunk(b'{"a":1}\n{"b":2}') + b"0\r\n\r\n") == [b'{"a":1}', b'{"b":2}']


def test_a_body_framed_by_its_length_or_by_the_connections_end() -> None:
    assert _lines(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\"a\":1}\n{}\n\n") == [b'{"a":1}', b"{}", b""]
    assert _lines(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"a\":1}\n{\"b\":2}") == [b'{"a":1}', b'{"b":2}']


def test_an_error_answer_comes_back_whole() -> None:
    server = CannedServer([(b"HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n" + _chunk(b'{"code":410}') + b"0\r\n\r\n", True)])
    try:
        answer = server.transport().stream("/watch?watch=true")
    finally:
        server.close()
    assert isinstance(answer, Answer)
    assert (answer.status, answer.reason, answer.content) == (410, "Gone", b'{"code":410}')


def test_a_stream_cut_before_its_last_chunk_is_an_error() -> None:
    with pytest.raises(http.client.IncompleteRead):
        _lines(HEAD + _chunk(b'{"type":"ADDED"}\n'))
    with pytest.raises(http.client.IncompleteRead):
        _lines(HEAD + b"40\r\n{\"type\":")


def test_end_from_another_thread_ends_a_stream_the_server_keeps_open() -> None:
    server = CannedServer([(HEAD + _chunk(b'{"type":"ADDED"}\n'), False)])  # then keeps the connection open
    outcome: list[object] = []
    try:
        stream = server.transport().stream("/watch?watch=true")
        assert isinstance(stream, Stream)
        lines = stream.lines()
        assert next(lines) == b'{"type":"ADDED"}'

        def read_on() -> None:
            try:
                outcome.append(next(lines))
            except (OSError, http.client.HTTPException) as error:
                outcome.append(error)

        reader = threading.Thread(target=read_on, daemon=True)
        reader.start()
        stream.end()
        reader.join(10)
        assert not reader.is_alive(), "end() did not wake the blocked read"
        assert len(outcome) == 1 and isinstance(outcome[0], http.client.IncompleteRead)
        stream.end()  # twice is harmless
        stream.close()
    finally:
        server.close()


def test_each_stream_has_a_connection_of_its_own() -> None:
    answer = HEAD + _chunk(b"{}\n") + b"0\r\n\r\n"
    server = CannedServer([(answer, False), (answer, False)])
    transport = server.transport()
    try:
        for _ in range(2):
            stream = transport.stream("/watch?watch=true", read_timeout=5.0)
            assert isinstance(stream, Stream) and list(stream.lines()) == [b"{}"]
            stream.close()
    finally:
        server.close()
    assert server.connections == 2
