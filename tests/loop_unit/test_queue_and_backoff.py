"""The loop's work queue and backoff.

Covers:
- a key queued many times is handed out once; keys come out in order;
- a key added while in flight is not handed to a second worker, and is handed out again after ``done``;
- ``add_after`` holds a key until its delay passed (fake clock);
- ``retry`` delays grow per key and ``forget`` resets them;
- ``shutdown`` makes ``get`` return None; ``wait_idle`` waits for the key in flight;
- the first-queued time is kept across duplicate adds (for reaction time);
- keys of health events are handed out before keys of object events, and those before resync keys;
  a key added again in a more urgent lane moves ahead and is timed from then, and a key re-added
  while in flight keeps its lane (and the more urgent one wins);
- backoff grows exponentially up to the maximum, jitter only shortens, Retry-After is honoured.
"""

from __future__ import annotations

import threading

import pytest

from failsync.backoff import Backoff, RetryPolicy, jittered
from failsync.controller.queue import OBJECT, RESYNC, WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_duplicate_adds_are_handed_out_once_in_order() -> None:
    queue = WorkQueue()
    for key in ("a", "b", "a", "c", "b"):
        queue.add(key)
    assert len(queue) == 3
    assert [queue.get(timeout=0)[0] for _ in range(3)] == ["a", "b", "c"]
    assert queue.get(timeout=0) is None


def test_key_added_while_in_flight_waits_for_done() -> None:
    queue = WorkQueue()
    queue.add("a")
    key, _ = queue.get(timeout=0)
    queue.add("a")
    assert queue.get(timeout=0) is None, "the same key must not be processed twice at once"
    queue.done(key)
    assert queue.get(timeout=0)[0] == "a"


def test_first_queued_time_survives_duplicate_adds() -> None:
    clock = FakeClock()
    queue = WorkQueue(clock=clock)
    queue.add("a")
    clock.now += 5
    queue.add("a")
    assert queue.get(timeout=0) == ("a", 100.0)


def test_watch_event_keys_overtake_a_queued_resync() -> None:
    queue = WorkQueue()
    queue.add_all(["r1", "r2", "r3"], lane=RESYNC)
    queue.add("event")
    queue.add("r3")  # a watch event for a key the resync already queued
    queue.add("r1", lane=RESYNC)  # a second resync changes nothing
    assert len(queue) == 4
    assert [queue.get(timeout=0)[0] for _ in range(4)] == ["event", "r3", "r1", "r2"]
    assert queue.get(timeout=0) is None and len(queue) == 0


def test_a_health_event_overtakes_a_backlog_of_object_echoes_and_is_timed_from_itself() -> None:
    # After a start-up that wrote 100,000 objects, their echoes (and the status others write on
    # them) queue every policy; a failover must not wait behind them, nor be timed from them.
    clock = FakeClock()
    queue = WorkQueue(clock=clock)
    queue.add_all(["echo1", "echo2", "dying"], lane=OBJECT)
    queue.add("resync", lane=RESYNC)
    clock.now += 30
    queue.add("dying")  # its primary's EndpointSlice changed
    queue.add("echo1", lane=RESYNC)  # a less urgent add changes nothing
    assert queue.get(timeout=0) == ("dying", 130.0)
    assert [queue.get(timeout=0) for _ in range(3)] == [("echo1", 100.0), ("echo2", 100.0), ("resync", 100.0)]
    assert queue.get(timeout=0) is None and len(queue) == 0


def test_key_re_added_while_in_flight_is_queued_in_its_most_urgent_lane() -> None:
    queue = WorkQueue()
    queue.add("a")
    key, _ = queue.get(timeout=0)
    queue.add("a", lane=RESYNC)
    queue.add("b", lane=RESYNC)
    queue.add("a")  # a watch event while "a" is in flight
    assert len(queue) == 1, "a key in flight waits for done"
    queue.done(key)
    assert [queue.get(timeout=0)[0] for _ in range(2)] == ["a", "b"]
    assert queue.get(timeout=0) is None


def test_add_after_holds_the_key_until_its_delay_passed() -> None:
    clock = FakeClock()
    queue = WorkQueue(clock=clock)
    queue.add_after("a", 2.0)
    assert queue.get(timeout=0) is None
    clock.now += 2.0
    assert queue.get(timeout=0)[0] == "a"


def test_retry_delays_grow_per_key_and_forget_resets_them() -> None:
    queue = WorkQueue(retry=RetryPolicy(1.0, 100.0, jitter=0))
    assert [queue.retry("a") for _ in range(3)] == [1.0, 2.0, 4.0]
    assert queue.retry("b") == 1.0
    queue.forget("a")
    assert queue.retry("a") == 1.0


def test_shutdown_wakes_waiting_workers_and_wait_idle_waits_for_the_key_in_flight() -> None:
    queue = WorkQueue()
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(queue.get()))
    worker.start()
    queue.shutdown()
    worker.join(5)
    assert results == [None]

    queue = WorkQueue()
    queue.add("a")
    key, _ = queue.get(timeout=0)
    assert queue.wait_idle(0.01) is False
    queue.shutdown()
    queue.add("b")
    assert queue.get(timeout=0) is None
    queue.done(key)
    assert queue.wait_idle(1) is True


def test_drained_callbacks_run_once_no_urgent_key_waits_or_is_in_flight() -> None:
    queue, drained = WorkQueue(), []
    queue.when_drained(lambda: drained.append(len(queue)))
    queue.add_all(["a", "b"])
    queue.add("r", lane=RESYNC)
    first, second = queue.get(0), queue.get(0)
    assert queue.urgent == 0
    queue.done(first[0])
    assert drained == []  # the other key of the burst is still in flight
    queue.add("c")
    queue.done(second[0])
    assert drained == [] and queue.urgent == 1  # a watch event arrived meanwhile
    third = queue.get(0)
    assert third is not None and third[0] == "c"
    queue.done("c")
    assert drained == [1]  # drained, with the resync key still waiting
    resync = queue.get(0)
    assert resync is not None and resync[0] == "r"
    queue.add("d")
    assert queue.get(0) is not None
    queue.done("d")
    assert drained == [1, 0]  # a resync key in flight does not hold back the end of a burst
    queue.done("r")
    assert drained == [1, 0, 0]


def test_shutdown_runs_the_drained_callbacks_once_nothing_is_in_flight() -> None:
    queue, drained = WorkQueue(), []
    queue.when_drained(lambda: drained.append(True))
    queue.add_all(["a", "b"])
    queue.get(0)
    queue.shutdown()
    assert drained == []  # "a" is still in flight; "b" will never be handed out
    queue.done("a")
    assert drained == [True]


def test_backoff_grows_exponentially_to_its_maximum() -> None:
    backoff = Backoff(0.5, 4.0, jitter=0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_backoff_jitter_only_shortens_the_delay(draw: float) -> None:
    delay = Backoff(1.0, 10.0, jitter=0.5, rng=lambda: draw).next_delay()
    assert 0.5 <= delay <= 1.0


def test_backoff_honours_retry_after() -> None:
    assert Backoff(0.1, 1.0).next_delay(retry_after=3.0) == 3.0


def test_jittered_stretches_within_the_fraction() -> None:
    assert jittered(10.0, 0.2, rng=lambda: 0.5) == pytest.approx(11.0)


def test_backoff_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError):
        Backoff(0, 1)


@pytest.mark.parametrize("delay", [1e10, 1e300, float("inf"), float("nan")], ids=["1e10", "1e300", "inf", "nan"])
def test_any_delay_is_clamped_so_a_waiting_worker_never_raises(delay) -> None:
    """holdSeconds 10^10 once reached ``Condition.wait`` and killed every worker with OverflowError."""
    queue = WorkQueue()
    queue.add_after("ns/held", delay)
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(queue.get()))
    worker.start()
    worker.join(0.2)
    assert worker.is_alive(), f"get() returned at once: {outcome}"  # waiting for the delay, not raising
    queue.shutdown()
    worker.join(5)
    assert outcome == [None]


def test_retry_policy_gives_a_fresh_sequence_and_stateless_delays() -> None:
    policy = RetryPolicy(0.5, 4.0, jitter=0)
    assert [policy.backoff().next_delay() for _ in range(2)] == [0.5, 0.5]
    assert [policy.delay(attempt) for attempt in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.delay(1, retry_after=3.0) == 3.0
