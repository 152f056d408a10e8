"""The informer's first sync: waiters can give up on an error the reflector keeps retrying."""

from __future__ import annotations

import anyio
import pytest

from jupyternetes_operator.kube.errors import Forbidden, ServerError
from jupyternetes_operator.machinery.informer import Informer

from .fakeclock import FakeClock
from .test_reflector import ScriptedSource, obj, until


async def test_wait_synced_raises_a_chosen_error_and_waits_through_the_others() -> None:
    src = ScriptedSource()
    src.lists.extend([ServerError(500, "InternalError", "boom"), Forbidden(403, "Forbidden", "no list"),
                      ([obj("a", "5")], "10")])
    clock = FakeClock()
    informer = Informer("pods", src, clock=clock)
    outcomes: list[str] = []

    async def waiter(name: str, fail_on: tuple[type[Exception], ...]) -> None:
        try:
            await informer.wait_synced(fail_on=fail_on)
            outcomes.append(f"{name}: synced")
        except Forbidden:
            outcomes.append(f"{name}: forbidden")

    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        tg.start_soon(waiter, "patient", ())
        tg.start_soon(waiter, "strict", (Forbidden,))
        await until(lambda: clock.sleepers == 1)  # the 500: retried, and nobody gives up on it
        assert outcomes == []
        clock.step(clock.next_deadline() - clock.now())  # type: ignore[operator]
        await until(lambda: outcomes == ["strict: forbidden"])  # the 403: the strict waiter gives up at once
        assert isinstance(informer.last_error, Forbidden)
        with pytest.raises(Forbidden):  # and so does the next one, without waiting
            await informer.wait_synced(fail_on=(Forbidden,))
        await until(lambda: clock.sleepers == 1)
        clock.step(clock.next_deadline() - clock.now())  # type: ignore[operator]
        await until(lambda: outcomes == ["strict: forbidden", "patient: synced"])  # the retry listed
        await informer.wait_synced(fail_on=(Forbidden,))  # synced: an old error no longer matters
        assert informer.store.get_by_name("ns", "a") is not None
        tg.cancel_scope.cancel()
