"""Kubernetes Events (core/v1) on TrafficSplits at every failover and failback.

Owns: naming the transition a write made (``transition``: FailedOver / FailedBack
with a message naming the backends) and posting it: the same transition of the same
object is never emitted twice in a row. In the loop, Events go out from a few sender
threads (bounded concurrency), so a reconcile worker never waits for one; repeats
still waiting to be sent are coalesced into one Event with a higher ``count`` (as
client-go's event correlator does), the backlog is bounded (past it an Event is
dropped and counted, never a worker blocked), and ``close`` gives the backlog a short,
stated budget at shutdown.
Never does: decide weights or write the TrafficSplit itself.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Callable, Mapping

from failsync.errors import ApiError
from failsync.kube.client import KubeClient
from failsync.kube.lease import micro_time
from failsync.kube.resources import EVENTS
from failsync.kube.watch import object_key
from failsync.supervisor import Spawn, plain_thread

log = logging.getLogger(__name__)

FAILED_OVER = "FailedOver"
FAILED_BACK = "FailedBack"
COMPONENT = "failsync"
#: Distinct Events waiting to be sent; far above what a burst of failovers produces between two sends.
QUEUE_CAPACITY = 4096
#: Events posted at the same time (a slow API server delays each, not the backlog as a whole).
SENDERS = 4
#: Seconds shutdown gives the Events still waiting (the rest are dropped, and said so).
SHUTDOWN_BUDGET = 2.0


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

    With ``background`` (the loop), ``record`` hands the Event to ``senders`` sender threads
    and returns at once; ``on_sent(reason)`` runs after each successful POST, ``on_dropped()``
    for each Event dropped because the backlog was full or shutdown's budget ran out. Without
    it, ``record`` posts at once.
    """

    def __init__(self, client: KubeClient, *, component: str = COMPONENT, instance: str = "",
                 clock: Callable[[], float] = time.time, background: bool = False,
                 capacity: int = QUEUE_CAPACITY, senders: int = SENDERS,
                 on_sent: Callable[[str], None] = lambda reason: None,
                 on_dropped: Callable[[], None] = lambda: None, spawn: Spawn = plain_thread) -> None:
        self.client = client
        self.component = component
        self.instance = instance
        self.on_sent = on_sent
        self.on_dropped = on_dropped
        self.background = background
        self.capacity = capacity
        self.senders = senders
        self._clock = clock
        self._spawn = spawn
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._last: dict[str, tuple[str, str]] = {}
        #: (object key, reason, message) -> (object key, reason, Event body), oldest first.
        self._pending: dict[tuple[str, str, str], tuple[str, str, dict]] = {}
        self._sending = 0
        self._started = 0
        self._closing = False
        self._deadline = float("inf")
        self.coalesced = 0
        self.dropped = 0

    def record(self, obj: Mapping[str, Any], reason: str, message: str, *, type: str = "Normal") -> bool:
        """Emit one Event about ``obj``; False (and nothing sent) when it repeats the last one.

        In the background mode True means handed to the senders (a failed POST is logged by them).
        """
        key = f"{obj.get('kind')}/{object_key(obj)}"
        with self._lock:
            if self._last.get(key) == (reason, message):
                return False
            self._last[key] = (reason, message)
        body = self.event_for(obj, reason, message, type=type)
        if not self.background:
            return self._post(key, reason, body)
        with self._lock:
            if self._closing:
                return False
            waiting = self._pending.get((key, reason, message))
            if waiting is not None:  # a flapping object: one Event, counted, instead of a backlog
                waiting[2]["count"] += 1
                waiting[2]["lastTimestamp"] = body["lastTimestamp"]
                self.coalesced += 1
                return True
            if len(self._pending) >= self.capacity:
                self.dropped += 1
                dropped = True
            else:
                dropped = False
                self._pending[(key, reason, message)] = (key, reason, body)
                if self._started < self.senders and len(self._pending) > self._started - self._sending:
                    self._started += 1
                    self._spawn(f"events-{self._started}", self._send_pending)
                self._wake.notify()
        if dropped:
            log.warning("event %s on %s dropped: %d events already wait to be sent", reason, key, self.capacity)
            self.on_dropped()
            return False
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

    def _send_pending(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closing:
                    self._wake.wait()
                if not self._pending or time.monotonic() >= self._deadline:
                    self._wake.notify_all()
                    return
                item = self._pending.pop(next(iter(self._pending)))
                self._sending += 1
            try:
                self._post(*item)
            except Exception:  # the sender outlives any one bad Event
                log.exception("sending an event failed")
            finally:
                with self._lock:
                    self._sending -= 1
                    self._wake.notify_all()

    def close(self, timeout: float = SHUTDOWN_BUDGET) -> bool:
        """Give the Events still waiting ``timeout`` seconds, then drop the rest; False when some were dropped."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self._closing = True
            self._deadline = deadline
            self._wake.notify_all()
            while (self._pending or self._sending) and self._started:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
            left = len(self._pending)
            self._pending.clear()
        if left:
            self.dropped += left
            log.warning("shutdown: %d event(s) not sent within the %.1fs budget; dropped", left, timeout)
            for _ in range(left):
                self.on_dropped()
        return left == 0

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
