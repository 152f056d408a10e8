"""Run the real operator in-process against the test control plane; the waits, samples and the
operator-as-a-process come from :mod:`jupyternetes_operator.testing.operator`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from jupyternetes_operator import api
from jupyternetes_operator.api import condition
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.manager import Operator
from jupyternetes_operator.metrics import Metrics
from jupyternetes_operator.settings import LeaderElectionSettings, Settings
from jupyternetes_operator.testing.operator import (
    INSTANCE,
    TEMPLATE,
    OperatorProcess,
    instance,
    instance_reason,
    ready_instance,
    template_valid,
    wait_for,
)

__all__ = ["INSTANCE", "TEMPLATE", "OperatorProcess", "condition", "instance", "instance_reason", "ready_instance",
           "running_operator", "template_valid", "wait_for"]


@asynccontextmanager
async def running_operator(kubeconfig: Path, namespaces: tuple[str, ...], **settings: Any) -> AsyncIterator[Operator]:
    """The operator on its own client, watching ``namespaces``, leader election off unless asked."""
    settings.setdefault("leader_election", LeaderElectionSettings(  # its own namespace: the claim key's
        enabled=False, lease_namespace=namespaces[0] if namespaces else "default"))
    metrics = Metrics()
    async with await Client.from_kubeconfig(str(kubeconfig), metrics=metrics.client,
                                            field_manager=api.FIELD_MANAGER) as client:
        operator = Operator(Settings(namespaces=namespaces, **settings), client, metrics)
        await operator.build()
        async with anyio.create_task_group() as tg:
            tg.start_soon(operator.run)
            with anyio.fail_after(30):
                while not operator.ready:  # noqa: ASYNC110 (informers expose no event for "all synced")
                    await anyio.sleep(0.02)
            yield operator
            tg.cancel_scope.cancel()


