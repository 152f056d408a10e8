"""Micro-benchmark of the informer hot path: watch events decoded and applied to the cache per
second, and memory per cached object, ours against kubernetes_asyncio's own Watch
deserialization on the same recorded stream.

    python -m bench.watch_hotpath [--pods N] [--repeat R] [--out bench/results] [--stream FILE]

Records a fresh stream from a real control plane (see :mod:`bench.recording`) unless
``--stream`` names an earlier recording, replays it (see :mod:`bench.replay`), and writes
``watch_hotpath.json``, ``watch_hotpath.png`` and the recording (``watch-stream-<N>.jsonl.gz``)
under ``--out``. Speed and memory are reported as ratios ours/baseline, measured side by side
in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gzip
import json
import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from .recording import Workload, record
from .replay import Cache, ClientCache, OurCache, PathResult, chunked, event_types, measure

OURS, OURS_KEEP_MF, BASELINE = "ours", "ours-keep-mf", "kubernetes_asyncio"


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.watch_hotpath", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=2000, help="pods left running (default %(default)s)")
    parser.add_argument("--churn", type=int, help="extra pods started then deleted (default pods/5)")
    parser.add_argument("--namespaces", type=int, default=4, help="default %(default)s")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per path (default %(default)s)")
    parser.add_argument("--chunk-size", type=int, default=64 * 1024, help="bytes per read (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="default %(default)s")
    parser.add_argument("--stream", type=Path, help="replay this recording (.jsonl or .jsonl.gz) instead")
    args = parser.parse_args(argv)
    if args.churn is None:
        args.churn = max(1, args.pods // 5)
    if args.pods < 1 or args.churn < 1 or args.repeat < 1 or args.namespaces < 1:
        parser.error("--pods, --churn, --repeat and --namespaces must be at least 1")
    return args


class Display:
    """Progress bars keyed by phase name (one per phase, created on first report)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}
        self.status_task = progress.add_task("starting", total=None)

    def report(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)

    def status(self, text: str) -> None:
        self.progress.update(self.status_task, description=text)

    def stepper(self, total: int) -> Callable[[str], None]:
        task = self.progress.add_task("replay", total=total)

        def step(text: str) -> None:
            if self.progress.tasks[task].description != "replay":
                self.progress.advance(task)
            self.progress.update(task, description=f"replay: {text}")

        return step


async def _measure(chunks: list[bytes], repeat: int, step: Callable[[str], None]) -> dict[str, PathResult]:
    from kubernetes_asyncio.watch import Watch

    watch = Watch(return_type="V1Pod")  # needs a running loop (it builds an ApiClient)
    makers: dict[str, Callable[[], Cache]] = {
        OURS: OurCache,
        OURS_KEEP_MF: lambda: OurCache(transform=None),
        BASELINE: lambda: ClientCache(watch),
    }
    try:
        return measure(chunks, makers, repeat, step)
    finally:
        await watch.close()


def _summary(args: argparse.Namespace, stream: bytes, source: Path, types: dict[str, int],
             results: dict[str, PathResult], load: tuple[float, ...]) -> dict[str, Any]:
    base = results[BASELINE]
    return {
        "benchmark": "watch_hotpath",
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
                    "loadavg_before": load, "loadavg_after": os.getloadavg()},
        "versions": {"python": platform.python_version(), "kubernetes_asyncio": version("kubernetes_asyncio"),
                     "orjson": version("orjson")},
        "parameters": {"pods": args.pods, "churn": args.churn, "namespaces": args.namespaces,
                       "repeat": args.repeat, "chunk_size": args.chunk_size},
        "stream": {"file": str(source), "bytes": len(stream), "events": types},
        "paths": {name: {"events": r.events, "seconds": r.seconds, "events_per_second_best": r.best_rate,
                         "events_per_second_median": r.median_rate, "retained_bytes": r.retained_bytes,
                         "objects": r.objects, "bytes_per_object": r.bytes_per_object}
                  for name, r in results.items()},
        # speed: best run over best run; speed_paired: median over rounds of the ratio within a
        # round (adjacent runs share the machine's load of the moment).
        "ratios_vs_baseline": {name: {"speed": r.best_rate / base.best_rate,
                                      "speed_median": r.median_rate / base.median_rate,
                                      "speed_paired": statistics.median(
                                          b / o for o, b in zip(r.seconds, base.seconds, strict=True)),
                                      "memory": r.bytes_per_object / base.bytes_per_object}
                               for name, r in results.items() if name != BASELINE},
    }


def _plot(results: dict[str, PathResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    base = results[BASELINE]
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(11, 3.6))
    panels = ((speed, [results[n].best_rate for n in names], base.best_rate, "events/s (best run)"),
              (memory, [results[n].bytes_per_object / 1024 for n in names], base.bytes_per_object / 1024,
               "KiB per cached pod"))
    for axis, values, reference, title in panels:
        bars = axis.barh(names, values, color=["tab:blue", "tab:cyan", "tab:gray"][:len(names)])
        axis.bar_label(bars, labels=[f"{v:,.0f}  (x{v / reference:.2f})" for v in values], padding=3)
        axis.set_title(title)
        axis.set_xlim(0, max(values) * 1.45)
        axis.invert_yaxis()
    fig.suptitle(f"watch hot path, {base.events:,} pod events, {base.objects:,} cached pods "
                 "(ratios vs kubernetes_asyncio)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _table(results: dict[str, PathResult], ratios: dict[str, dict[str, float]]) -> Table:
    base = results[BASELINE]
    table = Table("path", "events/s", "(median)", "speed x", "(paired)", "bytes/obj", "memory x",
                  title="x = ratio to kubernetes_asyncio (best runs; paired = median of per-round ratios)")
    for name, r in results.items():
        paired = ratios.get(name, {}).get("speed_paired", 1.0)
        table.add_row(name, f"{r.best_rate:,.0f}", f"{r.median_rate:,.0f}", f"{r.best_rate / base.best_rate:.2f}",
                      f"{paired:.2f}", f"{r.bytes_per_object:,.0f}",
                      f"{r.bytes_per_object / base.bytes_per_object:.2f}")
    return table


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    console = Console()
    load = os.getloadavg()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        display = Display(progress)
        if args.stream:
            source = args.stream
            display.status(f"reading {source}")
            raw = source.read_bytes()
            stream = gzip.decompress(raw) if source.suffix == ".gz" else raw
        else:
            workload = Workload(pods=args.pods, churn=args.churn, namespaces=args.namespaces)
            stream = record(workload, display.report, display.status)
            source = args.out / f"watch-stream-{args.pods}.jsonl.gz"
            source.write_bytes(gzip.compress(stream, 6))
        chunks = chunked(stream, args.chunk_size)
        types = event_types(chunks)
        display.status(f"stream: {sum(types.values()):,} events, {len(stream) / 2**20:.0f} MiB")
        step = display.stepper(3 * (args.repeat + 2))
        results = asyncio.run(_measure(chunks, args.repeat, step))
        step("done")
    summary = _summary(args, stream, source, types, results, load)
    (args.out / "watch_hotpath.json").write_text(json.dumps(summary, indent=2) + "\n")
    _plot(results, args.out / "watch_hotpath.png")
    console.print(_table(results, summary["ratios_vs_baseline"]))
    console.print(f"wrote {args.out / 'watch_hotpath.json'}, {args.out / 'watch_hotpath.png'}"
                  + ("" if args.stream else f" and {source}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
