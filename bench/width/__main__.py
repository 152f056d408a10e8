"""Width: the operator in the all-namespaces mode, with one namespace of notebooks, then many.

``python -m bench.width [--namespaces 1000] [--per-namespace 10] [--n 100] [--out bench/results]``
writes ``width.json``, ``width.png`` and ``width.md``.

One run, one operator process (``--namespaces=`` empty: all namespaces), side by side:

1. ``one``: sequential spawns (bare pods as the control, then instances, interleaved) while one
   namespace holds notebooks; then, the operator idle, its RSS and its connections to the API
   server (from ``/proc``, see :mod:`.connections`) and the API server's open WATCHes;
2. ``namespaces`` new namespaces, each created after the operator started, with a template and
   ``per_namespace`` instances, until every instance is Ready (pods run by kwok);
3. ``wide``: the same measurements, then the same sequential spawns in the same namespace.

The spawn machinery (:class:`bench.spawn.__main__.Runner`, the watches and variants of
:mod:`bench.spawn.cluster`) is reused as is; only the operator's scope and the stages differ.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.testing.namespaces import ensure_namespace

from ..session import bench_cluster
from ..spawn.__main__ import Runner
from ..spawn.cluster import Bench, BenchOperator, instance, template
from ..spawn.phases import READY
from ..spawn.variants import BARE, JUPYTERNETES
from ..watch_hotpath import Display
from .connections import established_to, informers, longrunning_watches, server_port
from .report import ONE, WIDE, markdown, plot, summary_of

BENCH_WATCHES = 2
"""The benchmark's own watches (all pods, all instances: :class:`bench.spawn.cluster.Watches`)."""
LEASE_NAMESPACE = "jupyternetes"
"""The operator's own namespace, as deployed (excluded from its watches by default)."""


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.width", description=__doc__.split("\n\n")[0])
    parser.add_argument("--namespaces", type=int, default=1000, help="namespaces added (default %(default)s)")
    parser.add_argument("--per-namespace", type=int, default=10, help="instances in each (default %(default)s)")
    parser.add_argument("--n", type=int, default=100, help="sequential spawns per variant and stage "
                        "(default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=50, help="namespaces populated at once "
                        "(default %(default)s)")
    parser.add_argument("--idle", type=float, default=40.0, help="seconds the operator is watched idle at each "
                        "stage; longer than twice the transport's 15 s keep-alive (aiohttp closes an idle "
                        "pooled connection 15 to 30 s after its last use), so that the minimum counts the "
                        "watches alone (default %(default)s)")
    parser.add_argument("--ready-timeout", type=float, default=3600.0, help="seconds for every instance to be "
                        "Ready (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one spawn may take")
    parser.add_argument("--kubeconfig", type=Path, help="an existing cluster with the CRDs (default: start a "
                        "local control plane); the operator still runs here")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="default %(default)s")
    parser.add_argument("--operator-arg", action="append", default=[], help="extra flag for the operator")
    args = parser.parse_args(argv)
    if min(args.namespaces, args.per_namespace, args.n, args.concurrency) < 1:
        parser.error("--namespaces, --per-namespace, --n and --concurrency must be at least 1")
    # What Runner reads (bench.spawn's options), fixed here.
    args.scenario, args.variants, args.home, args.profile, args.live, args.settle = (
        "width", (BARE, JUPYTERNETES), False, [], 0, 3.0)
    return args


def namespace_name(run: str, i: int) -> str:
    return f"width-{run}-{i:05d}"


class WidthRunner(Runner):
    """bench.spawn's Runner with an all-namespaces operator and the width stages as its scenario."""

    def __init__(self, args: argparse.Namespace, kubeconfig: Path, display: Display) -> None:
        super().__init__(args, kubeconfig, display)
        self.operator = BenchOperator(kubeconfig, (LEASE_NAMESPACE,), args.out / "width-operator.log",
                                      ("--namespaces=", *args.operator_arg))
        self.port = server_port(kubeconfig.read_text())
        self.stages: dict[str, dict[str, Any]] = {}
        self.connection_samples: list[tuple[float, int]] = []
        self.instances = 0
        self.namespaces = 1
        self.watches_before: dict[str, int] = {}
        """The API server's open WATCHes before the operator started (other clients')."""

    async def run(self) -> dict[str, Any]:
        async with await Client.from_kubeconfig(str(self.kubeconfig)) as client:
            await ensure_namespace(client, LEASE_NAMESPACE)  # the claim signing key's Secret goes there
            self.watches_before = longrunning_watches((await client.request("GET", "/metrics")).decode())
        out = await super().run()  # stops the operator and the benchmark's watches
        async with await Client.from_kubeconfig(str(self.kubeconfig)) as client:
            after = await self.settled_watches(client)
        for st in self.stages.values():  # the operator's share: what closed when it stopped
            st["operator_watches_apiserver"] = st["apiserver_watches"].get("total", 0) - after - BENCH_WATCHES
        out["operator"]["apiserver_watches_after_stop"] = after
        out["operator"]["connection_samples"] = self.connection_samples
        out["operator"]["starts"] = self.operator.starts
        return out

    async def settled_watches(self, client: Client, timeout: float = 15.0) -> int:
        """The API server's open WATCHes once two readings a second apart agree (closed streams are
        noticed within moments), or the last reading after ``timeout``."""
        last = -1
        with anyio.move_on_after(timeout):
            while (now := longrunning_watches((await client.request("GET", "/metrics")).decode())
                   .get("total", 0)) != last:
                last = now
                await anyio.sleep(1.0)
        return last

    def _since_start(self, t: float) -> float:
        return round(t - self.operator.samples[0][0], 2) if self.operator.samples else 0.0

    async def _sample_connections(self) -> None:
        while True:
            if self.operator.proc is not None and self.operator.samples:
                n = await anyio.to_thread.run_sync(established_to, self.operator.proc.pid, self.port)
                self.connection_samples.append((self._since_start(time.perf_counter()), n))
            await anyio.sleep(1.0)

    async def scenario(self, bench: Bench) -> None:
        self.instances = 2  # the warm-ups'
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._sample_connections)
            await self.sequential(bench, f"@{ONE}", "o")
            self.instances += self.args.n
            await self.measure(bench, ONE, {"created": self.instances, "ready": self.instances})
            populated = await self.populate_wide(bench)
            await self.measure(bench, WIDE, populated)
            await self.sequential(bench, f"@{WIDE}", "w")
            tg.cancel_scope.cancel()

    async def measure(self, bench: Bench, stage: str, extra: dict[str, Any]) -> None:
        """The idle operator: RSS, CPU, its connections to the API server (min and max of one sample
        a second over ``--idle`` seconds) and the API server's open WATCHes."""
        op, args = self.operator, self.args
        await self.wait_quiet()
        self.display.status(f"{stage}: operator idle for {args.idle:.0f} s, counting its connections")
        assert op.proc is not None
        t0, _, cpu0 = op.usage()
        counts = []
        while time.perf_counter() < t0 + args.idle:
            counts.append(await anyio.to_thread.run_sync(established_to, op.proc.pid, self.port))
            await anyio.sleep(1.0)
        t1, rss, cpu1 = op.usage()
        watches = longrunning_watches((await bench.client.request("GET", "/metrics")).decode())
        self.stages[stage] = {
            "namespaces": self.namespaces, "instances": self.instances, "rss_mb": rss / 1e6,
            "idle_cpu_percent": 100 * (cpu1 - cpu0) / (t1 - t0),
            "connections": {"min": min(counts), "max": max(counts), "samples": counts},
            "apiserver_watches": watches, "apiserver_watches_before_operator": self.watches_before.get("total", 0),
            "operator_informers": informers(await anyio.to_thread.run_sync(op.metrics)),
            "measured_at": self._since_start(t1), **extra}

    async def populate_wide(self, bench: Bench) -> dict[str, Any]:
        """``--namespaces`` namespaces, each with the template and ``--per-namespace`` instances, until
        every instance is Ready (or ``--ready-timeout``)."""
        args, client, marks = self.args, bench.client, bench.watches.marks.times
        per = args.per_namespace
        names = [[bench.key(JUPYTERNETES, i * per + j, "n") for j in range(per)] for i in range(args.namespaces)]
        everyone = [name for ns in names for name in ns]
        limiter = anyio.CapacityLimiter(args.concurrency)
        created = {"namespaces": 0, "instances": 0}

        async def one(i: int) -> None:
            ns = namespace_name(bench.run, i)
            async with limiter:
                await ensure_namespace(client, ns)
                await client.create(TEMPLATES, template(), ns)
                created["namespaces"] += 1
                for name in names[i]:
                    await client.create(INSTANCES, instance(name), ns)
                    created["instances"] += 1

        self.display.status(f"creating {args.namespaces:,} namespaces x {per} instances")
        start = time.perf_counter()
        ready = 0
        with anyio.move_on_after(args.ready_timeout):
            async with anyio.create_task_group() as tg:
                for i in range(args.namespaces):
                    tg.start_soon(one, i)
                while (ready := sum(READY in marks.get(name, {}) for name in everyone)) < len(everyone):
                    self.display.report("namespaces created", created["namespaces"], args.namespaces)
                    self.display.report("instances created", created["instances"], len(everyone))
                    self.display.report("instances Ready", ready, len(everyone))
                    await anyio.sleep(1.0)
        for phase, n, total in (("namespaces created", created["namespaces"], args.namespaces),
                                ("instances created", created["instances"], len(everyone)),
                                ("instances Ready", ready, len(everyone))):
            self.display.report(phase, n, total)
        self.namespaces += created["namespaces"]
        self.instances += created["instances"]
        return {"created": created["instances"], "ready": ready,
                "populate_seconds": time.perf_counter() - start}


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    console = Console()
    load = os.getloadavg()
    pods = args.namespaces * args.per_namespace + 4 * args.n + 8
    with bench_cluster(console, args.kubeconfig, pods) as (kubeconfig, display, _):
        runner = WidthRunner(args, kubeconfig, display)
        raw = anyio.run(runner.run)
    metrics = args.out / "spawn-width-metrics.txt"  # where Runner leaves the operator's last /metrics
    if metrics.exists():
        metrics.replace(args.out / "width-metrics.txt")
    parameters = {"namespaces": args.namespaces, "per_namespace": args.per_namespace, "n": args.n,
                  "concurrency": args.concurrency, "idle_seconds": args.idle, "timeout": args.timeout,
                  "cluster": str(args.kubeconfig or "local control plane"), "operator_args": args.operator_arg,
                  "operator_mode": "all namespaces (--namespaces=)"}
    summary = summary_of(parameters, raw, runner.stages, load)
    (args.out / "width.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot(summary, raw["spawns"], args.out / "width.png")
    md = markdown(summary)
    (args.out / "width.md").write_text(md)
    console.print(md)
    console.print(f"wrote {args.out / 'width.json'}, {args.out / 'width.png'}, {args.out / 'width.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
