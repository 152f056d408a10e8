"""Spawn latency: one scenario, side by side variants, against a local control plane or a kubeconfig.

``python -m bench.spawn --scenario sequential|burst --n N [--concurrency C] [--variants ...] [--home]
[--prepared-homes [--prepare-kubespawner]] [--kubeconfig FILE] [--out bench/results]`` writes
``spawn-<scenario>.json``, ``spawn-<scenario>.png`` and ``spawn.md`` (every ``spawn-*.json`` in ``--out``,
with the goals); with ``--home`` (every spawn with a home claim) the names end in ``-home``; with
``--prepared-homes`` (``--home``, the operated variants' claims prepared before the timed part:
:mod:`.prepared`) in ``-home-prepared``; with ``--prepare-kubespawner`` too (KubeSpawner's as well) in
``-home-prepared-all``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console

from faults.upgrade_build import old_operator
from jupyternetes_operator.api import INSTANCES, LABEL_INSTANCE
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import PODS, PVCS

from ..session import bench_cluster
from ..watch_hotpath import Display
from . import scheduler
from .cluster import (
    Bench,
    BenchOperator,
    FlameGraph,
    Watches,
    at_rate,
    bare_pod,
    each,
    instance,
    prepare,
    template_name,
    template_valid,
)
from .home import bare_claim, claim_name
from .kubespawner import with_current_context
from .phases import READY, Spawn
from .preparing import prepare_homes
from .report import markdown, plot, run_name, suffix, summary_of
from .requests import ClientRequests
from .variants import JUPYTERNETES, KUBESPAWNER, OPERATED, VARIANTS, namespace_of

SCENARIOS = ("sequential", "burst", "sustained", "scale")
TAGS = {"sequential": ("q",), "burst": ("u",), "sustained": ("r",), "scale": ("e", "l", "b")}
"""The tags in the keys of each scenario's timed spawns (:meth:`.cluster.Bench.key`), in the order it makes them."""


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.spawn", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="sequential")
    parser.add_argument("--n", type=int, help="spawns per variant (default: sequential 200, burst 1000)")
    parser.add_argument("--concurrency", type=int, default=100, help="client requests in flight in a burst "
                        "(default %(default)s)")
    parser.add_argument("--variants", default="bare,jupyternetes,spawner",
                        help=f"comma-separated, of {','.join(VARIANTS)} (default %(default)s)")
    parser.add_argument("--home", action="store_true", help="every spawn with a home claim, as real hubs "
                        "spawn: the sample template's PVC kept, KubeSpawner with storage_pvc_ensure, bare "
                        "pods after their own claim (results named ...-home)")
    parser.add_argument("--prepared-homes", action="store_true",
                        help="--home, with the jupyternetes and spawner variants' claims prepared before the "
                        "timed part: one prepare request per spawn (same template and variables), waited for "
                        "until Prepared (claim Bound), then deleted (claims kept) and the operator left quiet; "
                        "bare and KubeSpawner (unless --prepare-kubespawner) create claims at spawn time "
                        "(results named ...-home-prepared)")
    parser.add_argument("--prepare-kubespawner", action="store_true",
                        help="--prepared-homes, with the kubespawner variant's claims made too: the very claim "
                        "KubeSpawner's storage_pvc_ensure creates (its get_pvc_manifest()), created before the "
                        "timed part and waited for until Bound; only bare creates claims at spawn time "
                        "(results named ...-home-prepared-all)")
    parser.add_argument("--prepare-timeout", type=float, default=600.0,
                        help="--prepared-homes: seconds for every request to be Prepared, for them all to "
                        "be gone once deleted, and for KubeSpawner's claims to be Bound (default %(default)s)")
    parser.add_argument("--kubeconfig", type=Path, help="an existing cluster with the CRDs (default: start a "
                        "local control plane)")
    parser.add_argument("--scheduler-metrics", help="the kube-scheduler's /metrics URL, read without credentials "
                        "(default: the local control plane's; none with --kubeconfig)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="default %(default)s")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one spawn may take")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle operator CPU measured at the end")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between two variants' bursts")
    parser.add_argument("--operator-arg", action="append", default=[], help="extra flag for the operator")
    parser.add_argument("--operator-commit", help="run an earlier commit's operator, built into its own cached "
                        "virtualenv (faults.upgrade_build), against this benchmark: before and after measured "
                        "the same way (default: the working tree's)")
    parser.add_argument("--rate", type=float, default=20.0, help="sustained: spawns per second (default %(default)s)")
    parser.add_argument("--duration", type=float, default=30.0, help="sustained: seconds (default %(default)s)")
    parser.add_argument("--profile", action="append", choices=("flame", "memray"), default=[],
                        help="flame: a py-spy flame graph of the operator per operated window "
                        "(...-<window>-flame.svg); memray: the operator under memray, its peak-memory flame "
                        "graph and summary written at the end (...-memray.html, ...-memray-summary.txt; "
                        "slows the operator: take timings from a run without it)")
    parser.add_argument("--live", type=int, default=10000, help="scale: live notebooks created before the runs "
                        "(default %(default)s)")
    args = parser.parse_args(argv)
    args.variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    args.home = args.home or args.prepared_homes
    unknown = set(args.variants) - set(VARIANTS)
    if unknown or not args.variants:
        parser.error(f"unknown variants {sorted(unknown)}")
    if args.prepare_kubespawner and not (args.prepared_homes and KUBESPAWNER in args.variants):
        parser.error("--prepare-kubespawner needs --prepared-homes and the kubespawner variant")
    if args.n is None:
        args.n = {"sequential": 200, "burst": 1000, "scale": 100}.get(args.scenario, 0)
    if args.scenario == "sustained":
        args.n = round(args.rate * args.duration)
    if args.n < 1 or args.concurrency < 1:
        parser.error("--n and --concurrency must be at least 1")
    return args


class Runner:
    def __init__(self, args: argparse.Namespace, kubeconfig: Path, display: Display,
                 scheduler_metrics: str | None = None) -> None:
        if KUBESPAWNER in args.variants:  # how KubeSpawner finds the cluster
            from kubernetes_asyncio.config import kube_config

            os.environ["KUBECONFIG"] = str(with_current_context(kubeconfig))
            kube_config.KUBE_CONFIG_DEFAULT_LOCATION = os.environ["KUBECONFIG"]  # read at import time
        self.args, self.kubeconfig, self.display = args, kubeconfig, display
        self.scheduler_metrics = scheduler_metrics
        self.live = 0
        self.idle_at_live: dict[str, float] = {}
        self.requests = ClientRequests()
        self.requests.install()
        self.spawns: dict[str, list[Spawn]] = {}
        self.windows: dict[str, Any] = {}
        self.prefix = args.out / ("spawn-" + run_name(args.scenario, args.n, args.home, args.prepared_homes,
                                                      args.prepare_kubespawner))
        """Of the profiles' files."""
        self.operator = BenchOperator(kubeconfig, tuple(namespace_of(v) for v in OPERATED),
                                      args.out / f"spawn-{args.scenario}{home_suffix(args)}-operator.log",
                                      tuple(args.operator_arg),
                                      Path(f"{self.prefix}-memray.bin") if "memray" in args.profile else None,
                                      old_operator(args.operator_commit).python if args.operator_commit
                                      else Path(sys.executable))

    async def window(self, name: str, coro: Any, operated_spawns: int, trail: float = 0.0) -> dict[str, Any]:
        """Run ``coro``; the operator's CPU, peak RSS and API requests while it ran and ``trail``
        seconds after (what its spawns still cost once they are done: Events held in a burst, the
        batched template count; ``seconds`` is the run's alone), and, with ``--profile flame``,
        where its CPU went while it ran, in ``...-<name>-flame.svg``; with the scheduler's metrics, its
        requests and their wait in its rate limiter over the same span."""
        op = self.operator
        sched0 = await scheduler.read(self.scheduler_metrics) if self.scheduler_metrics else None
        clients0 = dict(self.requests.counts)
        (requests0, reconciles0), (t0, _, cpu0) = await op.counters(), op.usage()
        if "flame" in self.args.profile and operated_spawns and op.proc is not None:
            async with FlameGraph(op.proc.pid, Path(f"{self.prefix}-{name.replace('@', '-')}-flame.svg")):
                result = await coro
        else:
            result = await coro
        t1 = op.usage()[0]
        await anyio.sleep(trail)
        (requests1, reconciles1), (_, _, cpu1) = await op.counters(), op.usage()
        rss = max((r for t, r, _ in op.samples if t0 <= t <= t1), default=0)
        sched = await scheduler.read(self.scheduler_metrics) - sched0 if self.scheduler_metrics and sched0 else None
        return {"result": result, "operator": {
            **({"scheduler_requests": sched.requests, "scheduler_limiter_wait_seconds": sched.limiter_wait_seconds}
               if sched else {}),
            "client_requests": {v: n - clients0.get(v, 0) for v, n in self.requests.counts.items()},
            "seconds": t1 - t0, "cpu_seconds": cpu1 - cpu0, "api_requests": requests1 - requests0,
            "rss_max_mb": rss / 1e6, "operated_spawns": operated_spawns,
            "cpu_ms_per_spawn": 1000 * (cpu1 - cpu0) / operated_spawns if operated_spawns else None,
            "api_requests_per_spawn": (requests1 - requests0) / operated_spawns if operated_spawns else None,
            "instance_reconciles": reconciles1 - reconciles0}}

    async def run(self) -> dict[str, Any]:
        args, display = self.args, self.display
        async with await Client.from_kubeconfig(str(self.kubeconfig)) as client:
            display.status("namespaces and templates")
            await prepare(client, args.variants, args.home)
            self.operator.start()
            try:
                async with anyio.create_task_group() as tg:
                    out = await self._run(client, tg)
                    tg.cancel_scope.cancel()
                return out
            finally:
                from jupyternetes_operator.spawner import shared

                await shared.close_all()
                if KUBESPAWNER in args.variants:
                    from kubespawner import KubeSpawner  # type: ignore[import-untyped]

                    await KubeSpawner._stop_all_reflectors()
                self.operator.terminate(timeout=600 if self.operator.memray else 30)
                if self.operator.memray is not None:
                    memray_reports(self.operator.memray)

    async def _run(self, client: Client, tg: anyio.abc.TaskGroup) -> dict[str, Any]:
        args, display, op = self.args, self.display, self.operator
        watches = Watches(client, claims=args.home)
        await watches.start(tg)
        tg.start_soon(op.sampler)
        display.status("operator: waiting for the templates to be Valid")
        for v in OPERATED:  # the templates prepare() created: the chosen variants' and the warm-up's
            if v in args.variants or v == JUPYTERNETES:
                await template_valid(client, namespace_of(v), template_name(args.home))
        bench = Bench(client, watches, self.kubeconfig, args.timeout, home=args.home, requests=self.requests)
        display.status("warm-up: one instance, to take the rendered pod")
        warm = await bench.spawn(JUPYTERNETES, 0, "warm")
        if warm.error:
            raise RuntimeError(f"warm-up instance failed: {warm.error}")
        pods = await client.list(PODS, namespace_of(JUPYTERNETES), label_selector=f"{LABEL_INSTANCE}={warm.key}")
        bench.rendered = bare_pod(pods["items"][0])
        if args.home:
            bench.claim = bare_claim(await client.get(PVCS, claim_name(warm.key), namespace_of(JUPYTERNETES)))
        for v in args.variants:
            display.status(f"warm-up: {v}")
            if (w := await bench.spawn(v, 1, "warm")).error:
                raise RuntimeError(f"warm-up of {v} failed: {w.error}")
        if args.prepared_homes:
            await prepare_homes(bench, display, args, TAGS[args.scenario])
            await self.wait_quiet()
        await self.scenario(bench)
        spawns, windows = self.spawns, self.windows
        # Marks seen after a spawn returned (e.g. a spawner's own cache saw Ready before our watch did).
        spawns = {v: [Spawn(s.key, dict(watches.marks.times.get(s.key, s.marks)), s.error) for s in ss]
                  for v, ss in spawns.items()}
        idle = await self.measure_idle(args.idle)
        metrics = await anyio.to_thread.run_sync(op.metrics)
        (args.out / f"spawn-{args.scenario}{home_suffix(args)}-metrics.txt").write_text(metrics)
        live = sum(len(ss) for label, ss in spawns.items() if label.split("@")[0] in OPERATED) + 2 + self.live
        return {"spawns": spawns, "windows": windows, "watch_lines": watches.lines, "operator": {
            "rss_end_mb": idle["rss_mb"], "rss_max_mb": max(r for _, r, _ in op.samples) / 1e6,
            "idle_cpu_percent": idle["idle_cpu_percent"], "idle_at_live": self.idle_at_live,
            "cpu_seconds_total": op.usage()[2], "live_notebooks": live,
            "rss_samples_mb": [(round(t - op.samples[0][0], 2), round(r / 1e6, 1)) for t, r, _ in op.samples[::4]]}}

    def report(self, label: str, total: int | None = None) -> Callable[[Spawn], None]:
        """Collect a run's spawns under ``label`` (a variant, or ``variant@stage`` in the scale scenario)."""
        spawns = self.spawns.setdefault(label, [])

        def done(spawn: Spawn) -> None:
            spawns.append(spawn)
            self.display.report(f"{self.args.scenario}: {label}", len(spawns), total or self.args.n)
        return done

    async def sequential(self, bench: Bench, stage: str = "", tag: str = "q") -> None:
        """``n`` spawns per variant, one at a time, the variants interleaved."""
        n, variants = self.args.n, self.args.variants

        async def run() -> None:
            for i in range(n):
                for v in variants:
                    self.report(v + stage)(await bench.spawn(v, i, tag))

        self.display.status(f"sequential{stage}: {n} spawns per variant, variants interleaved")
        operated = n * sum(v in OPERATED for v in variants)
        self.windows["all" + stage] = (await self.window("all" + stage, run(), operated))["operator"]

    async def paced(self, bench: Bench, stage: str, tag: str, total: int,
                    runner: Callable[[int, Callable[[int], Awaitable[Spawn]], Callable[[Spawn], None]],
                                     Awaitable[list[Spawn]]]) -> None:
        """Each variant in turn: ``total`` spawns released by ``runner`` (a burst or a rate)."""
        for v in self.args.variants:
            def one(i: int, v: str = v) -> Awaitable[Spawn]:
                return bench.spawn(v, i, tag)

            runs = runner(total, one, self.report(v + stage, total))
            self.windows[v + stage] = (await self.window(v + stage, runs, total if v in OPERATED else 0,
                                                         trail=self.args.settle))["operator"]

    async def scenario(self, bench: Bench) -> None:
        args = self.args

        def burst(n: int, fn: Callable[[int], Awaitable[Spawn]], report: Callable[[Spawn], None],
                  ) -> Awaitable[list[Spawn]]:
            return each(n, fn, args.concurrency, report)

        def rate(n: int, fn: Callable[[int], Awaitable[Spawn]], report: Callable[[Spawn], None],
                 ) -> Awaitable[list[Spawn]]:
            return at_rate(n, fn, args.rate, report)

        tags = TAGS[args.scenario]
        if args.scenario == "sequential":
            await self.sequential(bench, tag=tags[0])
        elif args.scenario == "burst":
            self.display.status(f"burst: {args.n} spawns per variant, {args.concurrency} at a time")
            await self.paced(bench, "", tags[0], args.n, burst)
        elif args.scenario == "sustained":
            self.display.status(f"sustained: {args.rate:g} spawns/s for {args.duration:g} s per variant")
            await self.paced(bench, "", tags[0], args.n, rate)
        else:  # scale: the same sequential run on an empty cluster and beside --live notebooks, then a burst
            empty, live, live_burst = tags
            await self.sequential(bench, "@empty", empty)
            await self.populate(bench, args.live)
            await self.sequential(bench, "@live", live)
            await self.paced(bench, "@live-burst", live_burst, args.n, burst)

    async def measure_idle(self, seconds: float) -> dict[str, float]:
        """The operator's CPU (% of a core) over ``seconds`` of doing nothing, and its RSS after."""
        self.display.status(f"operator idle for {seconds:.0f} s")
        t0, _, cpu0 = self.operator.usage()
        await anyio.sleep(seconds)
        t1, rss, cpu1 = self.operator.usage()
        return {"idle_cpu_percent": 100 * (cpu1 - cpu0) / (t1 - t0), "rss_mb": rss / 1e6, "seconds": t1 - t0}

    async def populate(self, bench: Bench, live: int) -> None:
        """``live`` more notebooks (instances of the jupyternetes variant), all Running, then the
        operator's idle CPU and RSS with them."""
        marks = bench.watches.marks.times
        names = [bench.key(JUPYTERNETES, i, "live") for i in range(live)]
        namespace = namespace_of(JUPYTERNETES)
        limiter = anyio.CapacityLimiter(self.args.concurrency)

        async def create(name: str) -> None:
            async with limiter:
                await bench.client.create(INSTANCES, instance(name, template_name(self.args.home)), namespace)

        self.display.status(f"scale: creating {live} live notebooks")
        async with anyio.create_task_group() as tg:
            for name in names:
                tg.start_soon(create, name)
            while (ready := sum(READY in marks.get(name, {}) for name in names)) < live:
                self.display.report("scale: live notebooks Ready", ready, live)
                await anyio.sleep(0.5)
        self.display.report("scale: live notebooks Ready", live, live)
        self.live = live
        await self.wait_quiet()
        self.idle_at_live = await self.measure_idle(self.args.idle)

    async def wait_quiet(self, quiet: float = 3.0, timeout: float = 600.0) -> None:
        """Until the operator has made no API request for ``quiet`` seconds (its Events and template
        counts trail the spawns it finished): the runs after a population start from a settled operator."""
        self.display.status("waiting for the operator to go quiet")
        with anyio.move_on_after(timeout):
            last, since = (await self.operator.counters())[0], time.monotonic()
            while time.monotonic() - since < quiet:
                await anyio.sleep(0.5)
                if (now := (await self.operator.counters())[0]) != last:
                    last, since = now, time.monotonic()


def memray_reports(tracked: Path) -> None:
    """memray's flame graph of the operator's memory at its peak (HTML) and its summary of what
    allocated it (text, the 60 largest) beside ``tracked``, which is then removed (it is large and
    not meant for the repository)."""
    stem = str(tracked.with_suffix(""))
    memray = [sys.executable, "-m", "memray"]
    subprocess.run([*memray, "flamegraph", "--force", "--output", f"{stem}.html", str(tracked)], check=True)
    summary = subprocess.run([*memray, "summary", "--max-rows", "60", str(tracked)], check=True,
                             capture_output=True, text=True, env={**os.environ, "COLUMNS": "220"}).stdout
    Path(f"{stem}-summary.txt").write_text(summary)
    tracked.unlink()


def home_suffix(args: argparse.Namespace) -> str:
    """What ``--home`` (and ``--prepared-homes``, ``--prepare-kubespawner``) add to the names of a run's files."""
    return suffix(args.home, args.prepared_homes, args.prepare_kubespawner)


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    console = Console()
    load = os.getloadavg()
    stages = 3 if args.scenario == "scale" else 1
    pods = (args.n * stages + 2) * len(args.variants) + 2 + (args.live if args.scenario == "scale" else 0)
    with bench_cluster(console, args.kubeconfig, pods) as (kubeconfig, display, scheduler_metrics):
        raw = anyio.run(Runner(args, kubeconfig, display, args.scheduler_metrics or scheduler_metrics).run)
    summary = summary_of(args, raw, load)
    name = summary["run"]
    json_path, png_path = args.out / f"spawn-{name}.json", args.out / f"spawn-{name}.png"
    json_path.write_text(json.dumps(summary, indent=1) + "\n")
    plot(summary, raw["spawns"], png_path)
    runs = [json.loads(p.read_text()) for p in sorted(args.out.glob("spawn-*.json"))]
    md = markdown(runs)
    (args.out / "spawn.md").write_text(md)
    console.print(md)
    console.print(f"wrote {json_path}, {png_path}, {args.out / 'spawn.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
