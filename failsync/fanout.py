"""One-shot batch work split over forked worker processes, slice by slice.

Owns: deciding whether a batch is worth splitting (enough items, more than one usable CPU,
``os.fork`` available, no other thread that a fork could catch holding a lock), cutting it
into slices handed out one at a time through a pipe (the calling process takes them too),
forking, and collecting the workers' pickled results in order. Never does: the work, or
anything with a worker's failure but answer None (the caller then does the whole batch
itself, so what the user sees never depends on it).

Why: ``failsync render`` and ``validate`` of 10,000 policy files spend ~0.5-0.9 s of CPU in
pure-Python parsing, validation and emission; on two cores that is nearly halved.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from typing import Any, Callable, Sequence, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Fewest items a worker is given: below this a fork (~2-5 ms) costs more than it saves.
MIN_ITEMS_PER_WORKER = 32
#: Most workers used, whatever the CPU count (each holds its own copy of what it builds).
MAX_WORKERS = 4


def worker_count(items: int) -> int:
    """How many processes (the caller included) ``split_map`` would use for ``items`` items."""
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS, items // MIN_ITEMS_PER_WORKER))


def slices(items: Sequence[Item], count: int) -> list[Sequence[Item]]:
    """``items`` cut into ``count`` contiguous slices, in order, sizes differing by at most one."""
    size, extra = divmod(len(items), count)
    cuts = [0]
    for index in range(count):
        cuts.append(cuts[-1] + size + (1 if index < extra else 0))
    return [items[cuts[index]:cuts[index + 1]] for index in range(count)]


#: Most slices a batch is cut into (one byte each in the pipe they are handed out through).
MAX_SLICES = 250


def split_map(items: Sequence[Item], work: Callable[[Sequence[Item]], Result | None]) -> list[Result] | None:
    """``[work(slice) for slice in slices(items, n)]``, the slices shared out among the caller and
    forked workers as each asks for the next (a worker kept off its CPU by other work holds up
    at most one slice).

    None when the batch is not split (one process would do), a worker fails, or any slice's
    work answers None (the slices not yet started are then dropped and the workers stopped);
    the caller then does the work itself. ``work`` must not write to stdout or stderr, and
    its result must pickle.
    """
    count = worker_count(len(items))
    if count < 2:
        return None
    parts = slices(items, min(len(items), MAX_SLICES))
    tokens, writer = os.pipe()
    try:
        os.write(writer, bytes(range(len(parts))))  # < the pipe's buffer: never blocks
    finally:
        os.close(writer)  # once every token is taken, a read finds the end
    workers: list[tuple[int, int]] = []
    collected = 0
    try:
        for _ in range(count - 1):
            workers.append(_fork(work, parts, tokens))
        done: dict[int, Any] = _pull(work, parts, tokens)
        if None in done.values():
            return None  # the workers are stopped below: their results would go unused
        for pid, descriptor in workers:
            found = _collect(pid, descriptor)
            collected += 1
            if found is _FAILED:
                return None
            done.update(found)  # type: ignore[call-overload]
    finally:
        os.close(tokens)
        for index, (pid, descriptor) in enumerate(workers):
            _reap(pid, descriptor, stop=index >= collected)
    if len(done) != len(parts) or None in done.values():
        return None
    return [done[index] for index in range(len(parts))]


def _pull(work: Callable[[Sequence[Item]], Result | None], parts: list[Sequence[Item]],
          tokens: int) -> dict[int, Result | None]:
    """``work`` of each slice whose token this process takes, until none is left or one answers None."""
    done: dict[int, Result | None] = {}
    while token := os.read(tokens, 1):  # one byte: no other process gets the same one
        index = token[0]
        done[index] = result = work(parts[index])
        if result is None:
            while os.read(tokens, 4096):
                pass  # the batch is declined: no process starts another slice
            break
    return done


_FAILED: object = object()


def _fork(work: Callable[[Sequence[Item]], Result | None], parts: list[Sequence[Item]],
          tokens: int) -> tuple[int, int]:
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: never returns into the caller's code
        status = 1
        try:
            os.close(reader)
            data = pickle.dumps(_pull(work, parts, tokens), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(writer, "wb") as stream:
                stream.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    return pid, reader


def _collect(pid: int, descriptor: int) -> object:
    chunks = []
    while chunk := os.read(descriptor, 1 << 20):
        chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        return _FAILED
    try:  # never raises once the worker is waited for (split_map would stop it again)
        return pickle.loads(b"".join(chunks))
    except Exception:  # a result that does not unpickle: the caller does the work itself
        return _FAILED


def _reap(pid: int, descriptor: int, *, stop: bool) -> None:
    """Close the pipe; ``stop``: kill and wait for the worker (``_collect`` did not wait for it)."""
    os.close(descriptor)
    if stop:  # (only a worker not yet waited for: its pid cannot have been reused)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
