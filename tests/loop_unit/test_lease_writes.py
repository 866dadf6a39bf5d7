"""The lease check before every write (``LeaderElector.may_write``), with a fake clock and API.

Covers:
- a leader with a renewal younger than the renew deadline may write without a request;
- a leader whose renewal is older (it was paused) re-reads the Lease first: still its own, it
  renews and writes; taken by another replica meanwhile, it steps down and does not write;
- a standby never writes.
"""

from __future__ import annotations

from failsync.kube.lease import LeaderElector


class _LeaseApi:
    """One Lease in memory; ``holder`` lets a test hand it to another replica."""

    def __init__(self) -> None:
        self.lease: dict | None = None
        self.requests = 0
        self.version = 0

    def get(self, resource, namespace, name):
        self.requests += 1
        return None if self.lease is None else {**self.lease, "metadata": {"resourceVersion": str(self.version)}}

    def create(self, resource, body):
        self.requests += 1
        self.version += 1
        self.lease = {"spec": body["spec"]}
        return body

    def patch(self, resource, namespace, name, operations):
        self.requests += 1
        self.version += 1
        self.lease = {"spec": operations[1]["value"]}
        return self.lease

    def give_to(self, identity: str) -> None:
        self.version += 1
        self.lease = {"spec": {**self.lease["spec"], "holderIdentity": identity, "renewTime": "later"}}


def _elector(api: _LeaseApi, clock: list[float], stepped_down: list[int]) -> LeaderElector:
    return LeaderElector(api, name="l", namespace="ns", identity="me", lease_duration=15, renew_deadline=10,  # type: ignore[arg-type]
                         retry_period=2, monotonic=lambda: clock[0], clock=lambda: 1_700_000_000 + clock[0],
                         on_stopped_leading=lambda: stepped_down.append(1))


def test_a_fresh_renewal_allows_a_write_without_a_request() -> None:
    api, clock, stepped = _LeaseApi(), [100.0], []
    elector = _elector(api, clock, stepped)
    elector._elect_once()
    assert elector.is_leader
    before = api.requests
    clock[0] += 9.9
    assert elector.may_write() and api.requests == before


def test_an_old_renewal_rechecks_the_lease_and_renews_when_still_ours() -> None:
    api, clock, stepped = _LeaseApi(), [100.0], []
    elector = _elector(api, clock, stepped)
    elector._elect_once()
    clock[0] += 20  # paused past the renew deadline (and the lease duration), nobody took it
    before = api.requests
    assert elector.may_write()
    assert api.requests == before + 2  # GET, then the renewal
    assert elector.is_leader and stepped == []


def test_an_old_renewal_with_the_lease_taken_meanwhile_steps_down_without_writing() -> None:
    api, clock, stepped = _LeaseApi(), [100.0], []
    elector = _elector(api, clock, stepped)
    elector._elect_once()
    clock[0] += 20
    api.give_to("other")
    assert not elector.may_write()
    assert not elector.is_leader and stepped == [1]
    assert api.lease["spec"]["holderIdentity"] == "other"


def test_a_standby_never_writes() -> None:
    api, clock, stepped = _LeaseApi(), [100.0], []
    elector = _elector(api, clock, stepped)
    assert not elector.may_write() and api.requests == 0
