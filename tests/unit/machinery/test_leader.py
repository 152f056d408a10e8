"""Leader election on a fake clock and an in-memory lock: every timing asserted to the fake second."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from prometheus_client import CollectorRegistry

from jupyternetes_operator.kube.errors import AlreadyExists, Conflict, NotFound, ServerError
from jupyternetes_operator.machinery.leader import LeaderElectionConfig, LeaderElector, LeadershipLost
from jupyternetes_operator.machinery.leaselock import (
    LeaderRecord,
    format_micro_time,
    lease_spec_from_record,
    parse_micro_time,
    record_from_lease_spec,
)
from jupyternetes_operator.machinery.metrics import LeaderMetrics

from .fakeclock import FakeClock

START = 1000.0
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)  # a server renewTime far in the past: must not matter


class FakeLock:
    """An in-memory :class:`Lock` with error injection and hooks that run just before a write."""

    def __init__(self, record: LeaderRecord | None = None) -> None:
        self.record = record
        self.version = 1
        self.error: Callable[[], Exception] | None = None  # every operation raises a fresh one while set
        self.hang = False  # every operation blocks forever while set
        self.before: dict[str, Callable[[], None]] = {}  # one-shot hooks by operation
        self.log: list[tuple[str, LeaderRecord | None]] = []

    def write(self, record: LeaderRecord) -> None:
        """Another process writes the record."""
        self.record = record
        self.version += 1

    async def _enter(self, op: str) -> None:
        await anyio.lowlevel.checkpoint()
        if self.hang:
            await anyio.sleep_forever()
        if self.error is not None:
            raise self.error()
        hook = self.before.pop(op, None)
        if hook is not None:
            hook()

    async def get(self) -> tuple[LeaderRecord, str] | None:
        await self._enter("get")
        return None if self.record is None else (self.record, str(self.version))

    async def create(self, record: LeaderRecord) -> str:
        await self._enter("create")
        if self.record is not None:
            raise AlreadyExists(409, "AlreadyExists", "leases already exists")
        self.write(record)
        self.log.append(("create", record))
        return str(self.version)

    async def update(self, record: LeaderRecord, version: str) -> str:
        await self._enter("update")
        if self.record is None:
            raise NotFound(404, "NotFound", "leases not found")
        if version != str(self.version):
            raise Conflict(409, "Conflict", "the object has been modified")
        self.write(record)
        self.log.append(("update", record))
        return str(self.version)


async def settle() -> None:
    """Let every task run until it blocks (the fake lock does no I/O, so this is deterministic)."""
    for _ in range(200):
        await anyio.lowlevel.checkpoint()


async def advance_to(clock: FakeClock, when: float) -> None:
    """Move fake time to ``when``, waking sleepers one deadline at a time."""
    await settle()
    while (deadline := clock.next_deadline()) is not None and deadline <= when:
        clock.advance_to(deadline)
        await settle()
    clock.advance_to(when)
    await settle()


def config(identity: str = "me", **kwargs: Any) -> LeaderElectionConfig:
    return LeaderElectionConfig(name="lease", namespace="ns", identity=identity, **kwargs)


def held_by(holder: str, at: datetime = LONG_AGO, transitions: int = 0, seconds: int = 15) -> LeaderRecord:
    return LeaderRecord(holder, seconds, at, at, transitions)


class Work:
    """Guarded work that records when it started and when it was cancelled."""

    def __init__(self, clock: FakeClock, finish: anyio.Event | None = None, shield: bool = False) -> None:
        self.clock = clock
        self.finish = finish
        self.shield = shield
        self.started_at: float | None = None
        self.cancelled_at: float | None = None
        self.running = False
        self.events: list[str] = []

    async def __call__(self) -> None:
        self.started_at = self.clock.now()
        self.running = True
        try:
            with anyio.CancelScope(shield=self.shield):
                if self.finish is not None:
                    await self.finish.wait()
                else:
                    await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            self.cancelled_at = self.clock.now()
            self.events.append("cancelled")
            raise
        finally:
            self.running = False


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> LeaderMetrics:
    return LeaderMetrics(registry)


def make(clock: FakeClock, lock: FakeLock, metrics: LeaderMetrics | None = None, identity: str = "me",
         **kwargs: Any) -> LeaderElector:
    return LeaderElector(config(identity, **kwargs), lock, clock=clock, metrics=metrics, jitter=lambda: 0.0,
                         wall_clock=lambda: datetime.fromtimestamp(clock.now(), UTC))


def gauge(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("leader_election_master_status", {"name": "lease"})


class Outcome:
    """Runs ``run()`` in a task and keeps how it ended."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.returned = False

    def runner(self, elector: LeaderElector,
               work: Callable[[], Awaitable[None]]) -> Callable[[], Coroutine[Any, Any, None]]:
        async def go() -> None:
            try:
                await elector.run(work)
                self.returned = True
            except Exception as exc:
                self.error = exc
        return go


# -- acquisition -----------------------------------------------------------------------------------


async def test_acquires_a_missing_lease_by_creating_it(clock: FakeClock, metrics: LeaderMetrics,
                                                       registry: CollectorRegistry) -> None:
    lock = FakeLock()
    elector = make(clock, lock, metrics)
    work = Work(clock)
    assert not elector.is_leader
    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, work)
        with anyio.fail_after(1):
            await elector.wait_leading()
        await settle()
        assert elector.is_leader
        assert work.started_at == START
        assert gauge(registry) == 1
        assert lock.record == LeaderRecord("me", 15, datetime.fromtimestamp(START, UTC),
                                           datetime.fromtimestamp(START, UTC), 0)
        assert elector.leader_identity == "me"
        tg.cancel_scope.cancel()
    assert gauge(registry) == 0


async def test_acquires_a_released_lease_at_once(clock: FakeClock) -> None:
    lock = FakeLock(LeaderRecord("", 1, LONG_AGO, LONG_AGO, 4))
    elector = make(clock, lock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, Work(clock))
        await settle()
        assert elector.is_leader
        assert lock.record is not None
        assert lock.record.leader_transitions == 5
        tg.cancel_scope.cancel()


async def test_waits_lease_duration_of_local_observation_not_server_time(clock: FakeClock) -> None:
    # renewTime says 2000; a wall-clock comparison would steal at once.
    lock = FakeLock(held_by("other"))
    elector = make(clock, lock)
    work = Work(clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, work)
        await advance_to(clock, START + 14)  # first seen at 1000; attempts every 2 s
        assert not elector.is_leader
        assert elector.leader_identity == "other"
        await advance_to(clock, START + 16)  # 1000 + 15 < 1016
        assert elector.is_leader
        assert work.started_at == START + 16
        assert lock.record is not None
        assert lock.record.holder_identity == "me"
        assert lock.record.leader_transitions == 1
        tg.cancel_scope.cancel()


async def test_no_acquire_while_the_holder_renews(clock: FakeClock) -> None:
    lock = FakeLock(held_by("other"))
    elector = make(clock, lock)
    work = Work(clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, work)
        for t in range(1, 57, 5):  # the holder renews at 1001, 1006, ... 1056
            await advance_to(clock, START + t)
            lock.write(held_by("other", at=datetime.fromtimestamp(clock.now(), UTC)))
            assert not elector.is_leader
        # The 1056 renewal is first seen at 1058, so it expires locally after 1073.
        await advance_to(clock, START + 72)
        assert not elector.is_leader
        assert work.started_at is None
        await advance_to(clock, START + 74)
        assert elector.is_leader
        assert work.started_at == START + 74
        tg.cancel_scope.cancel()


async def test_a_longer_lease_duration_in_the_record_is_honoured(clock: FakeClock) -> None:
    lock = FakeLock(held_by("other", seconds=30))
    elector = make(clock, lock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, Work(clock))
        await advance_to(clock, START + 30)
        assert not elector.is_leader
        await advance_to(clock, START + 32)
        assert elector.is_leader
        tg.cancel_scope.cancel()


async def test_conflict_on_update_is_a_lost_race(clock: FakeClock) -> None:
    lock = FakeLock(LeaderRecord("", 1, LONG_AGO, LONG_AGO, 0))
    # Between our read and our write, another candidate takes the free lease.
    lock.before["update"] = lambda: lock.write(held_by("other", at=datetime.fromtimestamp(START, UTC)))
    elector = make(clock, lock)
    outcome = Outcome()
    async with anyio.create_task_group() as tg:
        tg.start_soon(outcome.runner(elector, Work(clock)))
        await advance_to(clock, START + 10)
        assert not elector.is_leader
        assert outcome.error is None
        assert lock.record is not None
        assert lock.record.holder_identity == "other"
        assert elector.leader_identity == "other"
        tg.cancel_scope.cancel()
    assert lock.log == []  # never wrote


async def test_already_exists_on_create_is_a_lost_race(clock: FakeClock) -> None:
    lock = FakeLock()
    lock.before["create"] = lambda: lock.write(held_by("other"))
    elector = make(clock, lock)
    outcome = Outcome()
    async with anyio.create_task_group() as tg:
        tg.start_soon(outcome.runner(elector, Work(clock)))
        await advance_to(clock, START + 4)
        assert not elector.is_leader
        assert outcome.error is None
        assert elector.leader_identity == "other"  # seen on the retry at 1002
        tg.cancel_scope.cancel()


async def test_errors_while_campaigning_are_retried(clock: FakeClock) -> None:
    lock = FakeLock()
    lock.error = lambda: ServerError(503, "ServiceUnavailable", "etcd is sad")
    elector = make(clock, lock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, Work(clock))
        await advance_to(clock, START + 5)
        assert not elector.is_leader
        lock.error = None
        await advance_to(clock, START + 6)
        assert elector.is_leader
        tg.cancel_scope.cancel()


# -- leading ---------------------------------------------------------------------------------------


async def test_renews_every_retry_period(clock: FakeClock) -> None:
    lock = FakeLock()
    elector = make(clock, lock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, Work(clock))
        await advance_to(clock, START + 7)
        renewals = [r.renew_time for op, r in lock.log if op == "update" and r is not None]
        assert renewals == [datetime.fromtimestamp(START + t, UTC) for t in (2, 4, 6)]
        assert lock.record is not None
        assert lock.record.acquire_time == datetime.fromtimestamp(START, UTC)
        assert lock.record.leader_transitions == 0
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("failure", ["error", "hang"])
async def test_failed_renewal_cancels_the_work_at_renew_deadline(clock: FakeClock, metrics: LeaderMetrics,
                                                                 failure: str, registry: CollectorRegistry) -> None:
    lock = FakeLock()
    elector = make(clock, lock, metrics)
    work = Work(clock)
    outcome = Outcome()
    async with anyio.create_task_group() as tg:
        tg.start_soon(outcome.runner(elector, work))
        await advance_to(clock, START + 5)  # renewed at 1002 and 1004
        if failure == "error":
            lock.error = lambda: ServerError(500, "InternalError", "boom")
        else:
            lock.hang = True
        await advance_to(clock, START + 13.999)
        assert elector.is_leader
        assert work.running
        assert gauge(registry) == 1
        await advance_to(clock, START + 14)  # the last renewal began at 1004; 1004 + 10
        assert work.cancelled_at == START + 14
        assert not work.running
        assert not elector.is_leader
        assert gauge(registry) == 0
        assert isinstance(outcome.error, LeadershipLost)
        # Well before anyone else may take over (1004 + lease_duration); no release attempted.
        assert work.cancelled_at < START + 4 + 15
        assert lock.record is not None
        assert lock.record.holder_identity == "me"


async def test_recovered_renewal_keeps_leading(clock: FakeClock) -> None:
    lock = FakeLock()
    elector = make(clock, lock)
    work = Work(clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, work)
        await advance_to(clock, START + 1)
        lock.error = lambda: ServerError(500, "InternalError", "boom")
        await advance_to(clock, START + 7)  # attempts at 1002..1006 fail; the deadline is 1010
        lock.error = None
        await advance_to(clock, START + 30)
        assert elector.is_leader
        assert work.cancelled_at is None
        tg.cancel_scope.cancel()


async def test_stale_version_on_renewal_rereads_and_steps_down_if_taken(clock: FakeClock) -> None:
    lock = FakeLock()
    elector = make(clock, lock)
    work = Work(clock)
    outcome = Outcome()
    async with anyio.create_task_group() as tg:
        tg.start_soon(outcome.runner(elector, work))
        await advance_to(clock, START + 1)
        # Someone (wrongly) overwrites the lease: the fast renewal gets 409, the re-read sees
        # a fresh foreign holder, and renewal keeps failing until the deadline.
        lock.write(held_by("intruder", at=datetime.fromtimestamp(clock.now(), UTC)))
        await advance_to(clock, START + 10)
        assert work.cancelled_at == START + 10
        assert isinstance(outcome.error, LeadershipLost)


# -- leaving ---------------------------------------------------------------------------------------


async def test_cancel_stops_the_work_then_releases(clock: FakeClock, metrics: LeaderMetrics,
                                                   registry: CollectorRegistry) -> None:
    lock = FakeLock()
    elector = make(clock, lock, metrics)
    work = Work(clock)
    lock_update = lock.update

    async def update(record: LeaderRecord, version: str) -> str:
        work.events.append(f"update:{record.holder_identity!r}")
        return await lock_update(record, version)

    lock.update = update  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, work)
        await advance_to(clock, START + 3)
        tg.cancel_scope.cancel()
    assert work.events == ["update:'me'", "cancelled", "update:''"]  # released only after the work ended
    assert lock.record == LeaderRecord("", 1, datetime.fromtimestamp(START + 3, UTC),
                                       datetime.fromtimestamp(START + 3, UTC), 0)
    assert not elector.is_leader
    assert gauge(registry) == 0


async def test_release_after_a_renewal_cut_off_in_flight(clock: FakeClock) -> None:
    lock = FakeLock()
    elector = make(clock, lock)
    lock_update = lock.update

    async def applied_then_hang(record: LeaderRecord, version: str) -> str:
        lock.update = lock_update  # type: ignore[method-assign]
        await lock_update(record, version)  # the server applies it; the answer never comes
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, Work(clock))
        await advance_to(clock, START + 1)
        lock.update = applied_then_hang  # type: ignore[method-assign]
        await advance_to(clock, START + 3)  # the renewal at 1002 hangs
        tg.cancel_scope.cancel()
    # The release's 409 (our version is stale) is followed by a re-read that still names us.
    assert lock.record is not None
    assert lock.record.holder_identity == ""


async def test_no_release_when_disabled(clock: FakeClock) -> None:
    lock = FakeLock()
    elector = make(clock, lock, release_on_cancel=False)
    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, Work(clock))
        await settle()
        tg.cancel_scope.cancel()
    assert lock.record is not None
    assert lock.record.holder_identity == "me"


async def test_work_returning_releases_and_returns(clock: FakeClock) -> None:
    lock = FakeLock()
    elector = make(clock, lock)
    finish = anyio.Event()
    outcome = Outcome()
    async with anyio.create_task_group() as tg:
        tg.start_soon(outcome.runner(elector, Work(clock, finish)))
        await advance_to(clock, START + 3)
        finish.set()
        await settle()
    assert outcome.returned
    assert outcome.error is None
    assert lock.record is not None
    assert lock.record.holder_identity == ""


async def test_lease_transitions_count_holder_changes(clock: FakeClock) -> None:
    lock = FakeLock()
    a, b = make(clock, lock, identity="a"), make(clock, lock, identity="b", release_on_cancel=False)
    async with anyio.create_task_group() as tg:
        scope_a = anyio.CancelScope()

        async def run_a() -> None:
            with scope_a:
                await a.run(Work(clock))

        tg.start_soon(run_a)
        await settle()
        assert a.is_leader
        assert lock.record is not None
        assert lock.record.leader_transitions == 0
        tg.start_soon(b.run, Work(clock))
        await advance_to(clock, START + 4)
        assert not b.is_leader
        scope_a.cancel()  # a releases
        await advance_to(clock, START + 6)
        assert b.is_leader
        assert not a.is_leader
        assert lock.record.holder_identity == "b"
        assert lock.record.leader_transitions == 1
        tg.cancel_scope.cancel()  # b "crashes" without releasing

    async with anyio.create_task_group() as tg:
        tg.start_soon(a.run, Work(clock))
        await advance_to(clock, START + 20)
        assert not a.is_leader  # b's last renewal (1006) first seen by a at 1006: expires after 1021
        await advance_to(clock, START + 22)
        assert a.is_leader
        assert lock.record.holder_identity == "a"
        assert lock.record.leader_transitions == 2
        tg.cancel_scope.cancel()


async def test_run_twice_at_once_is_refused(clock: FakeClock) -> None:
    elector = make(clock, FakeLock())
    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, Work(clock))
        await settle()
        with pytest.raises(RuntimeError):
            await elector.run(Work(clock))
        tg.cancel_scope.cancel()


# -- health ----------------------------------------------------------------------------------------


async def test_check_fails_when_the_work_outlives_its_lease(clock: FakeClock) -> None:
    lock = FakeLock()
    elector = make(clock, lock)
    release = anyio.Event()
    work = Work(clock, release, shield=True)  # ignores cancellation until released
    outcome = Outcome()
    assert elector.check()
    async with anyio.create_task_group() as tg:
        tg.start_soon(outcome.runner(elector, work))
        await settle()
        lock.error = lambda: ServerError(500, "InternalError", "boom")
        await advance_to(clock, START + 10)
        assert not elector.is_leader
        assert work.running
        await advance_to(clock, START + 15)
        assert elector.check()
        await advance_to(clock, START + 16)
        assert not elector.check()
        assert elector.check(max_tolerable_expiration=1.5)
        release.set()
        await settle()
    assert elector.check()
    assert isinstance(outcome.error, LeadershipLost)


async def test_check_passes_while_renewing(clock: FakeClock) -> None:
    elector = make(clock, FakeLock())
    async with anyio.create_task_group() as tg:
        tg.start_soon(elector.run, Work(clock))
        await advance_to(clock, START + 100)
        assert elector.is_leader
        assert elector.check()
        tg.cancel_scope.cancel()


# -- configuration and the Lease wire format -------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lease_duration": 10.0, "renew_deadline": 10.0}, "lease_duration must be greater than renew_deadline"),
    ({"renew_deadline": 2.4, "retry_period": 2.0}, "renew_deadline must be greater than retry_period"),
    ({"retry_period": 0.0}, "retry_period must be greater than zero"),
    ({"lease_duration": -1.0}, "lease_duration must be greater than zero"),
    ({"identity": ""}, "identity must not be empty"),
    ({"name": ""}, "name and namespace"),
])
def test_config_validation(kwargs: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"name": "lease", "namespace": "ns", **kwargs}
    with pytest.raises(ValueError, match=message):
        LeaderElectionConfig(**settings)


def test_config_defaults() -> None:
    cfg = LeaderElectionConfig(name="lease", namespace="ns")
    assert (cfg.lease_duration, cfg.renew_deadline, cfg.retry_period) == (15.0, 10.0, 2.0)
    assert cfg.release_on_cancel
    assert cfg.identity
    assert cfg.identity != LeaderElectionConfig(name="lease", namespace="ns").identity
    assert LeaderElectionConfig(name="l", namespace="n", lease_duration=2.5, renew_deadline=2.0,
                                retry_period=0.5).lease_duration_seconds == 3


def test_lease_spec_round_trip() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    record = LeaderRecord("me", 15, when, when, 3)
    spec = lease_spec_from_record(record)
    assert spec == {"holderIdentity": "me", "leaseDurationSeconds": 15, "acquireTime": "2024-05-06T07:08:09.123456Z",
                    "renewTime": "2024-05-06T07:08:09.123456Z", "leaseTransitions": 3}
    assert record_from_lease_spec(spec) == record
    assert record_from_lease_spec({}) == LeaderRecord()
    assert parse_micro_time("2024-05-06T07:08:09Z") == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert format_micro_time(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00.000000Z"


async def test_may_act_turns_false_at_the_deadline_without_any_task_running(clock: FakeClock) -> None:
    """The write fence reads the clock: a frozen process that resumes past its renew deadline may not
    write even before the watchdog task has had a chance to run."""
    lock = FakeLock()
    elector = make(clock, lock)
    work = Work(clock)
    outcome = Outcome()
    async with anyio.create_task_group() as tg:
        tg.start_soon(outcome.runner(elector, work))
        await advance_to(clock, START + 5)  # renewed at 1004
        assert elector.may_act()
        lock.hang = True
        clock.advance_to(START + 14)  # moved without letting any task run ("frozen, then resumed")
        assert elector.is_leader  # nothing has told the work yet ...
        assert not elector.may_act()  # ... but the fence already says no
        await settle()
        assert not elector.is_leader
        tg.cancel_scope.cancel()


async def test_release_waits_for_the_writes_in_flight(clock: FakeClock) -> None:
    """A leader letting go hands the Lease back only once its writes still in flight have landed (the
    fence is closed meanwhile): a successor acting at once never races one of them. The rolling-upgrade
    run caught an old leader's Event arriving after its release (tests/integration/test_rolling_upgrade.py)."""
    lock = FakeLock()
    landed = anyio.Event()
    waited: list[float] = []

    async def in_flight() -> None:
        waited.append(clock.now())
        await landed.wait()

    elector = LeaderElector(config(), lock, clock=clock, jitter=lambda: 0.0, before_release=in_flight,
                            wall_clock=lambda: datetime.fromtimestamp(clock.now(), UTC))
    process = anyio.CancelScope()

    async def replica() -> None:
        with process:
            await elector.run(Work(clock))

    async with anyio.create_task_group() as tg:
        tg.start_soon(replica)
        await advance_to(clock, START + 3)
        process.cancel()  # SIGTERM: the guarded work stops
        await settle()
        assert waited == [START + 3]
        assert not elector.may_act()  # nothing new passes the fence while the old writes land
        assert lock.record is not None
        assert lock.record.holder_identity == "me"
        landed.set()
        await settle()
        assert lock.record.holder_identity == ""


async def test_writes_that_never_land_delay_the_release_by_renew_deadline_at_most(clock: FakeClock) -> None:
    lock = FakeLock()

    async def hung() -> None:
        await anyio.sleep_forever()

    elector = LeaderElector(config(renew_deadline=2.0, lease_duration=4.0, retry_period=0.5), lock, clock=clock,
                            jitter=lambda: 0.0, before_release=hung)
    process = anyio.CancelScope()

    async def replica() -> None:
        with process:
            await elector.run(Work(clock))

    async with anyio.create_task_group() as tg:
        tg.start_soon(replica)
        await advance_to(clock, START + 3)
        process.cancel()
        await advance_to(clock, START + 4.9)
        assert lock.record is not None
        assert lock.record.holder_identity == "me"
        await advance_to(clock, START + 5)
        assert lock.record.holder_identity == ""
