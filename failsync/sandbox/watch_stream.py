"""Watch streams: one watch as kube-apiserver streams it, chunked JSON events over HTTP/1.1.

Owns: the stream's framing, the initial events and their end bookmark, batching queued events
into one chunk, periodic BOOKMARKs, the request timeout (``timeoutSeconds`` or the server's
randomised minimum) and 410/504 as a watch ERROR event. Never does: which events a watch sees
(``reads.open_watch`` and the store decide).
"""

from __future__ import annotations

import json
import queue
import random
import socket
import time
from typing import TYPE_CHECKING, Any

from failsync.sandbox import reads, table
from failsync.sandbox.resources import ResourceType, to_view
from failsync.sandbox.status import ApiError

if TYPE_CHECKING:
    from failsync.sandbox.server import Handler

def serve(handler: "Handler", resource: ResourceType, namespace: str | None, query: dict[str, str], *,
          as_table: bool = False) -> None:
    """Stream one watch on ``handler``'s connection until its timeout, a cut or shutdown."""
    cluster = handler.server.cluster
    store = cluster.store
    try:
        plan = reads.open_watch(store, resource, namespace, query, wait=cluster.too_large_wait)
        if handler.server.closing:  # registered after close() ended the watches: end this one too
            plan.watcher.close()
    except ApiError as error:
        if error.code not in (410, 504):  # past validation, the real server sends these as a watch ERROR
            raise
        handler.start_stream()
        handler.chunk(json.dumps({"type": "ERROR", "object": error.body()}, separators=(",", ":")).encode() + b"\n")
        handler.chunk(b"")
        handler.close_connection = True
        return
    handler.start_stream()

    def view(obj: dict) -> dict:
        served = to_view(resource, obj)
        if not as_table:
            return served
        # each event's object is a one-row Table, as kubectl get --watch asks
        return table.table(resource, [served], {"resourceVersion": served["metadata"]["resourceVersion"]},
                           query.get("includeObject"))

    def bookmark(revision: int, initial_end: bool = False) -> bytes:
        metadata: dict[str, Any] = {"resourceVersion": str(revision)}
        if initial_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        return (json.dumps({"type": "BOOKMARK", "object": {"kind": resource.kind, "apiVersion":
                            resource.api_version, "metadata": metadata}}, separators=(",", ":")) + "\n").encode()

    watcher = plan.watcher
    timeout = plan.timeout if plan.timeout is not None else cluster.min_request_timeout * (1 + random.random())
    deadline = time.monotonic() + timeout
    next_bookmark = time.monotonic() + cluster.bookmark_interval
    try:
        first = b"".join(change.encode(event_type, (resource, as_table), view)
                         for event_type, change in plan.first)
        if plan.initial_events_end:
            first += bookmark(plan.revision, initial_end=True)
        if first:
            handler.chunk(first)
        while True:
            now = time.monotonic()
            wait = min(next_bookmark - now, deadline - now)
            try:
                item = watcher.events.get(timeout=max(wait, 0))
            except queue.Empty:
                now = time.monotonic()
                if now >= deadline:
                    revision = store.idle_revision(watcher)
                    if plan.bookmarks and revision is not None:
                        handler.chunk(bookmark(revision))
                    break
                next_bookmark = now + cluster.bookmark_interval
                revision = store.idle_revision(watcher)
                if plan.bookmarks and revision is not None:
                    handler.chunk(bookmark(revision))
                continue
            if item is None:  # dropped by fault injection or shutdown: cut the connection
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            batch = [item]
            while len(batch) < 256:
                try:
                    batch.append(watcher.events.get_nowait())
                except queue.Empty:
                    break
            if None in batch:
                batch = batch[:batch.index(None)]
                watcher.events.put(None)
            handler.chunk(b"".join(change.encode(event_type, (resource, as_table), view)
                                   for event_type, change in batch))
        handler.chunk(b"")
    except OSError:
        handler.close_connection = True
    finally:
        store.unwatch(watcher)


__all__ = ["serve"]
