"""All the soak's I/O: the operator subprocess, the client's spawns and stops, the sampler.

The operator runs as ``python -m jupyternetes_operator run`` (:class:`bench.spawn.cluster.BenchOperator`,
no leader election) watching one namespace, so that ``/proc/<pid>`` is its own. The client plays
the hub: it fills the namespace to ``live`` instances, then at ``rate`` per second starts one spawn
and stops the oldest Ready server, for ``duration`` seconds. Every ``spawner_every``-th spawn goes
through the real ``JupyternetesSpawner.start()`` (and its ``stop()``); the others create the
instance and wait on the client's own instance watch for Ready. A spawn not Ready within
``timeout`` seconds is a failure. Every ``interval`` seconds the sampler reads the operator's RSS,
fds and CPU from ``/proc`` and its task count, queue depths, watch restarts and non-2xx requests
from ``/metrics``.
"""

from __future__ import annotations

import os
import secrets
import time
import urllib.request
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

import anyio
import anyio.abc
import anyio.to_thread

from jupyternetes_operator.api import INSTANCES, READY, TEMPLATES, condition
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.watch import BOOKMARK, DELETED, watch
from jupyternetes_operator.testing.namespaces import ensure_namespace
from jupyternetes_operator.testing.operator import metric_sum

from ..spawn.cluster import BenchOperator, MockUser, instance, template, template_valid
from .analysis import Sample, Spawn, api_errors

INSTANCE, SPAWNER = "instance", "spawner"
TEMPLATE = "jupyterlab"


class Display(Protocol):
    def report(self, phase: str, done: int, total: int) -> None: ...

    def status(self, text: str) -> None: ...


class Quiet:
    def report(self, phase: str, done: int, total: int) -> None:
        pass

    def status(self, text: str) -> None:
        pass


@dataclass(frozen=True)
class SoakConfig:
    rate: float = 5.0
    """Spawns per second during the churn (and as many stops)."""
    live: int = 2000
    """Live instances kept during the churn."""
    duration: float = 3600.0
    """Seconds of churn (the fill before it is not counted)."""
    interval: float = 10.0
    """Seconds between samples."""
    timeout: float = 120.0
    """Seconds a spawn may take to be Ready."""
    spawner_every: int = 10
    """Every n-th spawn through ``JupyternetesSpawner`` (0: none)."""
    fill_concurrency: int = 40
    """Creates in flight while filling the live set."""
    namespace: str = "bench-soak"
    operator_args: tuple[str, ...] = ()
    memray: Path | None = None
    """Run the operator under memray, writing this file."""


class Instances:
    """The namespace's instances as the client sees them (LIST, then WATCH; relist on any error):
    when each was first seen Ready, and an event to wait on."""

    def __init__(self, client: Client, namespace: str) -> None:
        self.client, self.namespace = client, namespace
        self.ready: dict[str, float] = {}
        self.waiters: dict[str, anyio.Event] = {}
        self.relists = 0

    def expect(self, name: str) -> anyio.Event:
        return self.waiters.setdefault(name, anyio.Event())

    def forget(self, name: str) -> None:
        self.ready.pop(name, None)
        self.waiters.pop(name, None)

    def _seen(self, obj: dict[str, Any], now: float) -> None:
        name = obj["metadata"]["name"]
        if name in self.ready or condition(obj, READY).get("status") != "True":
            return
        if name in self.waiters:  # only spawns still waited on: stopped ones are forgotten
            self.ready[name] = now
            self.waiters[name].set()

    async def run(self) -> None:
        while True:
            try:
                listed = await self.client.list(INSTANCES, self.namespace)
                now = time.perf_counter()
                for obj in listed["items"]:
                    self._seen(obj, now)
                rv = str(listed["metadata"]["resourceVersion"])
                while True:  # the server ends each watch after timeoutSeconds: resume from the last version
                    async with watch(self.client, INSTANCES, self.namespace, resource_version=rv,
                                     timeout_seconds=300, inactivity_timeout=90) as events:
                        async for event in events:
                            rv = event.resource_version or rv
                            if event.type not in (BOOKMARK, DELETED):
                                self._seen(event.object, time.perf_counter())
            except Exception:  # 410 Gone, a dropped connection: LIST again
                self.relists += 1
                await anyio.sleep(1)


@dataclass
class Live:
    name: str
    spawner: Any = None


@dataclass
class Result:
    samples: list[Sample]
    spawns: list[Spawn]
    client_errors: int
    churn_seconds: float
    fill_seconds: float
    watch_relists: int
    missed_samples: int = 0
    metrics: str = ""


@dataclass
class Soak:
    config: SoakConfig
    kubeconfig: Path
    log: Path
    display: Display = field(default_factory=Quiet)
    run_id: str = field(default_factory=lambda: secrets.token_hex(2))

    def __post_init__(self) -> None:
        c = self.config
        self.operator = BenchOperator(self.kubeconfig, (c.namespace,), self.log, c.operator_args, c.memray)
        self.origin = time.perf_counter()
        self.churn_at: float | None = None
        self.raw: list[Sample] = []  # t: perf_counter
        self.spawns: list[Spawn] = []  # t: perf_counter
        self.ready_queue: deque[Live] = deque()
        self.started = 0
        self.stopped = 0
        self.client_errors = 0
        self.spawning = 0
        self.missed = 0
        """Samples the operator did not answer in time."""

    # -- spawns and stops --------------------------------------------------------------

    def _via(self, i: int) -> str:
        every = self.config.spawner_every
        return SPAWNER if every and i % every == every - 1 else INSTANCE

    async def spawn(self, i: int) -> None:
        """Spawn number ``i`` (the caller counts it in :attr:`started` when it schedules it)."""
        self.spawning += 1
        via, t0 = self._via(i), time.perf_counter()
        user = f"s{self.run_id}{i:06d}"
        name, spawner, error, ready = user, None, "", None
        try:
            if via == SPAWNER:
                spawner = self._spawner(user)
                name = spawner.instance_name
                with anyio.fail_after(self.config.timeout + 5):
                    await spawner.start()
                ready = time.perf_counter() - t0
            else:
                event = self.instances.expect(name)
                await self.client.create(INSTANCES, instance(name, TEMPLATE), self.config.namespace)
                with anyio.fail_after(self.config.timeout):
                    await event.wait()
                ready = self.instances.ready[name] - t0
                self.instances.forget(name)
        except Exception as e:  # a failed spawn is a result, not the end of the run
            error = f"{type(e).__name__}: {e}"[:300]
            self.instances.forget(name)
        finally:
            self.spawning -= 1
        self.spawns.append(Spawn(name, via, t0, ready, error))
        # A server that never got Ready is still an instance to clean up: it takes its place in the queue.
        self.ready_queue.append(Live(name, spawner))

    def _spawner(self, user: str) -> Any:
        from jupyterhub.objects import Hub

        from jupyternetes_operator.spawner import JupyternetesSpawner

        orm_spawner = SimpleNamespace(name="", server=None)
        return JupyternetesSpawner(hub=Hub(), user=MockUser(name=user), orm_spawner=orm_spawner,
                                   api_token=secrets.token_hex(16), oauth_client_id="unused",
                                   kubeconfig=str(self.kubeconfig), namespace=self.config.namespace,
                                   template_name=TEMPLATE, start_timeout=int(self.config.timeout),
                                   # Not its 30 s default: on a loaded machine the operator's queue backs
                                   # up (110 deep at load 60) and its first status on a new instance can
                                   # take longer; the soak judges spawns by ``timeout`` alone.
                                   operator_timeout=self.config.timeout)

    async def stop(self, live: Live) -> None:
        """Stop a server (the caller counts it in :attr:`stopped` when it schedules it)."""
        try:
            if live.spawner is not None:
                await live.spawner.stop()
            else:
                await self.client.delete(INSTANCES, live.name, self.config.namespace)
        except Exception:
            self.client_errors += 1

    # -- sampling ----------------------------------------------------------------------

    async def sample(self) -> Sample:
        op = self.operator
        assert op.proc is not None
        text = await anyio.to_thread.run_sync(self._scrape)
        now, rss, cpu = op.usage()
        fds = len(os.listdir(f"/proc/{op.proc.pid}/fd"))
        failed = sum(s.ready is None for s in self.spawns)
        s = Sample(t=now, rss=rss, fds=fds, tasks=int(metric_sum(text, "jupyternetes_asyncio_tasks")),
                   queue_depth=metric_sum(text, "workqueue_depth"),
                   watch_restarts=metric_sum(text, "jupyternetes_informer_watch_restarts_total"),
                   api_errors=api_errors(text), live=self.started - self.stopped, spawned=len(self.spawns),
                   failed=failed, cpu=cpu, cached=metric_sum(text, "jupyternetes_informer_objects"))
        self.raw.append(s)
        return s

    def _scrape(self) -> str:
        # Longer than OperatorProcess.metrics' 10 s: on a machine at load 60 the operator once took
        # more than 10 s to answer, and a slow scrape is a late sample, not the end of the run.
        with urllib.request.urlopen(f"http://{self.operator.address}/metrics", timeout=60) as r:
            return bytes(r.read()).decode()

    async def sample_or_none(self) -> Sample | None:
        """A sample, or None (counted in :attr:`missed`) when the operator did not answer."""
        try:
            return await self.sample()
        except OSError:  # urllib's timeouts and refusals
            self.missed += 1
            return None

    async def sampler(self) -> None:
        next_at = time.perf_counter()
        while True:
            if (s := await self.sample_or_none()) is None:
                next_at = time.perf_counter()
                continue
            elapsed = 0.0 if self.churn_at is None else s.t - self.churn_at
            phase = "fill" if self.churn_at is None else f"churn {elapsed / 60:.1f}/{self.config.duration / 60:g} min"
            self.display.status(f"{phase}: live {s.live}, RSS {s.rss / 1e6:.0f} MB, fds {s.fds}, tasks {s.tasks}, "
                                f"queue {s.queue_depth:g}, ready {s.spawned - s.failed}, failed {s.failed}, "
                                f"API errors {sum(s.api_errors.values()):g}")
            next_at += self.config.interval
            await anyio.sleep(max(0.0, next_at - time.perf_counter()))

    # -- the run -----------------------------------------------------------------------

    async def run(self) -> Result:
        c = self.config
        async with await Client.from_kubeconfig(str(self.kubeconfig)) as client:
            self.client = client
            self.instances = Instances(client, c.namespace)
            await ensure_namespace(client, c.namespace)
            if await client.get_or_none(TEMPLATES, TEMPLATE, c.namespace) is None:
                await client.create(TEMPLATES, template(), c.namespace)
            self.operator.start()
            try:
                self.display.status("operator: waiting for /readyz and the template")
                await self.operator.wait_ready(120)
                await template_valid(client, c.namespace, TEMPLATE)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self.instances.run)
                    await self.sample()
                    tg.start_soon(self.sampler)
                    result = await self._phases()
                    tg.cancel_scope.cancel()
                result.metrics = await anyio.to_thread.run_sync(self._scrape)
                return result
            finally:
                from jupyternetes_operator.spawner import shared

                await shared.close_all()
                await self.operator.stop(timeout=600 if c.memray else 30)

    async def _phases(self) -> Result:
        c = self.config
        fill_start = time.perf_counter()
        limiter = anyio.CapacityLimiter(c.fill_concurrency)

        async def filled(i: int) -> None:
            async with limiter:
                self.started += 1
                await self.spawn(i)

        async with anyio.create_task_group() as tg:
            for i in range(c.live):
                tg.start_soon(filled, i)
            while len(self.spawns) < c.live:
                self.display.report("fill: live instances Ready", len(self.spawns), c.live)
                await anyio.sleep(0.5)
        self.display.report("fill: live instances Ready", c.live, c.live)
        self.churn_at = time.perf_counter()
        fill_seconds = self.churn_at - fill_start
        await self.sample_or_none()
        n = round(c.rate * c.duration)
        async with anyio.create_task_group() as tg:
            for k in range(n):
                await anyio.sleep(max(0.0, self.churn_at + k / c.rate - time.perf_counter()))
                self.started += 1
                tg.start_soon(self.spawn, c.live + k)
                while self.ready_queue and self.started - self.stopped > c.live:
                    self.stopped += 1
                    tg.start_soon(self.stop, self.ready_queue.popleft())
                self.display.report("churn: seconds", int(time.perf_counter() - self.churn_at), int(c.duration))
            await anyio.sleep(max(0.0, self.churn_at + c.duration - time.perf_counter()))
            self.display.report("churn: seconds", int(c.duration), int(c.duration))
            self.display.status("churn done: waiting for the last spawns and stops")
        for _ in range(3):  # the last sample closes the window: worth a retry
            if await self.sample_or_none() is not None:
                break
        churn = time.perf_counter() - self.churn_at
        at = self.churn_at
        return Result(samples=[replace(s, t=s.t - at) for s in self.raw],
                      spawns=[replace(s, t=s.t - at) for s in self.spawns],
                      client_errors=self.client_errors, churn_seconds=churn, fill_seconds=fill_seconds,
                      watch_relists=self.instances.relists, missed_samples=self.missed)

