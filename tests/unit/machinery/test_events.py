"""An Event's name stays a valid object name whatever the name of what it is about; Normal events
wait out a burst (bounded), Warnings never wait."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from aiohttp import web
from kubernetes_asyncio.client import Configuration

from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.machinery.events import NORMAL, WARNING, EventRecorder, event_for

from ..localapi import local_client
from .fakeclock import FakeClock

SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@pytest.mark.parametrize("name", [
    "jupyter-alice",
    "a" * 253,
    ".".join(["a" * 63] * 4)[:253],
    "a" * 235 + ".b" + "c" * 16,  # cut right after a dot
    "a" * 235 + "-" * 18,
])
def test_event_name_is_a_dns_subdomain_of_at_most_253_characters(name: str) -> None:
    regarding = {"apiVersion": "v1", "kind": "Thing", "metadata": {"name": name, "namespace": "ns"}}
    event = event_for(regarding, WARNING, "Bad", "why", "Check", "ctl", "me")
    assert len(event["metadata"]["name"]) <= 253
    assert SUBDOMAIN.fullmatch(event["metadata"]["name"])
    assert event["metadata"]["name"].startswith(name[:200])
    assert event["regarding"]["name"] == name


async def test_events_left_when_the_lease_is_given_up_are_dropped_not_raised() -> None:
    # A graceful stop releases the Lease with events still buffered: the write fence refuses them,
    # and that must not end the recorder (it would crash the process that was exiting cleanly).
    configuration = Configuration()
    configuration.host = "https://127.0.0.1:1"  # never contacted: the fence refuses first
    async with Client(configuration) as client:
        client.write_fence = lambda method, path: False
        recorder = EventRecorder(client, controller="example.com/ctl", instance="me")
        for reason in ("Created", "Ready"):
            recorder.emit({"metadata": {"name": "a", "namespace": "ns"}}, NORMAL, reason, "note")
        async with anyio.create_task_group() as tg:
            tg.start_soon(recorder.run)
            with anyio.fail_after(5):
                while recorder.pending():  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()


@asynccontextmanager
async def event_sink(record: Callable[[dict[str, Any]], Any]) -> AsyncIterator[tuple[Client, list[Any]]]:
    """A client whose every POST lands on a local server, which keeps ``record(body)`` of each, in order."""
    received: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(record(await request.json()))
        return web.json_response({}, status=201)

    async with local_client(handler, "POST") as client:
        yield client, received


async def test_normal_events_wait_while_busy_at_most_hold_and_warnings_never_wait() -> None:
    clock, busy = FakeClock(), [True]
    async with event_sink(lambda body: body["reason"]) as (client, received), anyio.create_task_group() as tg:
        recorder = EventRecorder(client, controller="example.com/ctl", instance="me", busy=lambda: busy[0],
                                 hold=2.0, clock=clock)
        tg.start_soon(recorder.run)
        regarding = {"metadata": {"name": "a", "namespace": "ns"}}

        async def until(expected: list[str]) -> None:
            with anyio.fail_after(5):
                while received != expected:  # noqa: ASYNC110
                    await anyio.sleep(0.01)

        recorder.emit(regarding, NORMAL, "Created", "note")
        recorder.emit(regarding, WARNING, "CreateFailed", "note")
        await until(["CreateFailed"])  # at once, though a Normal event waits
        clock.step(1.9)
        await anyio.sleep(0.2)
        assert received == ["CreateFailed"]  # still busy, held less than 2 s
        clock.step(0.1)
        await until(["CreateFailed", "Created"])  # held 2 s: sent, busy or not
        recorder.emit(regarding, NORMAL, "Ready", "note")
        await anyio.sleep(0.2)
        busy[0] = False
        clock.step(0.1)
        await until(["CreateFailed", "Created", "Ready"])  # not busy any more: sent at the next look
        tg.cancel_scope.cancel()


async def test_normal_events_for_one_object_join_only_while_a_backlog_queues() -> None:
    clock = FakeClock()
    async with event_sink(lambda body: (body["regarding"]["name"], body["reason"], body["note"])) as (
            client, received), anyio.create_task_group() as tg:
        recorder = EventRecorder(client, controller="example.com/ctl", instance="me", busy=lambda: True,
                                 hold=2.0, clock=clock, senders=1)
        tg.start_soon(recorder.run)
        a = {"metadata": {"name": "a", "namespace": "ns", "uid": "uid-a"}}
        b = {"metadata": {"name": "b", "namespace": "ns", "uid": "uid-b"}}

        async def until(count: int) -> None:
            with anyio.fail_after(5):
                while len(received) < count:  # noqa: ASYNC110
                    await anyio.sleep(0.01)

        recorder.emit(a, NORMAL, "Created", "created Pod a")
        await anyio.sleep(0.1)  # the one sender holds it
        recorder.emit(b, NORMAL, "Created", "created Pod b")  # queued behind it: a backlog
        recorder.emit(a, WARNING, "Slow", "never joins a Normal event")
        recorder.emit(a, NORMAL, "Ready", "ready at http://a")
        await until(1)
        assert received == [("a", "Slow", "never joins a Normal event")]
        clock.step(2.0)
        await until(3)
        assert received[1:] == [("a", "Ready", "created Pod a; ready at http://a"),
                                ("b", "Created", "created Pod b")]
        assert recorder.merged == 1

        # No backlog (a lone spawn): its events stay apart, even while one is held.
        recorder.emit(a, NORMAL, "Stopped", "stopped")
        await anyio.sleep(0.1)
        recorder.emit(a, NORMAL, "Again", "again")
        clock.step(2.0)
        await until(5)
        assert received[3:] == [("a", "Stopped", "stopped"), ("a", "Again", "again")]
        assert recorder.merged == 1
        tg.cancel_scope.cancel()
