"""All the I/O of the spawn benchmark: the cluster, the operator subprocess, the watches, the variants.

Variants (each in its own namespace, all on the same cluster and the same rendered pod):

- ``bare``: the client creates the pod the operator rendered (taken from a warm-up instance,
  owner and instance label removed) and waits on its pod watch for Running with an IP.
- ``jupyternetes``: the client creates an instance and waits on its instance watch for Ready.
- ``spawner``: ``JupyternetesSpawner.start()`` with a mock user and a ``Hub()``, as in
  ``tests/integration/test_spawner.py`` (no JupyterHub process).
- ``kubespawner``: ``KubeSpawner.start()`` configured for the same pod (:mod:`.kubespawner`).
- ``writes``: a control, not a product: a bare pod plus the three writes a ``jupyternetes`` spawn
  adds to a bare pod's, made by the client: a ConfigMap created beside the pod (the instance), then,
  once the pod runs, the ConfigMap patched (the status) and an Event. The spawn's time ends when
  the pod runs, so the writes slow it only through the API server and etcd, as the operator's
  would: how much of ``jupyternetes``' difference to ``bare`` the write load alone explains.

By default the sample template's home claim is stripped; with ``home`` every variant spawns
with one (:mod:`.home`); with prepared homes the operated variants' claims (and, if asked,
KubeSpawner's) are made, and Bound, before the timed spawns that adopt them (:mod:`.prepared`).

Two watches (all pods, all instances; with ``home``, a third on all claims) run for the whole
benchmark and stamp every chunk with the client's ``time.perf_counter()`` on receipt;
:class:`~bench.spawn.phases.Marks` keeps the first time each state was seen. The operator runs
as ``python -m jupyternetes_operator run`` so that ``/proc/<pid>`` is its own: RSS and CPU
seconds are sampled from there, API requests from its ``/metrics``.
"""

from __future__ import annotations

import copy
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from unittest.mock import Mock

import anyio
import anyio.to_thread
import yaml

from jupyternetes_operator.api import INSTANCES, LABEL_INSTANCE, TEMPLATES, VALID, condition
from jupyternetes_operator.kube.client import Client, Resource
from jupyternetes_operator.kube.resources import CONFIG_MAPS, EVENTS, PODS, PVCS
from jupyternetes_operator.kube.watch import BOOKMARK, DELETED, LineSplitter, decode
from jupyternetes_operator.machinery.events import event_for
from jupyternetes_operator.testing.namespaces import ensure_namespace
from jupyternetes_operator.testing.operator import OperatorProcess, metric_sum

from .home import claim_name, mounting, named
from .kubespawner import kubespawner_config
from .phases import ACKED, DONE, READY, RUNNING, SENT, Marks, Spawn
from .requests import ClientRequests
from .variants import BARE, JUPYTERNETES, KUBESPAWNER, OPERATED, PREFIX, SPAWNER, WRITES, namespace_of

if TYPE_CHECKING:
    from jupyternetes_operator.spawner import JupyternetesSpawner

Report = Callable[[str, int, int], None]
Status = Callable[[str], None]

EXAMPLES = Path(__file__).parents[2] / "examples"
def template_name(home: bool) -> str:
    """The template's name (two, so that runs with and without claims can share a cluster)."""
    return "jupyterlab-home" if home else "jupyterlab"


def template(home: bool = False) -> dict[str, Any]:
    """The sample template; without ``home``, without its home PVC (kwok's volume binding would
    dominate and race)."""
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / "template-jupyterlab.yaml").read_text())
    doc["metadata"]["name"] = template_name(home)
    if home:
        return doc
    doc["spec"]["pvcs"] = []
    pod = doc["spec"]["pods"][0]["spec"]
    pod["volumes"] = []
    pod["containers"][0]["volumeMounts"] = []
    return doc


def instance(name: str, template: str = "jupyterlab") -> dict[str, Any]:
    return {"apiVersion": "jupyternetes.io/v1", "kind": "JupyterNotebookInstance",
            "metadata": {"name": name, "labels": {"hub.jupyter.org/username": name}},
            "spec": {"template": {"name": template}, "variables": {"username": name}}}


def bare_pod(rendered: dict[str, Any]) -> dict[str, Any]:
    """The operator's rendered pod as a client would create it: no owner, status or server fields."""
    meta = rendered["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != LABEL_INSTANCE}
    spec = {k: v for k, v in rendered["spec"].items() if k != "nodeName"}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"labels": labels, "annotations": dict(meta.get("annotations") or {})}, "spec": spec}


# -- the operator's process --------------------------------------------------------------

class BenchOperator(OperatorProcess):
    """The operator without leader election, sampled for RSS and CPU every ``interval``; with ``memray``,
    run under memray's tracker (Python allocators traced, aggregated), which writes that file as it exits;
    ``python``: the interpreter whose installed operator runs (an earlier commit's build, to compare)."""

    def __init__(self, kubeconfig: Path, namespaces: tuple[str, ...], log: Path, args: tuple[str, ...] = (),
                 memray: Path | None = None, python: Path = Path(sys.executable)) -> None:
        super().__init__(kubeconfig, namespaces, log, *args, leader_election=False, python=python)
        self.memray = memray
        if memray is not None:
            self.argv[1:1] = ["-m", "memray", "run", "--force", "--aggregate", "--trace-python-allocators",
                              "--output", str(memray)]
        self.samples: list[tuple[float, int, float]] = []
        """(perf_counter, RSS bytes, CPU seconds)."""

    async def sampler(self, interval: float = 0.25) -> None:
        while True:
            self.samples.append(self.usage())
            await anyio.sleep(interval)

    async def counters(self) -> tuple[float, float]:
        """(API requests made, instance reconciles done) so far, from /metrics."""
        text = await anyio.to_thread.run_sync(self.metrics)
        return (metric_sum(text, "rest_client_requests_total"),
                metric_sum(text, "controller_runtime_reconcile_total", 'controller="jupyternotebookinstance"'))


class FlameGraph:
    """py-spy sampling process ``pid`` for as long as the ``async with`` lasts, written to ``path`` as
    an SVG flame graph when it ends. Only the thread holding the GIL is sampled (``--gil``): where the
    operator's Python time goes, without threads blocked in C (aiohttp's DNS resolver thread)."""

    def __init__(self, pid: int, path: Path, rate: int = 100) -> None:
        self.argv = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--rate", str(rate),
                     "--gil", "--format", "flamegraph", "--output", str(path)]
        self.proc: anyio.abc.Process | None = None

    async def __aenter__(self) -> FlameGraph:
        self.proc = await anyio.open_process(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)  # py-spy writes the graph on SIGINT
        with anyio.fail_after(60):
            await self.proc.wait()


# -- watches --------------------------------------------------------------------------------

class Watches:
    """One all-namespaces watch per resource; ``wait(key, mark)`` returns once a mark is seen."""

    def __init__(self, client: Client, claims: bool = False) -> None:
        self.client = client
        self.claims = claims
        self.marks = Marks()
        self.events: dict[tuple[str, str], anyio.Event] = {}
        self.lines = 0

    def _event(self, key: str, mark: str) -> anyio.Event:
        return self.events.setdefault((key, mark), anyio.Event())

    async def wait(self, key: str, mark: str) -> float:
        await self._event(key, mark).wait()
        return self.marks.times[key][mark]

    async def start(self, tg: anyio.abc.TaskGroup) -> None:
        watched = [(PODS, self.marks.pod_event), (INSTANCES, self.marks.instance_event)]
        if self.claims:
            watched.append((PVCS, self.marks.claim_event))
        for resource, apply in watched:
            rv = str((await self.client.list_page(resource, params={"limit": 1}))["metadata"]["resourceVersion"])
            tg.start_soon(self._run, resource, apply, rv)

    async def _run(self, resource: Resource, apply: Callable[[Any, float], list[tuple[str, str]]], rv: str) -> None:
        while True:
            params: dict[str, str | int | bool] = {"watch": True, "allowWatchBookmarks": True,
                                                   "resourceVersion": rv, "timeoutSeconds": 3600}
            async with self.client.stream(resource.path(), params=params) as body:
                splitter = LineSplitter()
                while chunk := await body.readany():
                    t = time.perf_counter()
                    for line in splitter.feed(chunk):
                        self.lines += 1
                        event = decode(line)  # an ERROR event (e.g. 410 Gone) raises: the run fails loudly
                        rv = event.resource_version or rv
                        if event.type in (BOOKMARK, DELETED):
                            continue
                        for key, mark in apply(event.object, t):
                            self._event(key, mark).set()


# -- variants -------------------------------------------------------------------------------

class MockUser(Mock):
    """What a Spawner reads from its user (as in kubespawner's and our spawner tests)."""

    def __init__(self, **attributes: Any) -> None:  # Mock makes child mocks with keywords of its own
        from jupyterhub.objects import Server

        super().__init__()
        self.server = Server()
        for name, value in attributes.items():
            setattr(self, name, value)

    @property
    def escaped_name(self) -> str:
        return str(self.name)

    @property
    def url(self) -> str:
        return str(self.server.url)


def hub_spawner(user: str, namespace: str, kubeconfig: Path, template: str) -> JupyternetesSpawner:
    """The ``spawner`` variant's spawner for hub user ``user``: ``JupyternetesSpawner`` with a mock
    user and a ``Hub()``, as in ``tests/integration/test_spawner.py`` (its instance is named
    ``jupyter-<user>``, the spawn's key)."""
    from jupyterhub.objects import Hub

    from jupyternetes_operator.spawner import JupyternetesSpawner

    orm_spawner = SimpleNamespace(name="", server=None)
    return JupyternetesSpawner(hub=Hub(), user=MockUser(name=user), orm_spawner=orm_spawner,
                               api_token=secrets.token_hex(16), oauth_client_id="unused",
                               kubeconfig=str(kubeconfig), namespace=namespace, template_name=template)


@dataclass
class Bench:
    client: Client
    watches: Watches
    kubeconfig: Path
    timeout: float = 300.0
    rendered: dict[str, Any] = field(default_factory=dict)
    home: bool = False
    """Every spawn with a home claim (:mod:`.home`)."""
    claim: dict[str, Any] = field(default_factory=dict)
    """With ``home``: the warm-up's claim as a client would create it (:func:`.home.bare_claim`)."""
    kubespawner: Any = None
    """KubeSpawner's Config (built from ``rendered``)."""
    requests: ClientRequests = field(default_factory=ClientRequests)
    run: str = field(default_factory=lambda: secrets.token_hex(2))
    """Part of every key, so that runs against the same cluster never reuse a name."""

    def key(self, variant: str, i: int, tag: str) -> str:
        """The spawn's key: the instance's name, or the pod's where there is no instance."""
        user = f"{PREFIX[variant]}{self.run}{tag}{i:05d}"  # [a-z0-9] only: the spawners' escaping keeps it
        return f"jupyter-{user}" if variant in (SPAWNER, KUBESPAWNER) else user

    async def spawn(self, variant: str, i: int, tag: str) -> Spawn:
        key = self.key(variant, i, tag)
        marks = self.watches.marks
        if self.home:
            marks.claims[claim_name(key)] = key
        try:
            with anyio.fail_after(self.timeout):
                await getattr(self, f"_{variant}")(key, namespace_of(variant))
        except Exception as e:  # one failed spawn is a result, not the end of the run)
            return Spawn(key, dict(marks.times.get(key, {})), f"{type(e).__name__}: {e}"[:300])
        return Spawn(key, dict(marks.times[key]))

    def _sent(self, key: str) -> None:
        self.watches.marks.mark(key, SENT, time.perf_counter())

    def _acked(self, key: str) -> None:
        self.watches.marks.mark(key, ACKED, time.perf_counter())

    async def _bare(self, key: str, namespace: str) -> None:
        pod = mounting(self.rendered, claim_name(key)) if self.home else copy.deepcopy(self.rendered)
        pod["metadata"]["name"] = key
        self._sent(key)
        if self.home:  # the claim, then the pod at once: what a naive client does
            self.requests.counts[BARE] += 1
            await self.client.create(PVCS, named(self.claim, claim_name(key)), namespace)
        self.requests.counts[BARE] += 1
        await self.client.create(PODS, pod, namespace)
        self._acked(key)
        self.watches.marks.mark(key, DONE, await self.watches.wait(key, RUNNING))

    async def _writes(self, key: str, namespace: str) -> None:
        if self.home:
            raise ValueError("the writes control runs without home claims")
        pod, record = copy.deepcopy(self.rendered), {"metadata": {"name": key}, "data": {"phase": "Pending"}}
        pod["metadata"]["name"] = key
        self._sent(key)
        self.requests.counts[WRITES] += 2
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.client.create, CONFIG_MAPS, record, namespace)
            await self.client.create(PODS, pod, namespace)
        self._acked(key)
        self.watches.marks.mark(key, DONE, await self.watches.wait(key, RUNNING))
        self.requests.counts[WRITES] += 2
        made = await self.client.patch(CONFIG_MAPS, key, {"data": {"phase": "Running"}}, namespace)
        await self.client.create(EVENTS, event_for(made, "Normal", "Created", f"created Pod {key}", "Create",
                                                   "bench", "bench"), namespace)

    async def _jupyternetes(self, key: str, namespace: str) -> None:
        self._sent(key)
        self.requests.counts[JUPYTERNETES] += 1
        await self.client.create(INSTANCES, instance(key, template_name(self.home)), namespace)
        self._acked(key)
        self.watches.marks.mark(key, DONE, await self.watches.wait(key, READY))

    async def _spawner(self, key: str, namespace: str) -> None:
        spawner = hub_spawner(key.removeprefix("jupyter-"), namespace, self.kubeconfig, template_name(self.home))
        self._sent(key)
        await spawner.start()
        self.watches.marks.mark(key, DONE, time.perf_counter())

    def kube_spawner(self, key: str) -> Any:
        """The ``kubespawner`` variant's spawner of spawn ``key`` (its pod), as kubespawner's tests drive it:
        ``KubeSpawner(hub=Hub(), user=MockUser(...), config=..., api_token=..., oauth_client_id="unused")``,
        configured once for ``rendered`` (and ``claim``); it finds the cluster through ``$KUBECONFIG``."""
        from jupyterhub.objects import Hub
        from kubespawner import KubeSpawner  # type: ignore[import-untyped]

        if self.kubespawner is None:
            self.kubespawner = kubespawner_config(namespace_of(KUBESPAWNER), self.rendered,
                                                  self.claim if self.home else None)
        return KubeSpawner(hub=Hub(), user=MockUser(name=key.removeprefix("jupyter-")), config=self.kubespawner,
                           api_token=secrets.token_hex(16), oauth_client_id="unused")

    async def _kubespawner(self, key: str, namespace: str) -> None:
        spawner = self.kube_spawner(key)
        self._sent(key)
        await spawner.start()
        self.watches.marks.mark(key, DONE, time.perf_counter())


async def prepare(client: Client, variants: tuple[str, ...], home: bool = False) -> None:
    """A namespace per variant (and the one for warm-ups), with the template where the operator works."""
    for variant in (*variants, JUPYTERNETES):
        ns = namespace_of(variant)
        await ensure_namespace(client, ns)
        if variant in OPERATED and await client.get_or_none(TEMPLATES, template_name(home), ns) is None:
            await client.create(TEMPLATES, template(home), ns)


async def template_valid(client: Client, namespace: str, name: str = "jupyterlab", timeout: float = 60) -> None:
    with anyio.fail_after(timeout):
        while True:
            obj = await client.get(TEMPLATES, name, namespace)
            if condition(obj, VALID).get("status") == "True":
                return
            await anyio.sleep(0.1)


async def each(n: int, fn: Callable[[int], Awaitable[Spawn]], concurrency: int, report: Callable[[Spawn], None],
               ) -> list[Spawn]:
    """``fn(0) .. fn(n - 1)``, at most ``concurrency`` at once, all released together."""
    limiter = anyio.CapacityLimiter(concurrency)
    results: list[Spawn] = []

    async def one(i: int) -> None:
        async with limiter:
            spawn = await fn(i)
        results.append(spawn)
        report(spawn)

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
    return results


async def at_rate(n: int, fn: Callable[[int], Awaitable[Spawn]], rate: float, report: Callable[[Spawn], None],
                  ) -> list[Spawn]:
    """``fn(0) .. fn(n - 1)``, the i-th started at ``i / rate`` seconds whether or not earlier ones
    finished (an open-loop arrival rate, as users arrive)."""
    results: list[Spawn] = []
    start = time.perf_counter()

    async def one(i: int) -> None:
        spawn = await fn(i)
        results.append(spawn)
        report(spawn)

    async with anyio.create_task_group() as tg:
        for i in range(n):
            await anyio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tg.start_soon(one, i)
    return results
