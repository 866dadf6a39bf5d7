"""The reconciler holds the Events of a burst's failovers until the queue has no urgent key left:
every Event still goes out, in order, and none competes with the burst's writes."""

from __future__ import annotations

from typing import Any, Mapping

from failsync.controller.queue import WorkQueue
from failsync.controller.reconciler import EVENT_BACKLOG, Reconciler


class Recorder:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str]] = []

    def record(self, obj: Mapping[str, Any], reason: str, message: str) -> bool:
        self.recorded.append((obj["metadata"]["name"], reason))
        return True


def _reconciler(queue: WorkQueue, events: Recorder) -> Reconciler:
    return Reconciler(None, index=None, caches=None, queue=queue, metrics=None,  # type: ignore[arg-type]
                      events=events, may_write=lambda: True)  # type: ignore[arg-type]


def _split(name: str) -> dict[str, Any]:
    return {"kind": "TrafficSplit", "metadata": {"name": name, "namespace": "ns"}}


def test_events_of_a_burst_go_out_in_order_once_its_last_write_landed() -> None:
    queue, events = WorkQueue(), Recorder()
    reconciler = _reconciler(queue, events)
    queue.add_all(["ns/a", "ns/b", "ns/c"])
    a, b = queue.get(0), queue.get(0)
    reconciler._record_event(_split("a"), "FailedOver", "m")  # "ns/c" waits, "ns/b" is in flight
    queue.done("ns/a")
    reconciler._record_event(_split("b"), "FailedOver", "m")
    queue.done("ns/b")
    assert events.recorded == []
    c = queue.get(0)
    reconciler._record_event(_split("c"), "FailedOver", "m")  # the last write landed, nothing else queued
    assert events.recorded == [("a", "FailedOver"), ("b", "FailedOver"), ("c", "FailedOver")]
    assert a and b and c


def test_held_events_go_out_when_the_last_key_in_flight_is_done_without_a_write() -> None:
    queue, events = WorkQueue(), Recorder()
    reconciler = _reconciler(queue, events)
    queue.add_all(["ns/a", "ns/b"])
    queue.get(0), queue.get(0)
    reconciler._record_event(_split("a"), "FailedOver", "m")
    queue.done("ns/a")
    assert events.recorded == []
    queue.done("ns/b")  # its reconcile wrote nothing
    assert events.recorded == [("a", "FailedOver")]


def test_a_lone_failover_records_its_event_at_once_and_a_long_backlog_is_not_held() -> None:
    queue, events = WorkQueue(), Recorder()
    reconciler = _reconciler(queue, events)
    queue.add("ns/a")
    queue.get(0)
    reconciler._record_event(_split("a"), "FailedOver", "m")
    assert events.recorded == [("a", "FailedOver")]
    queue.done("ns/a")
    queue.add_all(["ns/x", "ns/y"])
    queue.get(0)
    for number in range(EVENT_BACKLOG):
        reconciler._record_event(_split(f"s{number}"), "FailedOver", "m")
    assert len(events.recorded) == 1 + EVENT_BACKLOG  # held up to the backlog, then all sent


class NoPolicies:
    def get(self, key: str) -> None:
        return None


def test_events_held_longer_than_the_hold_go_out_at_the_next_reconcile(monkeypatch) -> None:
    queue, events = WorkQueue(), Recorder()
    reconciler = Reconciler(None, index=NoPolicies(), caches=None, queue=queue, metrics=None,  # type: ignore[arg-type]
                            events=events, may_write=lambda: True)  # type: ignore[arg-type]
    queue.add_all(["ns/a", "ns/b", "ns/c"])
    queue.get(0), queue.get(0)
    reconciler._record_event(_split("a"), "FailedOver", "m")
    assert events.recorded == []
    monkeypatch.setattr("failsync.controller.reconciler.EVENT_HOLD", 0.0)  # as if a second had passed
    reconciler.reconcile("ns/b", 0.0)  # watch events keep the queue busy: the hold still ends
    assert events.recorded == [("a", "FailedOver")]
