"""The gate in front of the shared connections: its capacity, the order of turns, and cancellation."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from jupyternetes_operator.kube.gate import OTHER, STATUS, Gate, rank

WAITERS = (("other-1", OTHER), ("status-1", STATUS), ("other-2", OTHER), ("status-2", STATUS))


def test_a_status_write_goes_first_and_nothing_else_does() -> None:
    path = "/apis/jupyternetes.io/v1/namespaces/n/jupyternotebookinstances/i"
    assert rank("PATCH", f"{path}/status") == rank("PUT", f"{path}/status") == STATUS
    assert rank("PATCH", path) == rank("POST", "/api/v1/namespaces/n/pods") == OTHER
    assert rank("GET", f"{path}/status") == OTHER  # a read is not what turns an instance Ready
    assert rank("PATCH", "/api/v1/namespaces/status/pods/p") == OTHER  # a namespace named "status"


async def test_a_freed_place_goes_to_the_best_waiter_first_come_first_served() -> None:
    gate = Gate(1)
    order: list[str] = []
    release = anyio.Event()

    async def holder() -> None:
        async with gate.place(OTHER):
            await release.wait()

    async def waiter(name: str, rank: int) -> None:
        async with gate.place(rank):
            order.append(name)

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await anyio.wait_all_tasks_blocked()
        for name, r in WAITERS:
            tg.start_soon(waiter, name, r)
            await anyio.wait_all_tasks_blocked()
        assert order == []  # the one place is held
        release.set()
    assert order == ["status-1", "status-2", "other-1", "other-2"]


async def test_never_more_holders_than_places() -> None:
    gate = Gate(3)
    inside = most = 0

    async def hold() -> None:
        nonlocal inside, most
        async with gate.place(OTHER):
            inside += 1
            most = max(most, inside)
            await anyio.sleep(0.01)
            inside -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(12):
            tg.start_soon(hold)
    assert most == 3


async def _one_at_a_time(gate: Gate) -> bool:
    """Whether two holders of a one-place gate, started together, never overlap."""
    inside: list[int] = []

    async def hold(i: int) -> None:
        async with gate.place(OTHER):
            inside.append(i)
            await anyio.sleep(0.01)
            assert inside == [i]
            inside.remove(i)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(hold, 1)
            tg.start_soon(hold, 2)
    return not inside


async def test_a_waiter_cancelled_before_its_turn_leaves_no_trace() -> None:
    gate = Gate(1)
    got: list[str] = []
    with anyio.fail_after(5):
        await _cancel_a_waiter_then_free(gate, got)
    assert got == ["later"]  # the freed place went past the cancelled waiter
    assert await _one_at_a_time(gate)  # and the gate still has exactly one place


async def _cancel_a_waiter_then_free(gate: Gate, got: list[str]) -> None:
    async with anyio.create_task_group() as tg:
        held = gate.place(OTHER)
        await held.__aenter__()
        with anyio.move_on_after(0.05):
            await gate.place(STATUS).__aenter__()  # never gets in: the place is held
            got.append("cancelled one")

        async def later() -> None:
            async with gate.place(OTHER):
                got.append("later")

        tg.start_soon(later)
        await anyio.wait_all_tasks_blocked()
        await held.__aexit__(None, None, None)


async def test_a_waiter_cancelled_as_its_turn_comes_passes_it_on() -> None:
    """asyncio's own cancel, delivered after the turn was given and before the waiter resumed (anyio's
    cancel scopes wait for the next checkpoint instead, so they cannot land there)."""
    gate = Gate(1)
    got: list[str] = []

    async def waiter(name: str) -> None:
        async with gate.place(OTHER):
            got.append(name)

    held = gate.place(OTHER)
    await held.__aenter__()
    first = asyncio.create_task(waiter("first"))
    await anyio.wait_all_tasks_blocked()
    second = asyncio.create_task(waiter("second"))
    await anyio.wait_all_tasks_blocked()
    await held.__aexit__(None, None, None)  # the first's turn, given without a checkpoint ...
    first.cancel()  # ... and cancelled before it could take it
    await asyncio.wait([first, second], timeout=5)
    assert first.cancelled()
    assert second.done()
    assert got == ["second"]
    assert await _one_at_a_time(gate)


async def test_a_wait_longer_than_the_timeout_raises() -> None:
    gate = Gate(1)
    async with gate.place(OTHER):
        with pytest.raises(TimeoutError):
            async with gate.place(STATUS, timeout=0.05):
                pass
    assert await _one_at_a_time(gate)


def test_a_gate_has_a_place() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Gate(0)
