"""The fault run with another writer: a second client edits labels and annotations of instances,
pods and claims (merge patches and read-modify-PUTs) while the operator provisions a burst, and
every key it wrote must survive with its last value."""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

import anyio

from jupyternetes_operator.api import INSTANCES
from jupyternetes_operator.kube.client import MERGE_PATCH, Client, Resource
from jupyternetes_operator.kube.errors import Conflict
from jupyternetes_operator.kube.resources import PODS, PVCS
from jupyternetes_operator.testing.operator import TEMPLATE, template_valid

from .run import (
    CHILDREN,
    FaultEnv,
    FaultRun,
    burst,
    claims_per_instance,
    metric_by,
    metrics_of,
    patience,
    prepare,
    retrying,
    settle,
    wait_running,
)

FOREIGN = "faults.example.com"
"""The other writer's label and annotation prefix."""


@dataclass
class ForeignWriter:
    """Another client editing labels and annotations of instances, pods and claims, by merge patch
    and by read-modify-PUT (retried on 409); it remembers the last value it wrote for every key."""

    client: Client
    namespace: str
    rng: random.Random
    written: dict[tuple[str, str], dict[tuple[str, str], str]] = field(default_factory=dict)
    writes: int = 0
    conflicts: int = 0

    TARGETS: ClassVar[dict[str, tuple[Resource, str | None]]] = {
        "JupyterNotebookInstance": (INSTANCES, None), "Pod": (PODS, CHILDREN),
        "PersistentVolumeClaim": (PVCS, CHILDREN)}

    async def run(self, stop: anyio.Event) -> None:
        """Write as fast as one client in sequence does, until ``stop``."""
        targets: list[tuple[str, str]] = []
        listed = 0.0
        while not stop.is_set():
            if time.monotonic() - listed > 0.5:
                targets = [(kind, str(o["metadata"]["name"])) for kind, (resource, selector) in self.TARGETS.items()
                           for o in (await retrying(partial(self.client.list, resource, self.namespace,
                                                            label_selector=selector)))["items"]]
                listed = time.monotonic()
            if targets:
                await self.touch(*self.rng.choice(targets))
            await anyio.sleep(0.01)

    async def touch(self, kind: str, name: str) -> None:
        resource = self.TARGETS[kind][0]
        where = self.rng.choice(("labels", "annotations"))
        key, value = f"{FOREIGN}/k{self.rng.randrange(3)}", f"v{self.writes}"
        if self.rng.random() < 0.5:
            await retrying(partial(self.client.patch, resource, name, {"metadata": {where: {key: value}}},
                                   self.namespace, content_type=MERGE_PATCH))
        else:
            for _ in range(10):
                obj = await retrying(partial(self.client.get, resource, name, self.namespace))
                obj["metadata"][where] = {**(obj["metadata"].get(where) or {}), key: value}
                try:
                    await retrying(partial(self.client.replace, resource, obj, self.namespace))
                    break
                except Conflict:
                    self.conflicts += 1
            else:
                return
        self.writes += 1
        self.written.setdefault((kind, name), {})[(where, key)] = value

    async def clobbered(self) -> list[str]:
        """Every key whose last written value is no longer on its object."""
        lost = []
        for (kind, name), keys in self.written.items():
            obj = await retrying(partial(self.client.get, self.TARGETS[kind][0], name, self.namespace))
            for (where, key), value in keys.items():
                if (found := (obj["metadata"].get(where) or {}).get(key)) != value:
                    lost.append(f"{kind} {name} {where} {key}: {found!r}, written {value!r}")
        return lost


async def conflicting_writer(env: FaultEnv, size: int, rng: random.Random) -> FaultRun:
    """Another writer edits the labels and annotations of instances and of their pods and claims
    while the operator provisions a burst: the operator converges, nothing is duplicated, and every
    foreign label and annotation survives with the value last written."""
    names = [f"conf{i}" for i in range(size)]
    run = FaultRun("another writer edits labels/annotations during a burst", size)
    operator = env.operator()
    await prepare(env)
    operator.start()
    async with await Client.from_kubeconfig(str(env.control_plane.kubeconfig), field_manager="fault-writer") as other:
        writer = ForeignWriter(other, env.namespace, rng)
        try:
            await template_valid(env.kube, TEMPLATE["metadata"]["name"], env.namespace)
            started = time.monotonic()
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(writer.run, stop)
                await burst(env, names, rng)
                with contextlib.suppress(TimeoutError):
                    await wait_running(env, size, patience(size))
                stop.set()
            await settle(run, env, started, expect_running=size, timeout=patience(size))
            if lost := await writer.clobbered():
                run.report.problems.append(f"{len(lost)} foreign keys clobbered: {lost[:5]}")
            codes = metric_by(await metrics_of(operator) or "", "rest_client_requests_total", "code")
            run.faults.append(f"{writer.writes} foreign writes ({writer.conflicts} of its PUTs got 409)")
            run.notes.update(foreign_writes=writer.writes, foreign_conflicts=writer.conflicts,
                             foreign_keys=sum(len(k) for k in writer.written.values()),
                             operator_409_answers=int(codes.get("409", 0)))  # AlreadyExists included
            if not writer.written:
                run.report.problems.append("the other writer wrote nothing")
        finally:
            await operator.stop()
    await claims_per_instance(run, env, size)
    return run

