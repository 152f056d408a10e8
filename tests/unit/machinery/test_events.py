"""An Event's name stays a valid object name whatever the name of what it is about."""

from __future__ import annotations

import re

import anyio
import pytest
from kubernetes_asyncio.client import Configuration

from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.machinery.events import NORMAL, WARNING, EventRecorder, event_for

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
                while recorder._receive.statistics().current_buffer_used:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
