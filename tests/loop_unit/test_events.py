"""Events sent by the loop's background senders (bounded concurrency, coalescing, a shutdown budget).

Covers:
- every Event is sent once and counted once sent; a repeat of the last Event of an object is never queued;
- a reconcile worker never waits for an Event: with a slow API server and a full backlog, ``record``
  returns at once and the Event that found no room is dropped and counted;
- repeats still waiting to be sent are coalesced into one Event with a higher ``count`` (client-go's
  event correlator), so a flapping object does not pile up a backlog;
- at most ``senders`` POSTs are in flight at once;
- ``close`` gives the backlog its budget and no more: what is still unsent then is dropped and counted.
"""

from __future__ import annotations

import threading
import time

from failsync.kube.events import FAILED_BACK, FAILED_OVER, EventRecorder
from tests.helpers import wait_for


class _GatedClient:
    """Records POSTed Events; each POST waits until the test opens the gate."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.gate = threading.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def create(self, resource, body):
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.gate.wait(10)
        with self._lock:
            self.in_flight -= 1
            self.sent.append(body)
        return body


def _split(name: str) -> dict:
    return {"apiVersion": "split.smi-spec.io/v1alpha2", "kind": "TrafficSplit",
            "metadata": {"name": name, "namespace": "ns"}}


def _recorder(client: _GatedClient, **options) -> tuple[EventRecorder, list[str], list[int]]:
    sent: list[str] = []
    dropped: list[int] = []
    recorder = EventRecorder(client, background=True, on_sent=sent.append,  # type: ignore[arg-type]
                             on_dropped=lambda: dropped.append(1), **options)
    return recorder, sent, dropped


def test_every_event_is_sent_once_and_counted_and_a_repeat_is_never_queued() -> None:
    client = _GatedClient()
    client.gate.set()
    recorder, sent, _ = _recorder(client)
    assert recorder.record(_split("a"), FAILED_OVER, "m")
    assert recorder.record(_split("a"), FAILED_OVER, "m") is False
    assert recorder.record(_split("b"), FAILED_BACK, "m")
    assert recorder.close(5)
    assert sorted(e["involvedObject"]["name"] for e in client.sent) == ["a", "b"]
    assert sorted(sent) == [FAILED_BACK, FAILED_OVER]


def test_a_full_backlog_never_blocks_the_caller_and_the_extra_event_is_dropped_and_counted() -> None:
    client = _GatedClient()
    recorder, _, dropped = _recorder(client, capacity=2, senders=1)
    recorder.record(_split("in-flight"), FAILED_OVER, "m")
    wait_for(lambda: client.in_flight == 1, message="the first POST to be in flight")
    caller = threading.Thread(target=lambda: [recorder.record(_split(f"o{n}"), FAILED_OVER, "m") for n in range(5)])
    caller.start()
    caller.join(2)
    assert not caller.is_alive(), "record() waited for the API server"
    assert len(dropped) == 3 and recorder.dropped == 3
    client.gate.set()
    assert recorder.close(5)
    assert [e["involvedObject"]["name"] for e in client.sent] == ["in-flight", "o0", "o1"]


def test_repeats_waiting_to_be_sent_are_coalesced_into_one_event_with_a_count() -> None:
    client = _GatedClient()
    recorder, _, _ = _recorder(client, senders=1)
    recorder.record(_split("busy"), FAILED_OVER, "m")
    wait_for(lambda: client.in_flight == 1, message="the first POST to be in flight")
    for _ in range(3):  # a flapping object: over, back, over, back...
        recorder.record(_split("flap"), FAILED_OVER, "over")
        recorder.record(_split("flap"), FAILED_BACK, "back")
    client.gate.set()
    assert recorder.close(5)
    flap = [(e["reason"], e["count"]) for e in client.sent if e["involvedObject"]["name"] == "flap"]
    assert flap == [(FAILED_OVER, 3), (FAILED_BACK, 3)]
    assert recorder.coalesced == 4


def test_events_are_posted_with_bounded_concurrency() -> None:
    client = _GatedClient()
    recorder, _, _ = _recorder(client, senders=3)
    for n in range(10):
        recorder.record(_split(f"o{n}"), FAILED_OVER, "m")
    wait_for(lambda: client.in_flight == 3, message="three POSTs in flight")
    client.gate.set()
    assert recorder.close(5)
    assert client.most_in_flight == 3 and len(client.sent) == 10


def test_close_keeps_to_its_budget_and_drops_what_is_left() -> None:
    client = _GatedClient()
    recorder, _, dropped = _recorder(client, senders=1)
    for n in range(4):
        recorder.record(_split(f"o{n}"), FAILED_OVER, "m")
    wait_for(lambda: client.in_flight == 1, message="the first POST to be in flight")
    started = time.monotonic()
    assert recorder.close(0.3) is False
    assert time.monotonic() - started < 2
    assert len(dropped) == 3
    assert recorder.record(_split("late"), FAILED_OVER, "m") is False  # nothing is queued after close
    client.gate.set()
