"""Leader election against the real API server: one leader at a time, failover after a crash
within the lease, near-immediate handover on release, hard stop when the lease is taken."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import pytest

from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.errors import Conflict
from jupyternetes_operator.kube.resources import LEASES
from jupyternetes_operator.machinery.leader import (
    JITTER_FACTOR,
    LeaderElectionConfig,
    LeaderElector,
    LeadershipLost,
)
from jupyternetes_operator.testing import ControlPlane

LEASE = 2.0
RENEW = 1.5
RETRY = 0.3
# A follower sees the last renewal at most one (jittered) retry late, and notices the expiry
# at most one more retry late.
FAILOVER_MAX = LEASE + 2 * RETRY * (1 + JITTER_FACTOR) + 0.5


def settings(namespace: str, identity: str, release: bool) -> LeaderElectionConfig:
    return LeaderElectionConfig(name="jupyternetes-test", namespace=namespace, identity=identity,
                                lease_duration=LEASE, renew_deadline=RENEW, retry_period=RETRY,
                                release_on_cancel=release)


@pytest.fixture
async def kube2(control_plane: ControlPlane) -> AsyncIterator[Client]:
    """A second connection, as a second replica would have."""
    async with await Client.from_kubeconfig(str(control_plane.kubeconfig)) as client:
        yield client


class Replica:
    """One candidate: its elector, guarded work that records when it runs, and a cancel scope
    standing for the process."""

    def __init__(self, elector: LeaderElector) -> None:
        self.elector = elector
        self.scope = anyio.CancelScope()
        self.working = False
        self.error: BaseException | None = None

    async def work(self) -> None:
        self.working = True
        try:
            await anyio.sleep_forever()
        finally:
            self.working = False

    async def run(self) -> None:
        with self.scope:
            try:
                await self.elector.run(self.work)
            except LeadershipLost as exc:
                self.error = exc


async def watch_for_overlap(a: Replica, b: Replica, overlaps: list[float]) -> None:
    while True:
        if (a.elector.is_leader and b.elector.is_leader) or (a.working and b.working):
            overlaps.append(time.monotonic())
        await anyio.sleep(0.005)


async def takeover(a: Replica, b: Replica, kube: Client, namespace: str,
                   release: bool) -> float:
    """Start ``a``, then ``b``; stop ``a``; return how long ``b`` took to lead."""
    overlaps: list[float] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_for_overlap, a, b, overlaps)
        tg.start_soon(a.run)
        with anyio.fail_after(5):
            await a.elector.wait_leading()
        tg.start_soon(b.run)
        await anyio.sleep(LEASE + 0.5)  # longer than a lease: b must see a's renewals
        assert a.elector.is_leader
        assert not b.elector.is_leader
        assert b.elector.leader_identity == "a"

        stopped = time.monotonic()
        a.scope.cancel()
        with anyio.fail_after(FAILOVER_MAX + 1):
            await b.elector.wait_leading()
        took = time.monotonic() - stopped
        assert b.working or await _started(b)
        tg.cancel_scope.cancel()
    assert overlaps == []
    lease = await kube.get(LEASES, "jupyternetes-test", namespace)
    # b released on its way out (release on) or still holds it (release off).
    assert lease["spec"]["holderIdentity"] == ("" if release else "b")
    assert lease["spec"]["leaseTransitions"] == 1
    return took


async def _started(replica: Replica) -> bool:
    with anyio.fail_after(1):
        while not replica.working:  # noqa: ASYNC110 (the work starts in another task)
            await anyio.sleep(0.01)
    return True


async def test_crashed_leader_is_replaced_within_the_lease(kube: Client, kube2: Client, namespace: str) -> None:
    a = Replica(LeaderElector.for_lease(kube, settings(namespace, "a", release=False)))
    b = Replica(LeaderElector.for_lease(kube2, settings(namespace, "b", release=False)))
    took = await takeover(a, b, kube, namespace, release=False)
    # Not before the lease could have run out (a's last renewal was at most one retry before
    # the crash), and no later than the lease plus two jittered retries.
    assert LEASE - RETRY - 0.2 <= took <= FAILOVER_MAX


async def test_released_lease_is_taken_over_at_once(kube: Client, kube2: Client, namespace: str) -> None:
    a = Replica(LeaderElector.for_lease(kube, settings(namespace, "a", release=True)))
    b = Replica(LeaderElector.for_lease(kube2, settings(namespace, "b", release=True)))
    took = await takeover(a, b, kube, namespace, release=True)
    # One jittered retry plus latency; a crash (previous test) cannot be this quick.
    assert took < RETRY * (1 + JITTER_FACTOR) + 0.8 < LEASE - RETRY - 0.2


async def test_taken_lease_stops_the_work_within_renew_deadline(kube: Client, namespace: str) -> None:
    await kube.create(LEASES, {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "jupyternetes-test", "namespace": namespace, "labels": {"team": "notebooks"}},
        "spec": {"holderIdentity": "", "leaseDurationSeconds": 1, "leaseTransitions": 7},
    }, namespace)
    a = Replica(LeaderElector.for_lease(kube, settings(namespace, "a", release=True)))
    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run)
        with anyio.fail_after(5):
            await a.elector.wait_leading()
        await anyio.sleep(RETRY * 2)
        lease = await kube.get(LEASES, "jupyternetes-test", namespace)
        assert lease["metadata"]["labels"] == {"team": "notebooks"}  # kept across our PUTs
        assert lease["spec"]["holderIdentity"] == "a"
        assert lease["spec"]["leaseTransitions"] == 8

        # An intruder overwrites the lease (bypassing the protocol): every renewal now fails.
        while True:
            lease["spec"]["holderIdentity"] = "intruder"
            try:
                await kube.replace(LEASES, lease, namespace)
                break
            except Conflict:  # a renewed in between
                lease = await kube.get(LEASES, "jupyternetes-test", namespace)
        taken = time.monotonic()
        with anyio.fail_after(RENEW + RETRY + 1):
            while a.working:  # noqa: ASYNC110 (the elector stops it)
                await anyio.sleep(0.01)
        assert time.monotonic() - taken < RENEW + RETRY
        assert not a.elector.is_leader
    assert isinstance(a.error, LeadershipLost)
    lease = await kube.get(LEASES, "jupyternetes-test", namespace)
    assert lease["spec"]["holderIdentity"] == "intruder"  # no release after a lost lease
