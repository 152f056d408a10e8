"""Informers against the real API server: a storm of changes, 410 Gone after etcd
compaction, an API server restart mid-stream, and the streaming initial list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import anyio
import anyio.to_thread
import pytest

from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import CONFIG_MAPS, NAMESPACES
from jupyternetes_operator.machinery.informer import Informer, InformerOptions
from jupyternetes_operator.machinery.reflector import ReflectorOptions
from jupyternetes_operator.machinery.store import DeletedFinalStateUnknown, FrozenObject, key_of
from jupyternetes_operator.metrics import Metrics
from jupyternetes_operator.testing import ControlPlane, ControlPlaneConfig

SELECTED = "test.jupyternetes.io/selected"  # the namespace also holds kube-root-ca.crt, which we skip


class Mirror:
    """A handler that rebuilds the cache from events alone, to check what handlers are told."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        self.tombstones: list[str] = []

    def on_add(self, obj: FrozenObject) -> None:
        self.objects[obj["metadata"]["name"]] = obj["metadata"]["resourceVersion"]

    def on_update(self, old: FrozenObject, new: FrozenObject) -> None:
        self.objects[new["metadata"]["name"]] = new["metadata"]["resourceVersion"]

    def on_delete(self, obj: FrozenObject | DeletedFinalStateUnknown) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            self.tombstones.append(obj.key.name)
        self.objects.pop(key_of(obj).name, None)


def config_map(name: str, value: str = "0") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {SELECTED: "yes"}},
            "data": {"v": value}}


async def listed(kube: Client, namespace: str) -> dict[str, str]:
    items = (await kube.list(CONFIG_MAPS, namespace, label_selector=f"{SELECTED}=yes"))["items"]
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in items}


def cached(informer: Informer) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in informer.store.list()}


async def converged(informer: Informer, mirror: Mirror, kube: Client, namespace: str, timeout: float = 60) -> None:
    """Wait until cache == handler mirror == a fresh LIST (names and resourceVersions)."""
    with anyio.fail_after(timeout):
        while True:
            truth = await listed(kube, namespace)
            if cached(informer) == truth and mirror.objects == truth:
                return
            await anyio.sleep(0.2)


@asynccontextmanager
async def running(informer: Informer) -> AsyncIterator[None]:
    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)
        with anyio.fail_after(60):
            await informer.wait_synced()
        yield
        tg.cancel_scope.cancel()


async def bounded(n: int, fn: Any, concurrency: int = 48) -> None:
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(i: int) -> None:
        async with limiter:
            await fn(i)

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)


def make_informer(kube: Client, namespace: str, metrics: Metrics, **reflector: Any) -> tuple[Informer, Mirror]:
    informer = Informer.for_resource(kube, CONFIG_MAPS, InformerOptions(
        namespace=namespace, label_selector=f"{SELECTED}=yes", reflector=ReflectorOptions(**reflector)),
        name="configmaps", metrics=metrics.informer)
    mirror = Mirror()
    informer.add_handler(mirror)
    return informer, mirror


async def test_informer_over_5000_objects_matches_a_fresh_list_after_a_storm(kube: Client, namespace: str) -> None:
    await bounded(3000, lambda i: kube.create(CONFIG_MAPS, config_map(f"cm-{i}"), namespace))
    metrics = Metrics()
    informer, mirror = make_informer(kube, namespace, metrics)
    async with running(informer):
        # A LIST at resourceVersion 0 may be served by a watch cache a few writes behind; the watch
        # that follows catches up.
        await converged(informer, mirror, kube, namespace)
        assert len(informer.store) == 3000

        async def storm(i: int) -> None:
            if i < 2000:
                await kube.create(CONFIG_MAPS, config_map(f"cm-{3000 + i}"), namespace)
            elif i < 3500:
                await kube.patch(CONFIG_MAPS, f"cm-{i - 2000}", {"data": {"v": "1"}}, namespace)
            else:
                await kube.delete(CONFIG_MAPS, f"cm-{i}", namespace)  # cm-3500 .. cm-4499, some just created

        await bounded(4500, storm)
        await converged(informer, mirror, kube, namespace)
    assert len(informer.store) == 4000
    assert informer.store.get_by_name(namespace, "cm-10")["data"] == {"v": "1"}  # type: ignore[index]
    events = metrics.registry.get_sample_value
    assert events("jupyternetes_informer_events_total", {"resource": "configmaps", "type": "DELETED"}) == 1000
    assert events("jupyternetes_informer_objects", {"resource": "configmaps"}) == 4000


async def test_streaming_initial_list(kube: Client, namespace: str) -> None:
    await bounded(50, lambda i: kube.create(CONFIG_MAPS, config_map(f"s-{i}"), namespace))
    metrics = Metrics()
    informer, mirror = make_informer(kube, namespace, metrics, watch_list=True)
    async with running(informer):
        await converged(informer, mirror, kube, namespace)
        await kube.create(CONFIG_MAPS, config_map("after"), namespace)
        await converged(informer, mirror, kube, namespace)
        # The server took sendInitialEvents (no fallback to LIST was needed).
        assert informer.reflector._watch_list
        assert metrics.registry.get_sample_value("jupyternetes_informer_relists_total",
                                                 {"resource": "configmaps", "reason": "fallback"}) is None


# -- faults, on a control plane of their own whose ConfigMap watches go straight to etcd ----------


@pytest.fixture(scope="module")
def fault_plane(control_plane: ControlPlane) -> Iterator[ControlPlane]:
    # Without the watch cache, a watch from a compacted revision is answered by etcd with 410.
    plane = ControlPlane(ControlPlaneConfig(nodes=1, crd_dir=None,
                                            apiserver_args=("--watch-cache-sizes=configmaps#0",)),
                         control_plane.binaries)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture
async def fault_kube(fault_plane: ControlPlane) -> AsyncIterator[tuple[Client, str]]:
    async with await Client.from_kubeconfig(str(fault_plane.kubeconfig)) as client:
        name = f"faults-{anyio.lowlevel.current_token().__hash__() % 100000}"
        await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        yield client, name
        for attempt in range(3):  # the first request after an API server restart may hit a dead pooled connection
            try:
                await client.delete(NAMESPACES, name)
                break
            except aiohttp.ClientError:
                if attempt == 2:
                    raise


async def test_gone_after_compaction_relists_and_reports_missed_deletes(
        fault_plane: ControlPlane, fault_kube: tuple[Client, str]) -> None:
    kube, namespace = fault_kube
    await bounded(20, lambda i: kube.create(CONFIG_MAPS, config_map(f"g-{i}"), namespace))
    metrics = Metrics()
    informer, mirror = make_informer(kube, namespace, metrics)
    async with running(informer):
        await converged(informer, mirror, kube, namespace)
    # The watch is down. Change things, then compact etcd past the informer's version.
    await bounded(5, lambda i: kube.delete(CONFIG_MAPS, f"g-{i}", namespace))
    await bounded(3, lambda i: kube.create(CONFIG_MAPS, config_map(f"new-{i}"), namespace))
    await kube.patch(CONFIG_MAPS, "g-10", {"data": {"v": "changed"}}, namespace)
    await anyio.to_thread.run_sync(fault_plane.compact_etcd)

    async with anyio.create_task_group() as tg:
        tg.start_soon(informer.run)  # resumes: watch from the old version -> 410 -> relist
        await converged(informer, mirror, kube, namespace)
        tg.cancel_scope.cancel()
    assert metrics.registry.get_sample_value("jupyternetes_informer_relists_total",
                                             {"resource": "configmaps", "reason": "gone"}) == 1
    assert sorted(mirror.tombstones) == [f"g-{i}" for i in range(5)]  # no delete was missed
    assert informer.store.get_by_name(namespace, "g-10")["data"] == {"v": "changed"}  # type: ignore[index]


async def test_api_server_restart_mid_stream(fault_plane: ControlPlane, fault_kube: tuple[Client, str]) -> None:
    kube, namespace = fault_kube
    metrics = Metrics()
    informer, mirror = make_informer(kube, namespace, metrics)
    async with running(informer):
        await bounded(10, lambda i: kube.create(CONFIG_MAPS, config_map(f"r-{i}"), namespace))
        await converged(informer, mirror, kube, namespace)
        await anyio.to_thread.run_sync(lambda: fault_plane.restart("kube-apiserver", kill=True))
        # Changes after the restart reach the cache through a new watch.
        await bounded(10, lambda i: kube.create(CONFIG_MAPS, config_map(f"after-{i}"), namespace))
        await kube.delete(CONFIG_MAPS, "r-0", namespace)
        await converged(informer, mirror, kube, namespace)
    restarts = sum(metrics.registry.get_sample_value("jupyternetes_informer_watch_restarts_total",
                                                     {"resource": "configmaps", "reason": r}) or 0
                   for r in ("error", "closed", "stalled"))
    assert restarts >= 1
    assert "r-0" not in cached(informer)
    assert len(cached(informer)) == 19
