"""``run``'s log records go through one writer thread and come out as they would have directly.

Covers:
- inside ``queued_logging`` every line (text and json, with ``extra`` fields and a traceback)
  is the one the stream handler writes for the same record, in the order logged, from several
  threads; the message is made when logged, not when written;
- the block's end writes everything queued and puts the logger's own handlers back; ``flush``
  (for an exit that skips the block's end) writes what is queued and may run again.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from typing import Iterator

import pytest

from failsync.cli.options import log_handler, queued_logging


@pytest.fixture()
def stream_logger(request: pytest.FixtureRequest) -> Iterator[tuple[logging.Logger, io.StringIO, str]]:
    """The ``failsync`` logger writing ``request.param`` lines to a buffer."""
    logger = logging.getLogger("failsync")
    saved, level = logger.handlers[:], logger.level
    buffer = io.StringIO()
    handler = log_handler(request.param)
    handler.setStream(buffer)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    try:
        yield logger, buffer, request.param
    finally:
        logger.handlers[:] = saved
        logger.setLevel(level)


def _log_some(logger: logging.Logger) -> None:
    shown = {"web": 1}
    logger.info("weights %s", shown, extra={"policy": "ns/web"})
    shown["web"] = 0  # changed after logging: the line keeps what was logged
    try:
        raise ValueError("boom")
    except ValueError:
        logger.error("write failed", exc_info=True)
    logger.debug("not at this level")


@pytest.mark.parametrize("stream_logger", ["text", "json"], indirect=True)
def test_queued_lines_are_the_direct_lines_in_the_order_logged(stream_logger) -> None:
    logger, buffer, log_format = stream_logger
    _log_some(logger)
    direct = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    handler = logger.handlers[0]
    with queued_logging():
        assert logger.handlers[0] is not handler  # records go to the queue now
        _log_some(logger)
    assert logger.handlers == [handler]
    queued = buffer.getvalue()

    def without_times(text: str) -> list[str]:
        if log_format == "json":
            lines = [json.loads(line) for line in text.splitlines()]
            for line in lines:
                line.pop("time")
                line["exception"] = line.get("exception", "").replace("\n", "|").split("|  File")[0]
            return [json.dumps(line, sort_keys=True) for line in lines]
        return [line.split(" ", 1)[1] for line in text.splitlines() if not line.startswith(" ")]

    assert "weights {'web': 1}" in queued and "ValueError: boom" in queued
    assert without_times(queued) == without_times(direct)


@pytest.mark.parametrize("stream_logger", ["text"], indirect=True)
def test_every_thread_s_lines_are_written_by_the_end_of_the_block_in_order(stream_logger) -> None:
    logger, buffer, _ = stream_logger

    def worker(number: int) -> None:
        for index in range(200):
            logger.info("worker %d line %d", number, index)

    with queued_logging():
        threads = [threading.Thread(target=worker, args=(number,)) for number in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 800
    for number in range(4):
        mine = [int(line.rsplit(" ", 1)[1]) for line in lines if f"worker {number} " in line]
        assert mine == list(range(200))


@pytest.mark.parametrize("stream_logger", ["text"], indirect=True)
def test_flush_writes_what_is_queued_and_may_run_twice(stream_logger) -> None:
    logger, buffer, _ = stream_logger
    with queued_logging() as flush:
        logger.info("before an exit that skips the block's end")
        flush()
        assert "before an exit" in buffer.getvalue()
        flush()
    assert buffer.getvalue().count("before an exit") == 1
