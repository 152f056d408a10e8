"""Fault runs at a large size, against a local control plane (or, for the scenarios that need no
control-plane process of their own, a kubeconfig).

``python -m bench.faults [--size N] [--scenarios a,b,...] [--seed S] [--out DIR] [--kubeconfig FILE]``
writes ``faults.json`` and ``faults.md`` under ``--out`` and exits 1 if any run is not ok.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import secrets
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from faults.run import TRANSIENT, FaultEnv, FaultRun, Scenario, instances
from faults.scenarios import LOCAL_ONLY, SCENARIOS
from jupyternetes_operator.api import RUNNING, phase
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import NAMESPACES
from jupyternetes_operator.testing import ControlPlane, ControlPlaneConfig
from jupyternetes_operator.testing.binaries import ETCD_VERSION, KUBERNETES_VERSION, KWOK_VERSION
from jupyternetes_operator.testing.controlplane import ADMIN
from jupyternetes_operator.testing.namespaces import ensure_namespace

from .. import package_version
from ..watch_hotpath import Display
from . import crashed, markdown, row, summary


class ExistingCluster(ControlPlane):
    """A cluster this process did not start: its kubeconfig works, its processes are out of reach."""

    def __init__(self, kubeconfig: Path) -> None:
        super().__init__(ControlPlaneConfig(users=(), crd_dir=None))
        self._kubeconfig = kubeconfig

    def kubeconfig_for(self, user: str) -> Path:
        if user != ADMIN:
            raise RuntimeError(f"--kubeconfig gives only an admin kubeconfig, not one for {user!r}")
        return self._kubeconfig

    def restart(self, name: str, *, kill: bool = False, down: float = 0.0) -> None:
        raise RuntimeError(f"restarting {name} needs the local control plane (run without --kubeconfig)")

    def compact_etcd(self) -> int:
        raise RuntimeError("compacting etcd needs the local control plane (run without --kubeconfig)")


def _arguments(argv: Sequence[str] | None, known: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=300, help="instances per scenario (default %(default)s)")
    parser.add_argument("--scenarios", default=",".join(known),
                        help=f"comma-separated, of {','.join(known)} (default: all)")
    parser.add_argument("--seed", type=int, default=1, help="randomness of every scenario (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="default %(default)s")
    parser.add_argument("--kubeconfig", type=Path, help="an existing cluster with the CRDs (default: start a "
                        "local control plane); the scenarios that restart, compact or proxy it cannot run there")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds one scenario may take")
    args = parser.parse_args(argv)
    args.scenarios = tuple(s.strip() for s in args.scenarios.split(",") if s.strip())
    if not args.scenarios:
        parser.error("no scenarios given")
    if unknown := sorted(set(args.scenarios) - set(known)):
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(known)}")
    if args.kubeconfig and (local := sorted(set(args.scenarios) & LOCAL_ONLY)):
        parser.error(f"the local control plane is needed by {', '.join(local)}: drop --kubeconfig or those")
    if args.size < 1:
        parser.error("--size must be at least 1")
    return args


async def _progress(env: FaultEnv, name: str, size: int, display: Display) -> None:
    """Instances Running in the scenario's namespace, as a bar (until cancelled)."""
    while True:
        with contextlib.suppress(*TRANSIENT):
            running = sum(phase(i) == RUNNING for i in await instances(env))
            display.report(name, running, max(size, running))  # some scenarios add instances of their own
        await anyio.sleep(1.0)


async def _run_all(args: argparse.Namespace, plane: ControlPlane, scenarios: dict[str, Scenario],
                   display: Display) -> list[dict[str, Any]]:
    rows = []
    async with await Client.from_kubeconfig(str(plane.kubeconfig)) as kube:
        for index, name in enumerate(args.scenarios):
            namespace = f"faults-{name}-{secrets.token_hex(3)}"
            workdir = args.out / "faults" / name
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir(parents=True)
            display.status(f"{name}: namespace {namespace}, logs in {workdir}")
            await ensure_namespace(kube, namespace)
            env = FaultEnv(plane, kube, namespace, workdir)
            started = time.monotonic()
            run: FaultRun
            async with anyio.create_task_group() as tg:
                tg.start_soon(_progress, env, name, args.size, display)
                try:
                    with anyio.fail_after(args.timeout):
                        run = await scenarios[name](env, args.size, random.Random(args.seed + index))
                except Exception as exc:  # one scenario's crash is its row, not the end of the report
                    run = crashed(name, args.size, exc)
                tg.cancel_scope.cancel()
            rows.append(row(name, run, time.monotonic() - started))
            display.status(f"{name}: {'ok' if run.ok else 'NOT ok'}; deleting {namespace}")
            with contextlib.suppress(Exception):
                await kube.delete(NAMESPACES, namespace)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv, list(SCENARIOS))
    args.out.mkdir(parents=True, exist_ok=True)
    console = Console()
    load = os.getloadavg()
    when = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        display = Display(progress)
        plane: ControlPlane
        if args.kubeconfig is not None:
            plane = ExistingCluster(args.kubeconfig)
        else:
            plane = ControlPlane(ControlPlaneConfig(nodes=max(2, -(-args.size // 1000)), users=()))
            plane.start(display.status)
        try:
            rows = anyio.run(_run_all, args, plane, SCENARIOS, display)
        finally:
            display.status("stopping the control plane")
            plane.stop()
    report = summary(rows, when=when, machine={
        "platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "loadavg_before": load, "loadavg_after": os.getloadavg()}, versions={
        "python": platform.python_version(), "jupyternetes-operator": package_version("jupyternetes-operator"),
        "kubernetes": KUBERNETES_VERSION, "etcd": ETCD_VERSION, "kwok": KWOK_VERSION}, parameters={
        "size": args.size, "seed": args.seed, "scenarios": list(args.scenarios), "timeout": args.timeout,
        "cluster": str(args.kubeconfig or "local control plane")})
    (args.out / "faults.json").write_text(json.dumps(report, indent=1) + "\n")
    md = markdown(report)
    (args.out / "faults.md").write_text(md)
    console.print(md, markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {args.out / 'faults.json'}, {args.out / 'faults.md'}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
