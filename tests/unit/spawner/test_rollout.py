"""The hub's log names a server once, when its template moves on past the version it runs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kubernetes_asyncio.client import Configuration

from jupyternetes_operator.api import INSTANCES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.machinery.store import freeze
from jupyternetes_operator.spawner.rollout import became_outdated
from jupyternetes_operator.spawner.shared import SharedCache


def server(up_to_date: str | None) -> dict[str, Any]:
    conditions = [] if up_to_date is None else [{
        "type": "UpToDate", "status": up_to_date,
        "reason": "TemplateChanged" if up_to_date == "False" else "UpToDate",
        "message": "the server runs template generation 1; the template is at generation 2: its next start uses it"}]
    return {"metadata": {"name": "jupyter-alice", "namespace": "hub", "labels": {"hub.jupyter.org/username": "alice"}},
            "spec": {"template": {"name": "jupyterlab"}}, "status": {"conditions": conditions}}


def test_the_note_comes_once_when_the_condition_turns_false() -> None:
    note = became_outdated(server("True"), server("False"))
    assert note == ("server hub/jupyter-alice of user alice runs an older version of template jupyterlab: the server "
                    "runs template generation 1; the template is at generation 2: its next start uses it")
    assert became_outdated(server(None), server("False")) == note
    assert became_outdated(server("False"), server("False")) is None  # said already
    assert became_outdated(server("False"), server("True")) is None
    assert became_outdated(server("True"), server("True")) is None


async def test_the_hubs_shared_cache_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    configuration = Configuration()
    configuration.host = "https://127.0.0.1:1"  # never contacted: only the handler runs
    async with Client(configuration) as client:
        cache = SharedCache(client, INSTANCES, "hub")
        with caplog.at_level(logging.WARNING, logger="jupyternetes_operator.spawner.shared"):
            cache.on_update(freeze(server("True")), freeze(server("False")))
            cache.on_update(freeze(server("False")), freeze(server("False")))
    assert [r.getMessage() for r in caplog.records] == [became_outdated(server("True"), server("False"))]
