"""Soak: an hour of steady spawn/stop churn around a live set; the operator must not grow.

``python -m bench.soak [--rate 5] [--live 2000] [--duration 3600] [--window 2400] [--kubeconfig FILE]
[--out bench/results]`` writes ``soak.json``, ``soak.png`` and ``soak.md`` under ``--out`` and exits 1
(naming each missed goal) if a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console

from ..session import bench_cluster
from .analysis import Evaluation, Limits, Sample, Spawn, evaluate
from .report import markdown, summary, write
from .run import Display as DisplayLike
from .run import Quiet, Result, Soak, SoakConfig


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=5.0, help="spawns (and stops) per second (default %(default)s)")
    parser.add_argument("--live", type=int, default=2000, help="live instances kept (default %(default)s)")
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds of churn (default %(default)s)")
    parser.add_argument("--window", type=float, help="seconds at the end judged for the goals (default: 2/3 of "
                        "--duration, 40 of 60 minutes)")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a spawn may take to be Ready")
    parser.add_argument("--spawner-every", type=int, default=10, help="every n-th spawn through "
                        "JupyternetesSpawner.start()/stop() (0: none; default %(default)s)")
    parser.add_argument("--rss-slope", type=float, default=1.0, help="goal: MB per 10 minutes (default %(default)s)")
    parser.add_argument("--fds-growth", type=int, default=10, help="goal: open fds, last minus first minute")
    parser.add_argument("--tasks-growth", type=int, default=20, help="goal: asyncio tasks, last minus first minute")
    parser.add_argument("--kubeconfig", type=Path, help="an existing cluster with the CRDs (default: start a "
                        "local control plane)")
    parser.add_argument("--namespace", default="bench-soak")
    parser.add_argument("--operator-arg", action="append", default=[], help="extra flag for the operator")
    parser.add_argument("--profile", choices=("memray",), action="append", default=[],
                        help="memray: run the operator under memray; soak-memray.html and -summary.txt at the end "
                        "(slows the operator)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="default %(default)s")
    parser.add_argument("--report-only", action="store_true", help="run nothing: judge --out/soak.json's samples "
                        "and spawns again with this code's goals and the given --window and bounds, and rewrite "
                        "soak.json, .png and .md")
    args = parser.parse_args(argv)
    if args.window is None:
        args.window = args.duration * 2 / 3
    if args.rate <= 0 or args.live < 1 or args.duration <= 0:
        parser.error("--rate, --live and --duration must be positive")
    return args


def config_of(args: argparse.Namespace) -> SoakConfig:
    return SoakConfig(rate=args.rate, live=args.live, duration=args.duration, interval=args.interval,
                      timeout=args.timeout, spawner_every=args.spawner_every, namespace=args.namespace,
                      operator_args=tuple(args.operator_arg),
                      memray=args.out / "soak-memray.bin" if "memray" in args.profile else None)


def execute(config: SoakConfig, kubeconfig: Path, log: Path, window: float, limits: Limits,
            display: DisplayLike | None = None) -> tuple[Result, Evaluation]:
    """One soak against ``kubeconfig`` and its evaluation (the test calls this too)."""
    soak = Soak(config, kubeconfig, log, display or Quiet())
    result = anyio.run(soak.run)
    return result, evaluate(result.samples, result.spawns, window, limits, result.client_errors)


def document(config: SoakConfig, window: float, limits: Limits, result: Result, evaluation: Evaluation,
             load: tuple[float, ...]) -> dict[str, Any]:
    samples = [s for s in result.samples if s.t >= 0]
    cpu = 100 * (samples[-1].cpu - samples[0].cpu) / (samples[-1].t - samples[0].t) if len(samples) > 1 else 0.0
    params = {k: v for k, v in asdict(config).items() if k != "memray"} | {
        "window": window, "limits": asdict(limits), "memray": config.memray is not None}
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
               "loadavg_before": load, "loadavg_after": os.getloadavg()}
    return summary(params, machine, result.samples, result.spawns, evaluation, {
        "fill_seconds": round(result.fill_seconds, 1), "churn_seconds": round(result.churn_seconds, 1),
        "client_watch_relists": result.watch_relists,
        "missed_samples": result.missed_samples, "operator_cpu_percent": round(cpu, 1)})


def reevaluate(path: Path, window: float, limits: Limits) -> tuple[dict[str, Any], Evaluation]:
    """A written ``soak.json`` judged again (the run's own parameters kept, ``window`` and ``limits`` new)."""
    doc = json.loads(path.read_text())
    samples = [Sample(**s) for s in doc["samples"]]
    spawns = [Spawn(*s) for s in doc["spawns"]]
    evaluation = evaluate(samples, spawns, window, limits, doc["figures"].get("client_errors", 0))
    judged = summary(doc["params"] | {"window": window, "limits": asdict(limits)}, doc["machine"], samples, spawns,
                     evaluation, {k: doc[k] for k in ("fill_seconds", "churn_seconds", "client_watch_relists",
                                                     "operator_cpu_percent") if k in doc})
    return judged | {"reevaluated": True}, evaluation


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    console = Console()
    load = os.getloadavg()
    config = config_of(args)
    limits = Limits(rss_mb_per_10min=args.rss_slope, fds_growth=args.fds_growth, tasks_growth=args.tasks_growth)
    if args.report_only:
        doc, evaluation = reevaluate(args.out / "soak.json", args.window, limits)
        return finish(console, doc, evaluation, args.out)
    # The live set, plus the spawns of a timeout's worth in flight.
    with bench_cluster(console, args.kubeconfig, args.live + args.rate * args.timeout) as (kubeconfig, display, _):
        result, evaluation = execute(config, kubeconfig, args.out / "soak-operator.log", args.window, limits, display)
    if config.memray is not None:
        from ..spawn.__main__ import memray_reports

        memray_reports(config.memray)
    (args.out / "soak-metrics.txt").write_text(result.metrics)
    return finish(console, document(config, args.window, limits, result, evaluation, load), evaluation, args.out)


def finish(console: Console, doc: dict[str, Any], evaluation: Evaluation, out: Path) -> int:
    paths = write(doc, out)
    console.print(markdown(doc))
    console.print(f"wrote {', '.join(map(str, paths))}")
    for goal in evaluation.missed():
        console.print(f"[red]goal missed: {goal.name}: {goal.figure} (bound {goal.bound})")
    return 0 if evaluation.met else 1


if __name__ == "__main__":
    sys.exit(main())
