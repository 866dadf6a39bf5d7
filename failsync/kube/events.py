"""Kubernetes Events (core/v1) on TrafficSplits at every failover and failback.

Owns: naming the transition a write made (``transition``: FailedOver / FailedBack
with a message naming the backends) and posting it once: the same transition of
the same object is never emitted twice in a row. Posting happens on a background
sender thread with a bounded queue, so a reconcile worker never waits for an Event
(a full queue makes the caller wait: an Event is never dropped for lack of room),
and ``close`` sends what is still queued before shutdown.
Never does: decide weights or write the TrafficSplit itself.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from typing import Any, Callable, Mapping

from failsync.errors import ApiError
from failsync.kube.client import KubeClient
from failsync.kube.lease import micro_time
from failsync.kube.resources import EVENTS
from failsync.kube.watch import object_key

log = logging.getLogger(__name__)

FAILED_OVER = "FailedOver"
FAILED_BACK = "FailedBack"
COMPONENT = "failsync"
#: Events waiting to be sent; far above what a burst of failovers produces between two sends.
QUEUE_CAPACITY = 4096


def _active(weights: Mapping[str, int] | None) -> tuple[str, ...]:
    return tuple(service for service, weight in (weights or {}).items() if weight and weight > 0)


def transition(primary: str, previous: Mapping[str, int] | None,
               current: Mapping[str, int]) -> tuple[str, str] | None:
    """The (reason, message) of moving from ``previous`` to ``current`` weights, or None.

    FailedOver: the primary carries no weight and fallbacks do, and that is new
    (the primary carried weight before, or other fallbacks did). FailedBack: the
    primary carries weight again after it did not.
    """
    before, after = _active(previous), _active(current)
    if after and primary not in after and before != after:
        origin = ", ".join(before) if before else "no backend"
        return FAILED_OVER, (f"primary {primary} is unhealthy: traffic moved from {origin} "
                             f"to {', '.join(after)}")
    if primary in after and before and primary not in before:
        return FAILED_BACK, f"primary {primary} is healthy again: traffic moved from {', '.join(before)} to {primary}"
    return None


class EventRecorder:
    """Posts Events on objects, never the same (reason, message) twice in a row per object.

    With ``background`` (the loop), ``record`` queues the Event for a sender thread and
    ``on_sent(reason)`` runs after each successful POST; without it, ``record`` posts at once.
    """

    def __init__(self, client: KubeClient, *, component: str = COMPONENT, instance: str = "",
                 clock=time.time, background: bool = False, capacity: int = QUEUE_CAPACITY,
                 on_sent: Callable[[str], None] = lambda reason: None) -> None:
        self.client = client
        self.component = component
        self.instance = instance
        self.on_sent = on_sent
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[str, str]] = {}
        self._pending: queue.Queue[tuple[str, str, dict] | None] | None = (
            queue.Queue(capacity) if background else None)
        self._sender: threading.Thread | None = None

    def record(self, obj: Mapping[str, Any], reason: str, message: str, *, type: str = "Normal") -> bool:
        """Emit one Event about ``obj``; False (and nothing sent) when it repeats the last one.

        In the background mode True means queued; a failed POST is logged by the sender.
        """
        key = f"{obj.get('kind')}/{object_key(obj)}"
        with self._lock:
            if self._last.get(key) == (reason, message):
                return False
            self._last[key] = (reason, message)
        body = self.event_for(obj, reason, message, type=type)
        if self._pending is None:
            return self._post(key, reason, body)
        with self._lock:
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_queued, name="events", daemon=True)
                self._sender.start()
        self._pending.put((key, reason, body))  # blocks only when thousands are waiting
        return True

    def _post(self, key: str, reason: str, body: dict) -> bool:
        try:
            self.client.create(EVENTS, body)
        except ApiError as error:
            log.warning("could not record event %s on %s: %s", reason, key, error)
            return False
        log.info("event %s on %s: %s", reason, key, body["message"])
        self.on_sent(reason)
        return True

    def _send_queued(self) -> None:
        assert self._pending is not None
        while True:
            item = self._pending.get()
            try:
                if item is None:
                    return
                self._post(*item)
            except Exception:  # the sender outlives any one bad Event
                log.exception("sending an event failed")
            finally:
                self._pending.task_done()

    def close(self, timeout: float) -> bool:
        """Send what is queued (waiting at most ``timeout`` seconds) and stop the sender; False at the timeout."""
        with self._lock:
            sender = self._sender
        if sender is None or self._pending is None:
            return True
        self._pending.put(None)
        sender.join(timeout)
        if sender.is_alive():
            log.warning("shutdown: %d event(s) still unsent after %.0fs", self._pending.qsize(), timeout)
            return False
        with self._lock:
            self._sender = None
        return True

    def forget(self, obj_kind: str, key: str) -> None:
        """Drop what was remembered about an object that is gone (bounded memory)."""
        with self._lock:
            self._last.pop(f"{obj_kind}/{key}", None)

    def event_for(self, obj: Mapping[str, Any], reason: str, message: str, *, type: str = "Normal") -> dict:
        """The core/v1 Event body for ``obj``."""
        metadata = obj.get("metadata") or {}
        now = self._clock()
        stamp = micro_time(now)[:19] + "Z"  # firstTimestamp/lastTimestamp are whole-second Times
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{metadata.get('name')}.{uuid.uuid4().hex[:16]}",
                         "namespace": metadata.get("namespace") or "default"},
            "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
                               "name": metadata.get("name"), "namespace": metadata.get("namespace"),
                               "uid": metadata.get("uid"), "resourceVersion": metadata.get("resourceVersion")},
            "reason": reason,
            "message": message,
            "type": type,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "eventTime": None,
            "count": 1,
        }
