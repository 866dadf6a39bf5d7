"""The supervisor every long-lived thread of the loop runs under.

Covers:
- a task that raises is started again after a backoff delay, counted each time, and its error is
  logged once per distinct cause (with the thread's name), not once per restart;
- a task that keeps failing is named by ``failing`` (which turns /healthz to 503) and is still retried;
  once it runs well for ``healthy_after`` seconds it is no longer named;
- a task that returns ends its thread (returning is how a worker stops at shutdown); after ``stop``
  a failing task is not restarted.
"""

from __future__ import annotations

import logging
import threading

from failsync.backoff import RetryPolicy
from failsync.supervisor import Supervisor
from tests.helpers import wait_for

FAST = RetryPolicy(0.001, 0.005)


def test_a_failing_task_is_restarted_counted_and_logged_once_per_cause(caplog) -> None:
    errors: list[str] = []
    runs = []
    done = threading.Event()

    def task() -> None:
        runs.append(1)
        if len(runs) < 4:
            raise RuntimeError("boom")
        done.set()

    supervisor = Supervisor(retry=FAST, on_error=errors.append)
    with caplog.at_level(logging.DEBUG, logger="failsync.supervisor"):
        thread = supervisor.spawn("policy-files", task)
        assert done.wait(5)
        thread.join(5)
    assert not thread.is_alive() and len(runs) == 4
    assert errors == ["policy-files"] * 3
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(logged) == 1 and "policy-files" in logged[0].getMessage() and "boom" in logged[0].getMessage()
    assert logged[0].exc_info is not None


def test_a_task_that_keeps_failing_is_reported_failing_until_it_runs_well_again() -> None:
    clock = [0.0]
    fail = threading.Event()
    fail.set()
    attempts = []
    running_well = threading.Event()
    release = threading.Event()

    def task() -> None:
        attempts.append(1)
        if fail.is_set():
            raise ValueError(f"attempt {len(attempts)}")
        running_well.set()
        release.wait(5)

    supervisor = Supervisor(retry=FAST, failures_to_give_up=3, healthy_after=10, clock=lambda: clock[0])
    supervisor.spawn("reconcile-0", task)
    wait_for(lambda: supervisor.failing == ("reconcile-0",), message="the thread to be reported failing")
    fail.clear()
    assert running_well.wait(5)
    assert supervisor.failing == ("reconcile-0",)  # not yet proven healthy
    clock[0] += 11
    assert supervisor.failing == ()
    supervisor.stop()
    release.set()


def test_a_task_that_returns_ends_and_a_stopped_supervisor_restarts_nothing() -> None:
    calls = []

    def failing() -> None:
        calls.append(1)
        raise RuntimeError("after stop")

    supervisor = Supervisor(retry=FAST)
    supervisor.stop()
    thread = supervisor.spawn("events-1", failing)
    thread.join(5)
    assert not thread.is_alive() and calls == [1]
    ended = supervisor.spawn("reconcile-1", lambda: None)
    ended.join(5)
    assert not ended.is_alive()


def test_threads_that_ended_are_not_kept_for_the_life_of_the_loop() -> None:
    supervisor = Supervisor()
    for number in range(50):
        supervisor.spawn(f"burst-{number}", lambda: None).join(timeout=5)
    assert [thread.name for thread in supervisor.threads] == ["burst-49"]
